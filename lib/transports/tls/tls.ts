/**
 * TLS for servers and clients: certificates from files or generated at start-up, a listener that completes
 * each handshake before handing the connection on, a client that verifies by default, and one-line
 * explanations of handshake failures.
 * @module
 */
import { formatAddr, formatHostPort } from "../../endpoints/address.ts";
import { SockkitError, toNetworkError, UsageError } from "../../core/errors.ts";
import type { EventSink, ServerEvent } from "../../report/events.ts";
import { closeQuietly, ForwardingConn } from "../../core/io.ts";
import { limitedLog } from "../../core/ratelimit.ts";
import { type SocketStep, step } from "../../core/site.ts";
import type { Listener, ListenSettings, TlsEndpoint, TlsSettings } from "../types.ts";
import { openVia } from "../proxy/mod.ts";

export type { TlsSettings };

const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
/**
 * Handshakes in progress at once. Accepting never stops: past this many, the oldest handshake in progress
 * is dropped for the newest, since a real client finishes in milliseconds and a stalled one never does.
 */
const MAX_PENDING_HANDSHAKES = 512;
/** Handshakes in progress from one source (an IPv4 address, an IPv6 /64); past it, that source's oldest goes. */
const MAX_PENDING_PER_SOURCE = 64;
/** Above this many handshakes in progress, the server is under pressure and waits less for each. */
const PRESSURE_PENDING = 32;
/** Under pressure, how long a handshake may take (instead of the handshake timeout). */
const PRESSURE_TIMEOUT_MS = 2_000;
/** Failed handshakes logged per second at most (a scanner must not flood the log). */
const FAILURE_LOG_RATE = 5;

/** Reads a PEM file given with `flag`, checking it holds a `label` block (`CERTIFICATE`, `PRIVATE KEY`). */
export async function readPem(path: string, flag: string, label: string): Promise<string> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    const reason = fileErrorReason(err, "no such file", "--allow-read");
    throw new SockkitError(`cannot read ${flag} ${path}: ${reason}`, undefined, { cause: err });
  }
  if (!new RegExp(`-----BEGIN [A-Z ]*${label}-----`).test(text)) {
    throw new SockkitError(
      `${flag} ${path} is not a PEM ${label.toLowerCase()} (no '-----BEGIN …${label}-----' line)`,
    );
  }
  for (const block of text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g)) {
    const body = block[2].split("\n").filter((line) => !/^[\w-]+: /.test(line)).join("").replace(/\s+/g, "");
    try {
      atob(body);
    } catch {
      const line = text.slice(0, block.index).split("\n").length;
      throw new SockkitError(
        `${flag} ${path} is not valid PEM: the ${block[1]} block at line ${line} is not base64 ` +
          "(the file is damaged: export it again)",
      );
    }
  }
  if (label === "CERTIFICATE" && !text.includes("-----BEGIN CERTIFICATE-----")) {
    // `BEGIN TRUSTED CERTIFICATE` (OpenSSL's -trustout) passes the check above, but no TLS stack reads it.
    const other = /-----BEGIN ([A-Z ]*CERTIFICATE)-----/.exec(text)?.[1];
    throw new SockkitError(
      `${flag} ${path} holds a '${other}' block, not a plain 'CERTIFICATE' one: convert it with ` +
        `'openssl x509 -in ${path} -out cert.pem' and give cert.pem`,
    );
  }
  if (label === "CERTIFICATE") {
    const { badCertificateLine } = await import("./certinfo.ts");
    const line = badCertificateLine(text);
    if (line !== undefined) {
      throw new SockkitError(
        `${flag} ${path} is not valid PEM: the CERTIFICATE block at line ${line} does not hold an X.509 ` +
          "certificate (the file is damaged, or is something else: export the certificate again)",
      );
    }
  }
  return text;
}

/** The SHA-256 fingerprint of the first certificate in a PEM text, as openssl prints it: `AB:CD:…`. */
export async function certificateFingerprint(certPem: string): Promise<string> {
  const match = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(certPem);
  if (!match) throw new SockkitError("no certificate found in the PEM text");
  const der = Uint8Array.from(atob(match[1].replace(/\s+/g, "")), (c) => c.charCodeAt(0));
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", der));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0").toUpperCase()).join(":");
}

