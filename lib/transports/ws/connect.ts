/**
 * The client's side of a WebSocket: connects to `ws://` or `wss://` and completes the handshake, giving a
 * `WsConn`. The client is the npm `ws` package (over the runtime's `node:net`/`node:tls`), not Deno's own
 * `WebSocket`, for two reasons measured with Deno 2.9.6: Deno's client leaves Nagle's algorithm on, so a
 * 2 to 4 KiB message waits for a delayed ACK (44 ms a round trip, against 0.2 ms with `ws`), and it cannot
 * skip verification, show the server's certificate or send another name (SNI), which `--insecure`, `--pin`
 * and `--servername` need (the reason lib/transports/tls/nodetls.ts gives for `tls://`). The frames are the library's,
 * never built here; the server side is the runtime's (lib/transports/ws/listener.ts).
 * @module
 */
import { formatHostPort } from "../../endpoints/address.ts";
import { SockkitError } from "../../core/errors.ts";
import { formatFingerprint } from "../tls/fingerprint.ts";
import type { WsEndpoint } from "../types.ts";
import { type SocketLike, WsConn } from "./conn.ts";

/** The URL of an endpoint: `ws://127.0.0.1:8080/chat`. */
export function wsUrl(ep: WsEndpoint): string {
  return `${ep.secure ? "wss" : "ws"}://${
    formatHostPort(ep.hostname.replace(/%.*$/, ""), ep.port)
  }${ep.path}`;
}

/** What the client asks for in the handshake. */
export interface WsConnectOptions {
  /** Subprotocols to offer (`--subprotocol`). */
  protocols?: string[];
  /** The largest message accepted (default 64 MiB on the client: it reads what it asked for). */
  maxMessage?: number;
  signal?: AbortSignal;
}

const CLIENT_MAX_MESSAGE = 64 * 1024 * 1024;

const STATUS_TEXT: Record<string, string> = {
  "400": "Bad Request",
  "401": "Unauthorized",
  "403": "Forbidden",
  "404": "Not Found",
  "426": "Upgrade Required",
  "500": "Internal Server Error",
  "502": "Bad Gateway",
  "503": "Service Unavailable",
};

/** What a refusal by status usually means, for the advice in parentheses. */
const STATUS_ADVICE: Record<string, string> = {
  "403": "refused: --deny, --allow or the Origin check",
  "404": "no WebSocket at this path: check the path in the address",
  "503": "the server is full (--max-conns) or shutting down: try again later",
};

/** Why a handshake failed, in words, from the runtime's (or the npm `ws` package's) error message. */
function handshakeReason(message: string): string {
  const status = /(?:status code|server response):?\s*(\d{3})/i.exec(message);
  if (status) {
    const code = status[1];
    const advice = STATUS_ADVICE[code];
    return `the server answered HTTP ${code}${STATUS_TEXT[code] ? ` ${STATUS_TEXT[code]}` : ""} instead of ` +
      `upgrading${advice ? ` (${advice})` : ""}`;
  }
  if (/Parse Error|Expected HTTP/i.test(message)) {
    return "the server did not answer in HTTP (a TLS server wants wss://; or it is no WebSocket server)";
  }
  if (/refused|tcp connect error/i.test(message)) {
    return "connection refused (is the server running, on this port?)";
  }
  if (/altnames|NotValidForName/i.test(message)) {
    return `TLS: the server's certificate is not for this name (${message.replace(/^.*?: /, "")}); ` +
      "connect by a name it has, or give --servername NAME";
  }
  if (/certificate|UnknownIssuer|self.signed|InvalidCertificate|NotValidForName/i.test(message)) {
    return `TLS: the server's certificate is not trusted (${message.replace(/^.*?: /, "")}); ` +
      "give --ca FILE, --pin FINGERPRINT or --insecure";
  }
  return message.replace(/^NetworkError: /, "").replace(/^failed to connect to WebSocket: /, "");
}

/**
 * Connects and completes the WebSocket handshake. Throws a `SockkitError` such as `cannot connect to
 * ws://127.0.0.1:1/: connection refused (…)` or `… the server answered HTTP 403 Forbidden instead of upgrading`.
 */
export async function connectWs(ep: WsEndpoint, options: WsConnectOptions = {}): Promise<WsConn> {
  const url = wsUrl(ep);
  const s = ep.tls ?? {};
  let pinFailure: string | undefined;
  let pinned: string | undefined;
  // ws reads two switches from process.env at import (WS_NO_BUFFER_UTIL …): sockkit has no --allow-env, so
  // npm code sees an empty environment (as the Redis client does)
  await import("../../hub/node_env.ts");
  const { default: NodeWebSocket } = await import("ws");
  const skipVerification = !!(s.insecure || s.pins?.length);
  const ca = ep.secure && s.caFile && !skipVerification
    ? await (await import("../tls/tls.ts")).readPem(s.caFile, "--ca", "CERTIFICATE")
    : undefined;
  const ws = new NodeWebSocket(url, options.protocols ?? [], {
    ...(ep.secure && { rejectUnauthorized: !skipVerification, servername: s.serverName, ca }),
    maxPayload: options.maxMessage ?? CLIENT_MAX_MESSAGE,
    perMessageDeflate: false,
  });
  if (ep.secure && s.pins?.length) {
    ws.on("upgrade", (res: { socket: { getPeerCertificate(): { fingerprint256?: string } } }) => {
      const got = (res.socket.getPeerCertificate().fingerprint256 ?? "").replaceAll(":", "").toUpperCase();
      if (!s.pins!.includes(got)) {
        pinFailure = `the server's certificate has the fingerprint ${
          got ? formatFingerprint(got) : "(none)"
        }, not the pinned ${s.pins!.map(formatFingerprint).join(" or ")}`;
        ws.terminate();
      } else pinned = got;
    });
  }
  const socket = ws as unknown as SocketLike;
  const conn = new WsConn(socket, {
    localAddr: { transport: "tcp", hostname: "0.0.0.0", port: 0 },
    remoteAddr: { transport: "tcp", hostname: ep.hostname, port: ep.port },
    maxMessage: options.maxMessage ?? CLIENT_MAX_MESSAGE,
    maxQueue: CLIENT_MAX_MESSAGE,
  });
  await new Promise<void>((resolve, reject) => {
    let errorMessage = "";
    const fail = (why: string) => reject(new SockkitError(`cannot connect to ${url}: ${why}`));
    const onAbort = () => {
      socket.close();
      const timedOut = options.signal?.reason instanceof DOMException &&
        options.signal.reason.name === "TimeoutError";
      fail(timedOut ? "no answer within the --timeout" : "interrupted");
    };
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener("abort", onAbort, { once: true });
    socket.addEventListener("open", () => {
      options.signal?.removeEventListener("abort", onAbort);
      resolve();
    });
    socket.addEventListener("error", (event) => {
      errorMessage ||= (event as ErrorEvent).message ?? String((event as ErrorEvent).error ?? "");
    });
    socket.addEventListener("close", (event) => {
      options.signal?.removeEventListener("abort", onAbort);
      if (pinFailure) return fail(`TLS: ${pinFailure} (if it changed and you trust the new one, pin that)`);
      const e = event as CloseEvent;
      if (/subprotocol/i.test(errorMessage)) {
        return fail(
          `the server did not agree to the subprotocol ${options.protocols?.join(", ")} ` +
            "(a sockkit server agrees to one with --subprotocol NAME)",
        );
      }
      fail(errorMessage ? handshakeReason(errorMessage) : `closed during the handshake (${e.code})`);
    });
  });
  conn.pinned = pinned;
  return conn;
}
