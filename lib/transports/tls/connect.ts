/**
 * The TLS client: a connection (directly, or through `--proxy`) that verifies the server by default, trusts a
 * `--ca`, and, with `--pin` or `--insecure`, goes through node:tls, which can show the certificate.
 * @module
 */
import { formatHostPort } from "../../endpoints/address.ts";
import { SockkitError, toNetworkError, UsageError } from "../../core/errors.ts";
import { closeQuietly, ForwardingConn } from "../../core/io.ts";
import { type SocketStep, step } from "../../core/site.ts";
import type { TlsEndpoint } from "../types.ts";
import { openVia } from "../proxy/mod.ts";
import { readPem } from "./certs.ts";
import { explainClientHandshakeError } from "./errors.ts";

/**
 * A TLS connection whose peer may close the TCP connection without a TLS close_notify, as most TLS clients
 * (and some servers) do: `read()` reports that as the end of the stream, as it is for TCP, not as an error.
 * sockkit's server and client treat it the same way.
 */
export class LenientTlsConn extends ForwardingConn<Deno.TlsConn> implements Deno.TlsConn {
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