/** The names an ephemeral certificate is made for: loopback always, plus the host bound when specific. */
export function ephemeralNames(hostname: string): string[] {
  const names = ["localhost", "127.0.0.1", "::1"];
  const host = hostname.replace(/%.*$/, "");
  if (host !== "0.0.0.0" && host !== "::" && !names.includes(host)) names.unshift(host);
  return names;
}

/** A server's certificate and key (PEM) and the event that reports it. */
export interface ServerCertificate {
  cert: string;
  key: string;
  event: Extract<ServerEvent, { type: "certificate" }>;
}

async function loadServerCertificate(s: TlsSettings): Promise<ServerCertificate> {
  if (!s.certFile || !s.keyFile) throw new UsageError("--cert and --key go together: give both, or neither");
  const cert = await readPem(s.certFile, "--cert", "CERTIFICATE");
  const key = await readPem(s.keyFile, "--key", "PRIVATE KEY");
  const fingerprint = await certificateFingerprint(cert);
  return { cert, key, event: { type: "certificate", fingerprint, ephemeral: false, file: s.certFile } };
}

async function generateServerCertificate(hostname: string): Promise<ServerCertificate> {
  const { generateSelfSigned } = await import("./selfsigned.ts");
  const names = ephemeralNames(hostname);
  const generated = await generateSelfSigned(names);
  const fingerprint = await certificateFingerprint(generated.certPem);
  return {
    cert: generated.certPem,
    key: generated.keyPem,
    event: {
      type: "certificate",
      fingerprint,
      ephemeral: true,
      names,
      notAfter: generated.notAfter.toISOString(),
    },
  };
}

/** Why a certificate file could not be read or written, in words. */
function fileErrorReason(err: unknown, notFound: string, permissionFlag: string): string {
  if (err instanceof Deno.errors.NotFound) return notFound;
  if (err instanceof Deno.errors.NotCapable) return `not allowed (run with ${permissionFlag})`;
  if (err instanceof Deno.errors.PermissionDenied) return "permission denied";
  return err instanceof Error ? err.message : String(err);
}

/** The certificate for `--cert`/`--key`, or an ephemeral one for `hostname` (for servers other than tls://). */
export function serverCertificate(s: TlsSettings, hostname: string): Promise<ServerCertificate> {
  return s.certFile || s.keyFile ? loadServerCertificate(s) : generateServerCertificate(hostname);
}

/** Writes a generated certificate for `--write-cert`; a failure is one line naming the file. */
export async function writeCertificate(path: string, pem: string): Promise<void> {
  try {
    await Deno.writeTextFile(path, pem);
  } catch (err) {
    const reason = fileErrorReason(err, "no such directory", "--allow-write");
    throw new SockkitError(`cannot write --write-cert ${path}: ${reason}`, undefined, { cause: err });
  }
}

/** The certificate a TLS listener serves: from `--cert`/`--key`, or made for the address it binds. */
function serverMaterial(ep: TlsEndpoint): Promise<ServerCertificate> {
  const s = ep.tls ?? {};
  return s.certFile || s.keyFile ? loadServerCertificate(s) : generateServerCertificate(ep.hostname);
}

/** Writes a generated certificate to `--write-cert`, reports the certificate, and warns when it is out of date. */
async function announceCertificate(
  s: TlsSettings,
  material: ServerCertificate,
  emit: EventSink<ServerEvent>,
): Promise<void> {
  if (s.writeCertFile && !s.certFile) {
    await writeCertificate(s.writeCertFile, material.cert);
    material.event.writtenTo = s.writeCertFile;
  }
  emit(material.event);
  if (s.certFile) {
    const { certificateValidity, validityWarning } = await import("./certinfo.ts");
    let warning: string | undefined;
    try {
      warning = validityWarning(s.certFile, certificateValidity(material.cert));
    } catch {
      // Deno's TLS accepted it; a certificate the parser cannot read is served without the check.
    }
    if (warning) emit({ type: "warning", message: warning });
  }
}

/**
 * For several event loops listening on one TLS port: the certificate is read or made, written and reported
 * once, here, and the endpoint returned carries it (`served`) for every loop to serve the same one.
 */
export async function serveOnce(ep: TlsEndpoint, emit: EventSink<ServerEvent>): Promise<TlsEndpoint> {
  const s = ep.tls ?? {};
  const material = await serverMaterial(ep);
  await announceCertificate(s, material, emit);
  return { ...ep, tls: { ...s, served: { cert: material.cert, key: material.key } } };
}

