/**
 * TLS client connections made with `node:tls`, for the checks Deno's own TLS client cannot make: trusting a
 * server by the SHA-256 fingerprint of its certificate (`--pin`), or not verifying it at all (`--insecure`).
 * `Deno.connectTls` always verifies the chain and the name, and its TLS library refuses a CA-flagged
 * certificate as a server's own (what `openssl req -x509` makes by default); the same runtime's `node:tls`
 * can skip that verification (`rejectUnauthorized: false`) and show the certificate it got, so the pin is
 * checked here instead. The connection is wrapped as a `Deno.TlsConn`, so the client and the load generator
 * use it as they use any other.
 * @module
 */
import tls from "node:tls";
import { Buffer } from "node:buffer";
import { SockkitError } from "../../core/errors.ts";
import { formatFingerprint } from "./fingerprint.ts";

/** How the server's certificate is trusted on this path. */
export interface NodeTlsTrust {
  /** Accepted fingerprints (SHA-256, 64 hex digits, upper case, no colons); empty with `insecure`. */
  pins: string[];
  /** Accept any certificate. */
  insecure: boolean;
}

/** What to connect to, with the client certificate and ALPN of the usual TLS settings. */
export interface NodeTlsOptions {
  hostname: string;
  port: number;
  /** Sent as SNI (never an IP address). */
  serverName?: string;
  alpn?: string[];
  cert?: string;
  key?: string;
  /** The `host:port` named in errors. */
  address: string;
  signal?: AbortSignal;
}

/** Why a node:tls connection or handshake failed, as Deno would have raised it, so errors read the same. */
function denoError(err: unknown): Error {
  const e = err as NodeJS.ErrnoException;
  const message = e?.message ?? String(err);
  switch (e?.code) {
    case "ECONNREFUSED":
      return new Deno.errors.ConnectionRefused(message);
    case "ECONNRESET":
      return new Deno.errors.ConnectionReset(message);
    case "ENOTFOUND":
    case "EAI_AGAIN":
    case "EAI_NONAME":
      return new Deno.errors.NotFound(message);
    case "ETIMEDOUT":
      return new Deno.errors.TimedOut(message);
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return new Deno.errors.NetworkUnreachable(message);
    case "EPIPE":
      return new Deno.errors.BrokenPipe(message);
  }
  return err instanceof Error ? err : new Error(message);
}

/** Why the handshake failed, in the words of lib/transports/tls/tls.ts's explanations (node's OpenSSL names differ). */
export function explainNodeHandshakeError(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  if (/wrong version number|packet length too long|unknown protocol|record layer failure/i.test(message)) {
    return "the server does not speak TLS (is it a plain TCP server? then drop --tls)";
  }
  if (/certificate required|CertificateRequired|alert number 116/i.test(message)) {
    return "the server requires a client certificate (give --cert FILE and --key FILE)";
  }
  if (/handshake failure|HandshakeFailure|alert number 40/i.test(message)) {
    return "the server aborted the handshake (alert HandshakeFailure: a server that requires a client " +
      "certificate says this over TLS 1.2: give --cert FILE and --key FILE)";
  }
  if (/no application protocol|NoApplicationProtocol|alert number 120/i.test(message)) {
    return "the server supports none of the ALPN protocols asked for (--alpn)";
  }
  if (/socket hang up|ECONNRESET|disconnected before secure/i.test(message)) {
    return "the server closed the connection during the handshake (is it a TLS server?)";
  }
  return message;
}

/** A `node:tls` socket read and written as a `Deno.TlsConn`: reads are buffered (at most `HIGH_WATER`). */
class NodeTlsConn implements Deno.TlsConn {
  static readonly HIGH_WATER = 1024 * 1024;
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  #ended = false;
  #error: Error | undefined;
  #closed = false;
  #wake: (() => void) | undefined;
  readonly localAddr: Deno.NetAddr;
  readonly remoteAddr: Deno.NetAddr;

