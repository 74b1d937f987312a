/**
 * The TLS listener: it completes each handshake before handing the connection on (with a deadline, and a cap
 * on handshakes in progress, per source too), so a client that stalls its handshake never reaches the mode;
 * the certificate is made or read once and reported for every event loop.
 * @module
 */
import { formatAddr, formatHostPort } from "../../endpoints/address.ts";
import { SockkitError, toNetworkError } from "../../core/errors.ts";
import type { EventSink, ServerEvent } from "../../report/events.ts";
import { closeQuietly } from "../../core/io.ts";
import { limitedLog } from "../../core/ratelimit.ts";
import { type SocketStep, step } from "../../core/site.ts";
import type { Listener, ListenSettings, TlsEndpoint, TlsSettings } from "../types.ts";
import { type ServerCertificate, serverCertificate, writeCertificate } from "./certs.ts";
import { explainServerHandshakeError } from "./errors.ts";
import { LenientTlsConn } from "./connect.ts";

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

/** The certificate a TLS listener serves: from `--cert`/`--key`, or made for the address it binds. */
function serverMaterial(ep: TlsEndpoint): Promise<ServerCertificate> {
  return serverCertificate(ep.tls ?? {}, ep.hostname);
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