/**
 * Listens for TLS clients with the certificate from `--cert`/`--key`, or with an ephemeral self-signed one
 * (reported with its fingerprint, and written to `writeCertFile` when asked), or with the one in `served`
 * (made and reported once by {@link serveOnce}, for several event loops on one port). Handshakes run
 * concurrently and are complete before `accept()` returns a connection; a failed one is reported through
 * `emit` as a warning and never stops the server.
 */
export async function listenTls(
  ep: TlsEndpoint,
  emit: EventSink<ServerEvent>,
  settings: Pick<ListenSettings, "reusePort" | "counters"> = {},
): Promise<Listener> {
  const s = ep.tls ?? {};
  const own = s.served ? undefined : await serverMaterial(ep);
  const material = s.served ?? own!;
  const address = formatHostPort(ep.hostname, ep.port);
  let inner: Deno.TlsListener;
  try {
    inner = Deno.listenTls({
      hostname: ep.hostname,
      port: ep.port,
      cert: material.cert,
      key: material.key,
      alpnProtocols: s.alpn,
      reusePort: settings.reusePort,
    });
  } catch (err) {
    if (/KeyMismatch|keys may not be consistent/i.test(String(err)) && s.certFile) {
      throw new SockkitError(
        `--key ${s.keyFile} is not the private key of --cert ${s.certFile}: give the key the certificate ` +
          "was made with",
        undefined,
        { cause: err },
      );
    }
    if (err instanceof Deno.errors.InvalidData || /certificate|private key|pem/i.test(String(err))) {
      const files = s.certFile ? `--cert ${s.certFile} and --key ${s.keyFile}` : "the generated certificate";
      throw new SockkitError(`cannot use ${files}: ${err instanceof Error ? err.message : err}`, undefined, {
        cause: err,
      });
    }
    throw toNetworkError(err, "listen", address);
  }
  if (own) {
    try {
      await announceCertificate(s, own, emit);
    } catch (err) {
      closeQuietly(inner);
      throw err;
    }
  }
  const warn = limitedLog(FAILURE_LOG_RATE, (message) => emit({ type: "warning", message }));
  return new HandshakingListener(
    inner,
    (peer, reason) => {
      if (settings.counters?.refused) settings.counters.refused.handshake++;
      warn(`TLS handshake with ${peer} failed: ${reason}`);
    },
    s.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
  );
}

interface AcceptWaiter {
  resolve(conn: Deno.Conn): void;
  reject(err: unknown): void;
}

/**
 * Wraps a TLS listener so that `accept()` returns connections whose handshake is complete. Accepting goes
 * on while handshakes run (a slow client never holds up the next); stalled handshakes make room for new ones
 * (`MAX_PENDING_HANDSHAKES`, `MAX_PENDING_PER_SOURCE`, `PRESSURE_TIMEOUT_MS`);
 * accept errors (such as running out of descriptors) reach the caller's `accept()` as they would without
 * TLS.
 */
class HandshakingListener implements Listener {
  readonly addr: Deno.Addr;
  /** Handshakes in progress, oldest first, with when each began and why it was dropped early, if it was. */
  #pending = new Map<Deno.TlsConn, { since: number; source: string; dropped?: string }>();
  #bySource = new Map<string, Set<Deno.TlsConn>>();
  #sweeper: ReturnType<typeof setInterval> | undefined;
  #handshakes = new Set<Promise<void>>();
  #ready: Deno.Conn[] = [];
  #waiters: AcceptWaiter[] = [];
  #accepting = false;
  #closed = false;

  constructor(
    private readonly inner: Deno.TlsListener,
    private readonly onFailure: (peer: string, reason: string) => void,
    private readonly timeoutMs: number,
  ) {
    this.addr = inner.addr;
  }