  /** The pinned fingerprint the server's certificate matched (colon-separated), if it was pinned. */
  constructor(private readonly socket: tls.TLSSocket, readonly pinned?: string) {
    this.localAddr = { transport: "tcp", hostname: socket.localAddress ?? "", port: socket.localPort ?? 0 };
    this.remoteAddr = {
      transport: "tcp",
      hostname: socket.remoteAddress ?? "",
      port: socket.remotePort ?? 0,
    };
    socket.on("data", (data: Buffer) => {
      this.#chunks.push(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      this.#buffered += data.byteLength;
      if (this.#buffered >= NodeTlsConn.HIGH_WATER) socket.pause();
      this.#notify();
    });
    socket.on("end", () => {
      this.#ended = true;
      this.#notify();
    });
    socket.on("error", (err) => {
      this.#error ??= denoError(err);
      this.#notify();
    });
    socket.on("close", () => {
      this.#ended = true;
      this.#notify();
    });
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async read(p: Uint8Array): Promise<number | null> {
    while (this.#chunks.length === 0) {
      if (this.#closed) throw new Deno.errors.BadResource("the connection is closed");
      if (this.#error) throw this.#error;
      if (this.#ended) return null;
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
    let n = 0;
    while (n < p.length && this.#chunks.length > 0) {
      const chunk = this.#chunks[0];
      const take = Math.min(chunk.length, p.length - n);
      p.set(chunk.subarray(0, take), n);
      n += take;
      if (take === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(take);
    }
    this.#buffered -= n;
    if (this.#buffered < NodeTlsConn.HIGH_WATER && this.socket.isPaused()) this.socket.resume();
    return n;
  }

  write(p: Uint8Array): Promise<number> {
    if (this.#closed) return Promise.reject(new Deno.errors.BadResource("the connection is closed"));
    if (this.#error) return Promise.reject(this.#error);
    return new Promise((resolve, reject) => {
      this.socket.write(
        Buffer.from(p),
        (err) => (err ? reject(this.#error ?? denoError(err)) : resolve(p.length)),
      );
    });
  }

  closeWrite(): Promise<void> {
    return new Promise((resolve) => this.socket.end(resolve));
  }

  close(): void {
    if (this.#closed) throw new Deno.errors.BadResource("the connection is closed");
    this.#closed = true;
    this.socket.destroy();
    this.#notify();
  }

  handshake(): Promise<Deno.TlsHandshakeInfo> {
    const protocol = this.socket.alpnProtocol;
    return Promise.resolve({ alpnProtocol: typeof protocol === "string" ? protocol : null });
  }

  get readable(): ReadableStream<Uint8Array<ArrayBuffer>> {
    return new ReadableStream({
      pull: async (controller) => {
        const buf = new Uint8Array(64 * 1024);
        const n = await this.read(buf);
        if (n === null) controller.close();
        else controller.enqueue(buf.subarray(0, n));
      },
    });
  }

  get writable(): WritableStream<Uint8Array<ArrayBufferLike>> {
    return new WritableStream({ write: async (chunk) => void (await this.write(chunk)) });
  }

  ref(): void {
    this.socket.ref();
  }

  unref(): void {
    this.socket.unref();
  }

  setNoDelay(noDelay = true): void {
    this.socket.setNoDelay(noDelay);
  }

  setKeepAlive(keepAlive = true): void {
    this.socket.setKeepAlive(keepAlive);
  }

  [Symbol.dispose](): void {
    if (!this.#closed) this.close();
  }
}

/**
 * Connects with `node:tls` and completes the handshake, accepting the server's certificate exactly when its
 * SHA-256 fingerprint is one of `trust.pins` (whatever its issuer, name or CA flag), or always with
 * `trust.insecure`. A mismatch is a `SockkitError` naming both fingerprints.
 */
export async function connectNodeTls(o: NodeTlsOptions, trust: NodeTlsTrust): Promise<Deno.TlsConn> {
  const isIp = o.hostname.includes(":") || /^\d+(\.\d+){3}$/.test(o.hostname);
  const name = o.serverName ?? (isIp ? undefined : o.hostname);
  const socket = await new Promise<tls.TLSSocket>((resolve, reject) => {
    const s = tls.connect({
      host: o.hostname.replace(/%.*$/, ""),
      port: o.port,
      servername: name,
      rejectUnauthorized: false,
      ALPNProtocols: o.alpn,
      cert: o.cert,
      key: o.key,
    });
    const onAbort = () => {
      s.destroy();
      reject(o.signal?.reason);
    };
    if (o.signal?.aborted) return onAbort();
    o.signal?.addEventListener("abort", onAbort, { once: true });
    s.once("secureConnect", () => {
      o.signal?.removeEventListener("abort", onAbort);
      resolve(s);
    });
    s.once("error", (err) => {
      o.signal?.removeEventListener("abort", onAbort);
      s.destroy();
      const e = err as NodeJS.ErrnoException;
      if (["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"].includes(e.code ?? "")) {
        return reject(denoError(err));
      }
      reject(
        new SockkitError(
          `TLS handshake with ${o.address} failed: ${explainNodeHandshakeError(err)}`,
          undefined,
          {
            cause: err,
          },
        ),
      );
    });
  });
  socket.setNoDelay(true);
  if (!trust.insecure) {
    const got = (socket.getPeerCertificate().fingerprint256 ?? "").replaceAll(":", "").toUpperCase();
    if (!trust.pins.includes(got)) {
      socket.destroy();
      const pinned = trust.pins.map(formatFingerprint).join(" or ");
      throw new SockkitError(
        `TLS handshake with ${o.address} failed: the server's certificate has the fingerprint ` +
          `${got ? formatFingerprint(got) : "(none)"}, not the pinned ${pinned} (if the server's ` +
          "certificate changed and you trust the new one, pin its fingerprint)",
      );
    }
  }
  const fingerprint = (socket.getPeerCertificate().fingerprint256 ?? "").toUpperCase();
  return new NodeTlsConn(socket, trust.insecure ? undefined : fingerprint);
}
