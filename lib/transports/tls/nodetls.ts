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
import { denoError, NodeConn } from "../node/conn.ts";
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

/**
 * A `node:tls` socket read and written as a `Deno.TlsConn`: the `node:net` core's connection (with up to
 * 1 MiB unread before it pauses), plus ALPN.
 */
class NodeTlsConn extends NodeConn implements Deno.TlsConn {
  declare readonly localAddr: Deno.NetAddr;
  declare readonly remoteAddr: Deno.NetAddr;

  /** The pinned fingerprint the server's certificate matched (colon-separated), if it was pinned. */
  constructor(private readonly tlsSocket: tls.TLSSocket, readonly pinned?: string) {
    super(tlsSocket, 1024 * 1024);
  }

  /** The handshake is done before the connection is handed out; this reports what it agreed. */
  handshake(): Promise<Deno.TlsHandshakeInfo> {
    const protocol = this.tlsSocket.alpnProtocol;
    return Promise.resolve({ alpnProtocol: typeof protocol === "string" ? protocol : null });
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