  accept(): Promise<Deno.Conn> {
    if (this.#closed) return Promise.reject(new Deno.errors.BadResource("the listener is closed"));
    const ready = this.#ready.shift();
    if (ready) return Promise.resolve(ready);
    return new Promise((resolve, reject) => {
      this.#waiters.push({ resolve, reject });
      this.#acceptMore();
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeQuietly(this.inner);
    for (const conn of [...this.#pending.keys(), ...this.#ready]) closeQuietly(conn);
    clearInterval(this.#sweeper);
    this.#ready = [];
    for (const w of this.#waiters.splice(0)) w.reject(new Deno.errors.BadResource("the listener is closed"));
  }

  #acceptMore(): void {
    if (this.#closed || this.#accepting || this.#waiters.length === 0) return;
    this.#accepting = true;
    this.inner.accept().then(
      (conn) => {
        this.#accepting = false;
        if (this.#closed) return closeQuietly(conn);
        const task = this.#handshake(conn).finally(() => this.#handshakes.delete(task));
        this.#handshakes.add(task);
        this.#acceptMore();
      },
      (err) => {
        this.#accepting = false;
        if (!this.#closed) this.#waiters.shift()?.reject(err);
      },
    );
  }

  /** Makes room for one more handshake: drops the oldest of its source's, or of all, when at the limit. */
  #makeRoom(source: string): void {
    const mine = this.#bySource.get(source);
    if (mine && mine.size >= MAX_PENDING_PER_SOURCE) {
      this.#drop(
        mine.values().next().value!,
        `dropped for a newer one: ${MAX_PENDING_PER_SOURCE} handshakes in progress from this address`,
      );
    }
    if (this.#pending.size >= MAX_PENDING_HANDSHAKES) {
      this.#drop(
        this.#pending.keys().next().value!,
        `dropped for a newer one: ${MAX_PENDING_HANDSHAKES} handshakes in progress`,
      );
    }
  }

  #drop(conn: Deno.TlsConn, reason: string): void {
    const entry = this.#pending.get(conn);
    if (!entry || entry.dropped) return;
    entry.dropped = reason;
    this.#forget(conn);
    closeQuietly(conn);
  }

  #forget(conn: Deno.TlsConn): void {
    const entry = this.#pending.get(conn);
    if (!entry) return;
    this.#pending.delete(conn);
    const mine = this.#bySource.get(entry.source);
    mine?.delete(conn);
    if (mine?.size === 0) this.#bySource.delete(entry.source);
    if (this.#pending.size === 0 && this.#sweeper !== undefined) {
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
    }
  }

  /** Under pressure, drops the handshakes that have taken longer than a real client's ever does. */
  #sweep(): void {
    if (this.#pending.size <= PRESSURE_PENDING) return;
    const now = performance.now();
    for (const [conn, entry] of this.#pending) {
      if (now - entry.since < PRESSURE_TIMEOUT_MS) break;
      this.#drop(
        conn,
        `no complete handshake within ${PRESSURE_TIMEOUT_MS} ms while ${PRESSURE_PENDING}+ were in progress`,
      );
    }
  }

  async #handshake(conn: Deno.TlsConn): Promise<void> {
    const source = sourceKey(conn.remoteAddr);
    this.#makeRoom(source);
    this.#pending.set(conn, { since: performance.now(), source });
    const mine = this.#bySource.get(source) ?? new Set();
    mine.add(conn);
    this.#bySource.set(source, mine);
    this.#sweeper ??= setInterval(() => this.#sweep(), PRESSURE_TIMEOUT_MS / 4);
    const entry = this.#pending.get(conn)!;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      closeQuietly(conn);
    }, this.timeoutMs);
    try {
      const steps: SocketStep[] = [];
      await step(steps, "handshake", conn.handshake());
      if (entry.dropped) throw new Deno.errors.BadResource(entry.dropped);
      this.#forget(conn);
      if (this.#closed) return closeQuietly(conn);
      const ready = new LenientTlsConn(conn, steps);
      const waiter = this.#waiters.shift();
      if (waiter) waiter.resolve(ready);
      else this.#ready.push(ready);
    } catch (err) {
      closeQuietly(conn);
      if (this.#closed) return;
      const reason = entry.dropped ??
        (timedOut
          ? `no complete handshake within ${this.timeoutMs} ms (a plain TCP client, or a stalled one)`
          : explainServerHandshakeError(err));
      this.onFailure(formatAddr(conn.remoteAddr), reason);
    } finally {
      clearTimeout(timer);
      this.#forget(conn);
      this.#acceptMore();
    }
  }
}

/** Whose handshakes count together: an IPv4 address (also when IPv4-mapped), or an IPv6 /64. */
function sourceKey(addr: Deno.Addr): string {
  if (!("hostname" in addr)) return "";
  const host = addr.hostname.replace(/^::ffff:(?=\d+\.)/i, "");
  if (!host.includes(":")) return host;
  const [head, tail = ""] = host.replace(/%.*$/, "").split("::");
  const groups = [...head.split(":").filter(Boolean)];
  const rest = tail.split(":").filter(Boolean);
  while (groups.length + rest.length < 8) groups.push("0");
  return [...groups, ...rest].slice(0, 4).join(":") + "::/64";
}

/**
 * A TLS connection whose peer may close the TCP connection without a TLS close_notify, as most TLS clients
 * (and some servers) do: `read()` reports that as the end of the stream, as it is for TCP, not as an error.
 * sockkit's server and client treat it the same way.
 */
class LenientTlsConn extends ForwardingConn<Deno.TlsConn> implements Deno.TlsConn {
  /** `steps`: the TCP connect and the handshake made before it was handed up, for `--trace`. */
  constructor(private readonly tls: Deno.TlsConn, readonly steps: readonly SocketStep[] = []) {
    super(tls);
  }

  get readable(): ReadableStream<Uint8Array<ArrayBuffer>> {
    return this.tls.readable;
  }
  get writable(): WritableStream<Uint8Array<ArrayBufferLike>> {
    return this.tls.writable;
  }
  ref(): void {
    this.tls.ref();
  }
  unref(): void {
    this.tls.unref();
  }

  override async read(p: Uint8Array): Promise<number | null> {
    try {
      return await this.inner.read(p);
    } catch (err) {
      if (err instanceof Deno.errors.UnexpectedEof) return null;
      throw err;
    }
  }

  override get localAddr(): Deno.NetAddr {
    return this.tls.localAddr;
  }

  override get remoteAddr(): Deno.NetAddr {
    return this.tls.remoteAddr;
  }

  handshake(): Promise<Deno.TlsHandshakeInfo> {
    return this.tls.handshake();
  }
}

/** Why a client's handshake with this server failed, in words, from the error Deno raised. */
export function explainServerHandshakeError(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const alert = /fatal alert: (\w+)/.exec(message)?.[1];
  if (alert === "UnknownCA") return "the client does not trust this certificate (unknown CA)";
  if (alert === "CertificateExpired") return "the client says this certificate has expired";
  if (alert === "BadCertificate" || alert === "CertificateUnknown") {
    return "the client rejected this certificate (bad certificate: is it for the name the client used?)";
  }
  if (alert) return `the client aborted the handshake (alert ${alert})`;
  if (/corrupt message|InvalidContentType|invalid message|HTTP request/i.test(message)) {
    return "not a TLS client (it sent plain data)";
  }
  if (/doesn't support any known protocol|NoApplicationProtocol/i.test(message)) {
    return "no ALPN protocol in common with the client (see --alpn)";
  }
  if (/incompatible|NoCipherSuitesInCommon|protocol version/i.test(message)) {
    return "no TLS version or cipher suite in common with the client";
  }
  if (err instanceof Deno.errors.UnexpectedEof || /eof|close_notify/i.test(message)) {
    return "the client closed the connection during the handshake";
  }
  if (err instanceof Deno.errors.ConnectionReset) return "connection reset during the handshake";
  return message;
}

function unixDate(seconds: string): string {
  return new Date(Number(seconds) * 1000).toISOString().slice(0, 10);
}

function certificateNames(list: string): string {
  return list.split(/, | or /)
    .map((n) => n.replace(/^\w+\("?|"?\)$/g, "").replace(/^0::/, "::"))
    .join(", ");
}

/**
 * Why this client's handshake failed, with what to do about it, from the error Deno raised: the reason
 * names the case (unknown CA, expired, wrong host name, not a TLS server, client certificate required).
 */
export function explainClientHandshakeError(err: unknown, serverName: string): string {
  const message = err instanceof Error ? err.message : String(err);
  if (/CaUsedAsEndEntity/.test(message)) {
    return "the server's certificate is marked as a CA (as 'openssl req -x509' makes them by default), and " +
      "Deno's TLS refuses a CA certificate as a server's own: make it with " +
      "-addext basicConstraints=critical,CA:FALSE, or trust it by its fingerprint with --pin FINGERPRINT";
  }
  if (/UnknownIssuer/.test(message)) {
    return "the server's certificate is signed by an unknown CA (not trusted: add the CA, or the server's " +
      "own certificate, with --ca FILE, or pin it with --pin FINGERPRINT; if --ca holds its CA, the server " +
      "is not sending the intermediate certificate between them: its --cert file needs the whole chain)";
  }
  if (/extended key usage for server authentication/i.test(message)) {
    return "the server's certificate is not for TLS servers (its extended key usage does not include " +
      "serverAuth): the server needs a certificate made for serving, or trust this one with --pin FINGERPRINT";
  }
  const expired = /certificate expired.*not valid after (\d+)/.exec(message);
  if (expired || /\bExpired\b/.test(message)) {
    const when = expired ? ` on ${unixDate(expired[1])}` : "";
    return `the server's certificate has expired${when} (the server must renew it)`;
  }
  const notYet = /not valid yet.*not valid before (\d+)/.exec(message);
  if (notYet || /NotValidYet/.test(message)) {
    const when = notYet ? ` (from ${unixDate(notYet[1])})` : "";
    return `the server's certificate is not valid yet${when} (check both clocks)`;
  }
  const wrongName = /not valid for name "?([^";]+)"?(?:; certificate is only valid for (.+))?/.exec(message);
  if (wrongName || /NotValidForName/.test(message)) {
    const valid = wrongName?.[2] ? `; it is for ${certificateNames(wrongName[2])}` : "";
    return `the server's certificate is not valid for the name ${serverName}${valid} (connect by one of ` +
      `its names, or check another name with --servername NAME)`;
  }
  if (/fatal alert: CertificateRequired/.test(message)) {
    return "the server requires a client certificate (give --cert FILE and --key FILE)";
  }
  if (/fatal alert: (BadCertificate|UnknownCA|CertificateUnknown|AccessDenied)/.test(message)) {
    return "the server rejected the client certificate";
  }
  if (/fatal alert: NoApplicationProtocol/.test(message)) {
    return "the server supports none of the ALPN protocols asked for (--alpn)";
  }
  if (/fatal alert: HandshakeFailure/.test(message)) {
    return "the server aborted the handshake (alert HandshakeFailure: a TLS 1.2 server that requires a " +
      "client certificate says this; give --cert FILE and --key FILE if it does)";
  }
  if (/corrupt message|InvalidContentType|unexpected handshake message|got ClientHello/i.test(message)) {
    return "the server does not speak TLS (is it a plain TCP server? then drop --tls)";
  }
  if (err instanceof Deno.errors.UnexpectedEof || /eof/i.test(message)) {
    return "the server closed the connection during the handshake (is it a TLS server?)";
  }
  if (err instanceof Deno.errors.ConnectionReset) {
    return "the server reset the connection during the handshake";
  }
  const alert = /fatal alert: (\w+)/.exec(message)?.[1];
  if (alert) return `the server aborted the handshake (alert ${alert})`;
  return message;
}

