/**
 * What the `--web` and `--metrics` listener answers: `/metrics` (Prometheus text), and with a room `/` (the
 * chat page), `/chat.js`, `/chat.css` and `/ws` (the page's WebSocket, served by the room's mode as one more
 * client), and `/trace` (every connection's socket calls as a sequence diagram: `/trace.js`, `/trace.css`,
 * and `/trace/ws`, which sends them). `/ws` and `/trace/ws` are refused (403) to peers the guard rails
 * refuse and to pages of another origin.
 * @module
 */
import { originRefusal } from "../transports/ws/origin.ts";
import { handshakeRefusal, hostRefusal } from "../transports/ws/handshake.ts";
import { formatAddr } from "../endpoints/address.ts";
import { accessRefusal, type AccessRules } from "../server/guards.ts";
import type { CounterReadings, RefusalKind } from "../metrics/counters.ts";
import { METRICS_CONTENT_TYPE, metricsRegistry } from "../metrics/prometheus.ts";
import { WebSocketConn } from "./conn.ts";
import type { HttpHandler, HttpRequestInfo } from "../http/server.ts";
import { WebSocketUpgrade } from "../http/websocket.ts";

/** Seconds between pings to a page's WebSocket (a page gone without a close is dropped after two). */
const WEB_PING_INTERVAL_S = 60;
import { CHAT_CSS, CHAT_JS, chatPage } from "./page.ts";
import { TRACE_CSS, TRACE_HTML, TRACE_JS } from "./trace_page.ts";
import type { TraceFeed } from "./traces.ts";
import type { WebSocket } from "ws";

/** Bytes waiting to go to a `/trace` page past which its calls are dropped (one that cannot keep up). */
const TRACE_HIGH_WATER = 1024 * 1024;

/** The room a `--web` listener lets browsers into. */
export interface WebRoom {
  /** The server's mode: what the page shows. */
  mode: "chat" | "broadcast";
  /** Who may connect (`--allow`, `--deny`), checked before the upgrade. */
  rules: AccessRules;
  /** True once the server is stopping: no one new joins. */
  readonly stopping: boolean;
  /** The address the listener is bound to (the WebSockets' local address). */
  readonly localAddr: Deno.NetAddr;
  /** Bytes a browser may send ahead of what the server has read before it is cut off. */
  maxInbox: number;
  /** Counts and logs a WebSocket turned away before it joined. */
  refuse(peer: string, kind: RefusalKind, reason: string): void;
  /** Serves one WebSocket as a client of the room, with the server's guard rails. */
  admit(conn: WebSocketConn): void;
  /** With `--trace`: the server's socket calls, for the `/trace` page. */
  traces?: TraceFeed;
}

/** Security headers for everything served: nothing from elsewhere, no framing, no sniffing. */
const HEADERS = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};

function text(status: number, body: string, type = "text/plain; charset=utf-8"): Response {
  return new Response(body, { status, headers: { ...HEADERS, "content-type": type } });
}

/**
 * The request handler: `/metrics` from `counters`; with `room`, also the chat page and its WebSocket.
 *
 * @example
 * ```ts ignore
 * listenHttp({ hostname: "127.0.0.1", port: 9464 }, httpHandler(counters), "--metrics");
 * ```
 */
