/**
 * The HTTP/1.1 server behind `ws://`/`wss://` listeners, `--web` and `--metrics`, on the runtime's own
 * sockets instead of `Deno.serve`, so that what a hostile peer does is bounded and survived:
 * - accepting goes through the server's accept loop (lib/server/accept.ts): running out of descriptors is a
 *   warning and a back-off, never a crash, and accepting resumes once descriptors free up;
 * - a request head must arrive whole within `headDeadlineMs` (5 s) of the connection or of the previous
 *   answer, in at most `maxHead` bytes (16 KiB, else 431), or the connection is closed;
 * - at most `maxPending` connections (256) may be waiting for their request head or its answer at once; one
 *   past that is answered 503 and closed, so half-sent requests cannot hold descriptors without bound;
 * - only GET and HEAD are served: a request with a body is answered and the connection closed;
 * - a handler answers a `Response` (written with its length, keep-alive unless asked to close) or a
 *   `WebSocketUpgrade` (lib/http/websocket.ts), which takes the connection over.
 * @module
 */
import type { Connection } from "../transports/types.ts";
import { STATUS_CODES } from "node:http";
import { formatAddr } from "../endpoints/address.ts";
import { closeQuietly, writeAll } from "../core/io.ts";
import { acceptLoop } from "../server/accept.ts";
import type { EventSink, ServerEvent } from "../report/events.ts";
import { acceptWebSocket, WebSocketUpgrade } from "./websocket.ts";

/** How long a request head may take to arrive, whole, from the connection or the previous answer. */
export const HEAD_DEADLINE_MS = 5000;
/** The largest request head accepted (request line and headers). */
export const MAX_HEAD_BYTES = 16 * 1024;
/** How many connections may wait for their request head (or its answer) at once. */
export const MAX_PENDING = 256;

/** What a handler is told besides the request. */
export interface HttpRequestInfo {
  /** The client's address. */
  remoteAddr: Deno.NetAddr;
}

/** Answers one request: a response, or a WebSocket upgrade that takes the connection over. */
export type HttpHandler = (
  request: Request,
  info: HttpRequestInfo,
) => Response | WebSocketUpgrade | Promise<Response | WebSocketUpgrade>;

/** The limits of one HTTP server (see the module doc for the defaults). */
export interface HttpServeOptions {
  headDeadlineMs?: number;
  maxHead?: number;
  maxPending?: number;
  /** Told of a connection closed for a reason of its own (a late or oversized head, too many pending). */
  dropped?: (remoteAddr: Deno.NetAddr, reason: string) => void;
  /** Where accept warnings go (running out of descriptors). */
  emit?: EventSink<ServerEvent>;
}

/** A running HTTP server. */
export interface HttpServer {
  /** The address it is bound to. */
  readonly addr: Deno.NetAddr;
  /** Connections waiting for a request head or its answer (upgraded ones are no longer counted). */
  readonly pending: number;
  /** Stops accepting and closes every connection that is not a WebSocket; resolves once answers are written. */
  close(): Promise<void>;
}

const encoder = new TextEncoder();
const END_OF_HEAD = encoder.encode("\r\n\r\n");

/** The index just past the blank line ending a request head in `bytes`, or -1. */
function headEnd(bytes: Uint8Array): number {
  outer: for (let i = 0; i + 4 <= bytes.length; i++) {
    for (let j = 0; j < 4; j++) if (bytes[i + j] !== END_OF_HEAD[j]) continue outer;
    return i + 4;
  }
  return -1;
}

/** A request head, parsed; `error` is the status and reason of a malformed one. */
interface ParsedHead {
  method: string;
  target: string;
  version: string;
  headers: Headers;
}

/** Parses a request head (without its blank line), or answers why it is malformed. */
export function parseHead(text: string): ParsedHead | { error: string } {
  const lines = text.split("\r\n");
  const match = /^([A-Z]+) (\S+) HTTP\/(1\.[01])$/.exec(lines[0]);
  if (!match) return { error: "malformed request line" };
  const headers = new Headers();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon <= 0 || /\s/.test(line.slice(0, colon))) return { error: "malformed header line" };
    try {
      headers.append(line.slice(0, colon), line.slice(colon + 1).trim());
    } catch {
      return { error: "malformed header line" };
    }
  }
  return { method: match[1], target: match[2], version: match[3], headers };
}

/** Writes `response` to `conn`, saying whether the connection stays open (`keepAlive`). */
async function writeResponse(conn: Connection, response: Response, head: boolean, keepAlive: boolean) {
  const body = head || response.body === null
    ? new Uint8Array(0)
    : new Uint8Array(await response.arrayBuffer());
  const lines = [`HTTP/1.1 ${response.status} ${STATUS_CODES[response.status] ?? "Unknown"}`];
  response.headers.forEach((value, name) => {
    if (name !== "content-length" && name !== "connection" && name !== "transfer-encoding") {
      lines.push(`${name}: ${value}`);
    }
  });
  lines.push(`content-length: ${head ? response.headers.get("content-length") ?? body.length : body.length}`);
  lines.push(`connection: ${keepAlive ? "keep-alive" : "close"}`);
  const headBytes = encoder.encode(lines.join("\r\n") + "\r\n\r\n");
  const out = new Uint8Array(headBytes.length + (head ? 0 : body.length));
  out.set(headBytes);
  if (!head) out.set(body, headBytes.length);
  await writeAll(conn, out);
}

/** A plain-text answer, `STATUS REASON` on one line (what every listener's refusals look like). */
export function plain(status: number, reason: string, headers: Record<string, string> = {}): Response {
  return new Response(`${status} ${reason}\n`, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", ...headers },
  });
}