/** Settles like `promise`, or rejects with the signal's reason when it aborts first (closing what arrives). */
function unlessAborted<T extends { close(): void }>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return promise;
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      promise.then((late) => closeQuietly(late), () => {});
      reject(signal.reason);
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

async function openTlsConnection(
  ep: TlsEndpoint,
  signal: AbortSignal | undefined,
  steps: SocketStep[],
): Promise<Deno.TlsConn> {
  const s = ep.tls ?? {};
  const caCerts = s.caFile ? [await readPem(s.caFile, "--ca", "CERTIFICATE")] : undefined;
  const address = formatHostPort(ep.hostname, ep.port);
  try {
    if (s.certFile || s.keyFile) {
      if (ep.proxy) {
        throw new UsageError(
          "--cert/--key cannot go through --proxy (Deno's TLS takes a client certificate only on a direct connection)",
        );
      }
      if (!s.certFile || !s.keyFile) {
        throw new UsageError("--cert and --key go together: give both, or neither");
      }
      if (s.serverName !== undefined && s.serverName !== ep.hostname) {
        throw new UsageError("--servername cannot be combined with a client certificate (--cert/--key)");
      }
      const cert = await readPem(s.certFile, "--cert", "CERTIFICATE");
      const key = await readPem(s.keyFile, "--key", "PRIVATE KEY");
      const options = { hostname: ep.hostname, port: ep.port, caCerts, alpnProtocols: s.alpn, cert, key };
      return await unlessAborted(Deno.connectTls(options), signal);
    }
    // through --proxy: the hop's connection, on which TLS then runs end to end with the target
    const tcp = ep.proxy
      ? await openVia(ep.proxy, ep, signal)
      : await step(steps, "connect", Deno.connect({ hostname: ep.hostname, port: ep.port, signal }));
    tcp.setNoDelay(true);
    return await Deno.startTls(tcp, { hostname: verifiedName(ep), caCerts, alpnProtocols: s.alpn });
  } catch (err) {
    throw toNetworkError(err, "connect", address);
  }
}

