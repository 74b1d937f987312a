/**
 * The server side of a WebSocket, framed by the npm `ws` package over the request's own connection (through
 * lib/http/duplex.ts), so that what a hostile client sends is checked as RFC 6455 asks and memory stays
 * bounded:
 * - a message counts whole as it arrives, fragments included: past `maxMessage` it is closed with 1009;
 * - an unmasked client frame, a bad opcode, reserved bits, a fragmented or oversized control frame and bad
 *   UTF-8 are closed with 1002 (1007 for the UTF-8), a length past 2^53 with 1009, each with its reason;
 * - every `pingIntervalS` seconds a ping goes out, and a peer that answered nothing since the last one is
 *   dropped with "no answer to a ping".
 * @module
 */
import type { Connection } from "../transports/types.ts";
import { Buffer } from "node:buffer";
import type { WebSocket } from "ws";
import { connDuplex } from "./duplex.ts";
import { closeReasonText } from "../transports/ws/close.ts";
import { CLOSE_WAIT_MS } from "../transports/ws/conn.ts";

/** How a server answers an upgrade: the subprotocol it agrees to, its limits, and who takes the socket. */
export interface WebSocketOptions {
  /** The subprotocol agreed to when the client offers it (`--subprotocol`), else none. */
  protocol?: string;
  /** The largest message, in bytes, counted over all of its fragments. */
  maxMessage: number;
  /** Seconds between pings; 0 sends none. */
  pingIntervalS: number;
  /** Named in the close reason of a message that is too big, e.g. `--max-message`. */
  limitName?: string;
}

/** What a request handler answers to hand a request's connection to a WebSocket (see lib/http/server.ts). */
export class WebSocketUpgrade {
  /** `open` gets the socket once the 101 answer is written: it is open already. */
  constructor(readonly options: WebSocketOptions, readonly open: (socket: WebSocket) => void) {}
}

/**
 * Answers `request` (a checked upgrade) with 101 on `conn`, after which `head` (bytes read past the request
 * head) is the start of the WebSocket, and hands the socket to `upgrade.open`.
 *
 * @example
 * ```ts ignore
 * acceptWebSocket(conn, head, request, new WebSocketUpgrade({ maxMessage: 1 << 20, pingIntervalS: 30 }, use));
 * ```
 */
export async function acceptWebSocket(
  conn: Connection,
  head: Uint8Array,
  request: Request,
  upgrade: WebSocketUpgrade,
): Promise<void> {
  const { protocol, maxMessage, pingIntervalS, limitName = "--max-message" } = upgrade.options;
  // ws reads switches from process.env at import: sockkit has no --allow-env, so npm code sees an empty one
  await import("../hub/node_env.ts");
  const { WebSocketServer } = await import("ws");
  const server = new WebSocketServer({
    noServer: true,
    maxPayload: maxMessage,
    clientTracking: false,
    perMessageDeflate: false,
    handleProtocols: (offered: Set<string>) => (protocol && offered.has(protocol) ? protocol : false),
  });
  const headers: Record<string, string> = {};
  request.headers.forEach((value, name) => (headers[name] = value));
  const incoming = { method: request.method, url: new URL(request.url).pathname, headers };
  const stream = connDuplex(conn);
  // deno-lint-ignore no-explicit-any
  server.handleUpgrade(incoming as any, stream as any, Buffer.from(head), (socket: WebSocket) => {
    explainProtocolErrors(socket, maxMessage, limitName);
    cutOffProtocolErrors(socket);
    if (pingIntervalS > 0) keepAlive(socket, pingIntervalS);
    upgrade.open(socket);
  });
}

/**
 * `ws` closes a connection that breaks the protocol with the right code but no reason: the reason becomes
 * what was wrong, so the peer's close frame says it (`ws` keeps the error in its receiver until then).
 */
function explainProtocolErrors(socket: WebSocket, maxMessage: number, limitName: string): void {
  let last: Error | undefined;
  // deno-lint-ignore no-explicit-any
  const receiver = (socket as any)._receiver as {
    prependListener?(event: string, f: (e: Error) => void): void;
  };
  receiver?.prependListener?.("error", (err) => (last = err));
  const close = socket.close.bind(socket);
  socket.close = (code?: number, reason?: string | Buffer) => {
    if (reason === undefined && last && code !== undefined) {
      reason = code === 1009 && /max payload/i.test(last.message)
        ? `a message over ${limitName} (${maxMessage} bytes)`
        : closeReasonText(last.message);
    }
    close(code, reason);
  };
}

/**
 * After a protocol error `ws` has sent its close frame and reads on to drain the socket: reading stops
 * instead (a peer that breaks the protocol gets no more of the server's time), and the socket is dropped
 * after `CLOSE_WAIT_MS` unless the peer answered the close. (An error event without a listener would throw.)
 */
function cutOffProtocolErrors(socket: WebSocket): void {
  socket.on("error", (err: Error & { code?: string }) => {
    if (!String(err.code).startsWith("WS_ERR_")) return;
    setTimeout(() => socket.pause(), 0);
    const timer = setTimeout(() => socket.terminate(), CLOSE_WAIT_MS);
    socket.on("close", () => clearTimeout(timer));
  });
}

/** Pings every `intervalS` seconds and drops a peer that sent nothing (no pong either) since the last ping. */
function keepAlive(socket: WebSocket, intervalS: number): void {
  let heard = true;
  const heardFrom = () => (heard = true);
  socket.on("message", heardFrom);
  socket.on("pong", heardFrom);
  socket.on("ping", heardFrom);
  const timer = setInterval(() => {
    if (socket.readyState !== socket.OPEN) return;
    if (!heard) {
      socket.emit("error", new Error(`no answer to a ping`));
      socket.close(1001, "no answer to a ping");
      setTimeout(() => socket.terminate(), 200);
      return;
    }
    heard = false;
    socket.ping();
  }, intervalS * 1000);
  socket.on("close", () => clearInterval(timer));
}