/**
 * Serves HTTP on `listener` (TCP or TLS, bound by the caller) with `handler` until `close()`.
 *
 * @example
 * ```ts
 * import { serveHttp } from "./server.ts";
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const server = serveHttp(listener, () => new Response("hi\n"));
 * const answer = await fetch(`http://127.0.0.1:${server.addr.port}/`);
 * console.assert((await answer.text()) === "hi\n");
 * await server.close();
 * ```
 */
export function serveHttp(
  listener: Deno.Listener,
  handler: HttpHandler,
  options: HttpServeOptions = {},
): HttpServer {
  const deadlineMs = options.headDeadlineMs ?? HEAD_DEADLINE_MS;
  const maxHead = options.maxHead ?? MAX_HEAD_BYTES;
  const maxPending = options.maxPending ?? MAX_PENDING;
  const stopper = new AbortController();
  /** Connections not taken over by a WebSocket: closed on `close()`. */
  const open = new Set<Connection>();
  const answering = new Set<Promise<void>>();
  let closing = false;

  const drop = (conn: Connection, reason: string) => {
    options.dropped?.(conn.remoteAddr as Deno.NetAddr, reason);
    closeQuietly(conn);
  };

  /** Reads one request head within the deadline: the head's bytes and what came after, or null when gone. */
  const readHead = async (conn: Connection, carry: Uint8Array) => {
    let buf = carry;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      closeQuietly(conn);
    }, deadlineMs);
    try {
      while (true) {
        const end = headEnd(buf);
        if (end >= 0) return { head: buf.subarray(0, end - 4), rest: buf.subarray(end) };
        if (buf.length > maxHead) return "too big" as const;
        const chunk = new Uint8Array(4096);
        let n: number | null;
        try {
          n = await conn.read(chunk);
        } catch {
          n = null;
        }
        if (n === null) return timedOut ? (buf.length > 0 ? "partial" as const : "idle" as const) : null;
        const next = new Uint8Array(buf.length + n);
        next.set(buf);
        next.set(chunk.subarray(0, n), buf.length);
        buf = next;
      }
    } finally {
      clearTimeout(timer);
    }
  };

  const serveConn = async (conn: Connection) => {
    const remoteAddr = conn.remoteAddr as Deno.NetAddr;
    let carry: Uint8Array = new Uint8Array(0);
    while (!closing) {
      const got = await readHead(conn, carry);
      if (got === null) return closeQuietly(conn);
      // a connection that sent nothing (an idle keep-alive one, a browser's spare) is closed quietly
      if (got === "idle") return closeQuietly(conn);
      if (got === "partial") return drop(conn, `no complete request head within ${deadlineMs / 1000} s`);
      if (got === "too big") {
        await writeResponse(conn, plain(431, "request head too large"), false, false).catch(() => {});
        return drop(conn, `request head over ${maxHead} bytes`);
      }
      const parsed = parseHead(new TextDecoder().decode(got.head));
      if ("error" in parsed) {
        await writeResponse(conn, plain(400, parsed.error), false, false).catch(() => {});
        return drop(conn, parsed.error);
      }
      const { method, target, version, headers } = parsed;
      const wantsClose = version === "1.0"
        ? !/keep-alive/i.test(headers.get("connection") ?? "")
        : /close/i.test(headers.get("connection") ?? "");
      const hasBody = headers.has("transfer-encoding") || Number(headers.get("content-length") ?? "0") !== 0;
      const host = headers.get("host") ?? formatAddr(conn.localAddr);
      let request: Request;
      try {
        const url = new URL(target.startsWith("/") ? `http://${host}${target}` : target);
        request = new Request(url, { method, headers });
      } catch {
        await writeResponse(conn, plain(400, "malformed request target or Host"), false, false).catch(
          () => {},
        );
        return drop(conn, "malformed request target or Host");
      }
      if (hasBody) {
        await writeResponse(conn, plain(413, "request bodies are not accepted"), false, false).catch(
          () => {},
        );
        return drop(conn, "a request with a body");
      }
      let answer: Response | WebSocketUpgrade;
      try {
        answer = await handler(request, { remoteAddr });
      } catch {
        answer = plain(500, "internal error");
      }
      if (answer instanceof WebSocketUpgrade) {
        if (closing) {
          await writeResponse(conn, plain(503, "server shutting down"), false, false).catch(() => {});
          return closeQuietly(conn);
        }
        open.delete(conn);
        return acceptWebSocket(conn, got.rest, request, answer);
      }
      const keepAlive = !wantsClose && !closing;
      try {
        await writeResponse(conn, answer, method === "HEAD", keepAlive);
      } catch {
        return closeQuietly(conn);
      }
      if (!keepAlive) return closeQuietly(conn);
      carry = got.rest;
    }
    closeQuietly(conn);
  };

  const done = acceptLoop(listener, stopper.signal, options.emit ?? (() => {}), (conn) => {
    if (open.size >= maxPending) {
      const refusal = plain(503, `too many requests in progress (${maxPending}); try again`);
      void writeResponse(conn, refusal, false, false).catch(() => {}).finally(() => {
        drop(conn, `more than ${maxPending} requests in progress`);
      });
      return;
    }
    open.add(conn);
    const serving = serveConn(conn).catch(() => closeQuietly(conn)).finally(() => {
      open.delete(conn);
      answering.delete(serving);
    });
    answering.add(serving);
  });

  return {
    addr: listener.addr as Deno.NetAddr,
    get pending() {
      return open.size;
    },
    async close() {
      if (closing) return;
      closing = true;
      stopper.abort();
      closeQuietly(listener);
      for (const conn of open) closeQuietly(conn);
      await done;
      await Promise.allSettled([...answering]);
    },
  };
}