function verifiedName(ep: TlsEndpoint): string {
  return ep.tls?.serverName ?? ep.hostname.replace(/%.*$/, "");
}

/**
 * Connects and completes the TLS handshake, verifying the server's certificate against the system roots
 * (plus `caFile`) and its name; gives up when `signal` aborts. A failed handshake is a `SockkitError` such
 * as `TLS handshake with localhost:4433 failed: the server's certificate has expired on 2020-01-02 (…)`.
 */
export async function connectTls(ep: TlsEndpoint, signal?: AbortSignal): Promise<Deno.TlsConn> {
  const address = formatHostPort(ep.hostname, ep.port);
  const s = ep.tls ?? {};
  if ((s.pins?.length || s.insecure) && ep.proxy) {
    throw new UsageError(
      `${
        s.insecure ? "--insecure" : "--pin"
      } cannot go through --proxy: over a proxy the server's certificate is verified (trust it with --ca FILE)`,
    );
  }
  if (s.pins?.length || s.insecure) {
    // Deno's TLS client cannot skip verification: node:tls can, and shows the certificate to check the pin.
    const { connectNodeTls } = await import("./nodetls.ts");
    const cert = s.certFile ? await readPem(s.certFile, "--cert", "CERTIFICATE") : undefined;
    const key = s.keyFile ? await readPem(s.keyFile, "--key", "PRIVATE KEY") : undefined;
    const options = {
      hostname: ep.hostname,
      port: ep.port,
      serverName: s.serverName,
      alpn: s.alpn,
      cert,
      key,
    };
    try {
      return await connectNodeTls({ ...options, address, signal }, {
        pins: s.pins ?? [],
        insecure: !!s.insecure,
      });
    } catch (err) {
      const timedOut = signal?.reason instanceof DOMException && signal.reason.name === "TimeoutError";
      if (timedOut && err === signal?.reason) {
        throw new SockkitError(`TLS handshake with ${address} failed: no answer within the --timeout`);
      }
      throw toNetworkError(err, "connect", address);
    }
  }
  const steps: SocketStep[] = [];
  const conn = await openTlsConnection(ep, signal, steps);
  const onAbort = () => closeQuietly(conn);
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    await step(steps, "handshake", conn.handshake());
    return new LenientTlsConn(conn, steps);
  } catch (err) {
    closeQuietly(conn);
    const timedOut = signal?.reason instanceof DOMException && signal.reason.name === "TimeoutError";
    if (signal?.aborted && !timedOut) throw toNetworkError(signal.reason, "connect", address);
    if (timedOut) {
      throw new SockkitError(
        `TLS handshake with ${address} failed: no answer within the --timeout (is it a TLS server? a plain ` +
          `TCP server that waits for the client to speak first looks like this)`,
        undefined,
        { cause: err },
      );
    }
    throw new SockkitError(
      `TLS handshake with ${address} failed: ${explainClientHandshakeError(err, verifiedName(ep))}`,
      undefined,
      { cause: err },
    );
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}

/** `TLS` plus the protocol the server picked with ALPN, if any: `TLS, ALPN h2`. */
export async function tlsSummary(conn: Deno.TlsConn): Promise<string> {
  const { alpnProtocol } = await conn.handshake();
  return alpnProtocol ? `TLS, ALPN ${alpnProtocol}` : "TLS";
}

/**
 * Whether bytes start like a TLS record (an alert or a handshake, TLS 1.0–1.3): what a TLS server answers a
 * client that speaks plain TCP to it.
 *
 * @example
 * ```ts
 * looksLikeTls(new Uint8Array([0x15, 0x03, 0x03, 0x00, 0x02])); // true: an alert record
 * looksLikeTls(new TextEncoder().encode("Hello")); // false
 * ```
 */
export function looksLikeTls(bytes: Uint8Array): boolean {
  return bytes.length >= 3 && (bytes[0] === 0x15 || bytes[0] === 0x16) && bytes[1] === 0x03 &&
    bytes[2] <= 0x04;
}