export function httpHandler(
  counters: CounterReadings,
  room?: WebRoom,
): HttpHandler {
  const registry = metricsRegistry(counters);
  return async (request, info) => {
    const path = new URL(request.url).pathname;
    if (request.method !== "GET" && request.method !== "HEAD") return text(405, "only GET is served\n");
    if (path === "/metrics") {
      return new Response(await registry.metrics(), { headers: { "content-type": METRICS_CONTENT_TYPE } });
    }
    if (!room) return text(404, "not found: this listener serves /metrics\n");
    if (accessRefusal(info.remoteAddr, room.rules) && path !== "/ws") return text(403, "forbidden\n");
    switch (path) {
      case "/":
        return text(200, chatPage(room.mode), "text/html; charset=utf-8");
      case "/chat.js":
        return text(200, CHAT_JS, "text/javascript; charset=utf-8");
      case "/chat.css":
        return text(200, CHAT_CSS, "text/css; charset=utf-8");
      case "/ws":
        return upgrade(request, info, room);
      case "/trace":
        return text(200, TRACE_HTML, "text/html; charset=utf-8");
      case "/trace.js":
        return text(200, TRACE_JS, "text/javascript; charset=utf-8");
      case "/trace.css":
        return text(200, TRACE_CSS, "text/css; charset=utf-8");
      case "/trace/ws":
        return upgradeRefusal(request, info, room) ??
          new WebSocketUpgrade(
            { maxMessage: 1024, pingIntervalS: WEB_PING_INTERVAL_S },
            (s) => sendTraces(s, room),
          );
      default:
        return text(404, "not found\n");
    }
  };
}

/**
 * Why an upgrade (`/ws`, `/trace/ws`) is refused, as the answer, or undefined: not an upgrade, the server
 * stopping, a peer the guard rails refuse, a malformed handshake, a Host or an Origin not this server's.
 */
function upgradeRefusal(request: Request, info: HttpRequestInfo, room: WebRoom): Response | undefined {
  const peer = `${formatAddr(info.remoteAddr)} (web)`;
  if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
    return text(426, "this is a WebSocket of the page at / or /trace: open the page in a browser\n");
  }
  if (room.stopping) return text(503, "server shutting down\n");
  const denied = accessRefusal(info.remoteAddr, room.rules);
  if (denied) {
    room.refuse(peer, "deny", denied);
    return text(403, `${denied}\n`);
  }
  const malformed = handshakeRefusal(request.headers);
  if (malformed) {
    room.refuse(peer, "handshake", malformed.reason);
    return new Response(`${malformed.reason}\n`, {
      status: malformed.status,
      headers: { ...HEADERS, "content-type": "text/plain; charset=utf-8", ...malformed.headers },
    });
  }
  // the same checks as a ws:// server's (lib/transports/ws/handshake.ts, origin.ts): the Host must name this
  // server (no DNS rebinding), and a page may only connect to the server it came from
  const problem = hostRefusal(request.headers.get("host"), room.localAddr.hostname) ?? originRefusal(
    request.headers.get("origin"),
    request.headers.get("host"),
    [],
    ": a page may only connect to the server it came from",
  );
  if (problem) {
    room.refuse(peer, "deny", problem);
    return text(403, `${problem}\n`);
  }
}

/**
 * `/trace/ws`: says whether the server traces, then sends each call (those kept first) as one JSON text;
 * what a page that cannot keep up would be sent past TRACE_HIGH_WATER is dropped, not queued.
 */
function sendTraces(socket: WebSocket, room: WebRoom): void {
  socket.send(JSON.stringify({ type: "tracing", on: room.traces !== undefined }));
  const stop = room.traces?.watch((call) => {
    if (socket.readyState === socket.OPEN && socket.bufferedAmount < TRACE_HIGH_WATER) {
      socket.send(JSON.stringify(call));
    }
  });
  socket.on("close", () => stop?.());
}

/** `/ws`: checks who asks and from which page, then hands the WebSocket to the room. */
function upgrade(request: Request, info: HttpRequestInfo, room: WebRoom): Response | WebSocketUpgrade {
  const refused = upgradeRefusal(request, info, room);
  if (refused) return refused;
  // a message may be as long as what the room lets wait unread; an idle page is pinged, and dropped when no
  // pong comes back (lib/http/websocket.ts)
  const remoteAddr = info.remoteAddr;
  const options = {
    maxMessage: room.maxInbox,
    pingIntervalS: WEB_PING_INTERVAL_S,
    limitName: "the page's limit",
  };
  return new WebSocketUpgrade(options, (socket) => {
    // in chat one message is one line (a line break inside is shown escaped), as for a ws:// client
    room.admit(new WebSocketConn(socket, remoteAddr, room.localAddr, room.maxInbox, room.mode === "chat"));
  });
}
