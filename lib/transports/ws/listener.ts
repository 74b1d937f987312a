/**
 * The WebSocket server's listener: lib/http/server.ts answers HTTP (with its head deadline, pending cap and
 * descriptor back-off), and upgrades at the endpoint's path through lib/http/websocket.ts (the npm `ws`
 * framing: whole-message limits, protocol errors closed with their code, keep-alive pings); each upgraded connection is
 * handed on as a `WsConn` through the same `Listener` interface the TCP, TLS and Unix listeners have, so the
 * server and the relay serve it as they serve any other. Before an upgrade, plain HTTP is answered: another
 * path 404, a request that is no upgrade 426, a cross-site `Origin` 403 (lib/transports/ws/origin.ts), and what the
 * guard rails refuse (`admission`: `--deny` 403, `--max-conns` 503), so a refused browser sees an HTTP status
 * and no WebSocket is ever opened for it.
 * @module
 */
import { formatHostPort } from "../../endpoints/address.ts";
import { toNetworkError } from "../../core/errors.ts";
import type { EventSink, ServerEvent } from "../../report/events.ts";
import type { Admission, Listener, WsEndpoint } from "../types.ts";
import { DEFAULT_MAX_MESSAGE, DEFAULT_WS_MAX_QUEUE, type SocketLike, WsConn } from "./conn.ts";
import { originRefusal } from "./origin.ts";
import { handshakeRefusal, hostRefusal } from "./handshake.ts";
import { type HttpRequestInfo, plain, serveHttp } from "../../http/server.ts";
import { WebSocketUpgrade } from "../../http/websocket.ts";

/** The default `--ping-interval`: seconds without a message before a ping (and as long again for its pong). */
export const DEFAULT_PING_INTERVAL_S = 30;

export type { Admission, Refusal } from "../types.ts";

/** The `Listener` of a WebSocket server (see the module doc). */
class WsListener implements Listener {
  readonly #ready: WsConn[] = [];
  #waiter?: { resolve: (conn: WsConn) => void; reject: (err: unknown) => void };
  #closed = false;
  /** Upgraded connections still open; the HTTP server stops once the listener is closed and they are gone. */
  readonly #open = new Set<WsConn>();

  /** Where it listens: set once the socket is bound. */
  addr: Deno.Addr = { transport: "tcp", hostname: "0.0.0.0", port: 0 };

  constructor(private readonly server: { stop(): void }) {}

  get closed(): boolean {
    return this.#closed;
  }

  /** Called by the handler once a connection is upgraded and open. */
  deliver(conn: WsConn): void {
    this.#open.add(conn);
    conn.done.then(() => {
      this.#open.delete(conn);
      this.#stopWhenIdle();
    });
    if (this.#closed) return conn.closeFor("server shutting down");
    const waiter = this.#waiter;
    this.#waiter = undefined;
    if (waiter) waiter.resolve(conn);
    else this.#ready.push(conn);
  }

  accept(): Promise<Deno.Conn> {
    const conn = this.#ready.shift();
    if (conn) return Promise.resolve(conn);
    if (this.#closed) return Promise.reject(new Deno.errors.BadResource("the listener is closed"));
    return new Promise((resolve, reject) => (this.#waiter = { resolve, reject }));
  }

  /** Stops accepting: new requests are answered 503, and open connections keep going until they close. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const conn of this.#ready.splice(0)) conn.closeFor("server shutting down");
    this.#waiter?.reject(new Deno.errors.BadResource("the listener is closed"));
    this.#waiter = undefined;
    this.#stopWhenIdle();
  }

  #stopWhenIdle(): void {
    if (this.#closed && this.#open.size === 0) this.server.stop();
  }
}

/**
 * Listens for WebSocket clients on `ep` (`wss://`: with `--cert`/`--key`, or an ephemeral certificate
 * reported through `emit` with its fingerprint, as `tls://` does). Throws a `SockkitError` that says why it
 * cannot listen.
 */
export async function listenWs(
  ep: WsEndpoint,
  emit: EventSink<ServerEvent> = () => {},
  admission: Admission = {},
): Promise<Listener> {
  const settings = ep.ws ?? {};
  const address = formatHostPort(ep.hostname, ep.port);
  let tls: { cert: string; key: string } | undefined;
  let certEvent: Extract<ServerEvent, { type: "certificate" }> | undefined;
  if (ep.secure) {
    const { serverCertificate } = await import("../tls/tls.ts");
    const material = await serverCertificate(ep.tls ?? {}, ep.hostname);
    tls = { cert: material.cert, key: material.key };
    certEvent = material.event;
  }
  const stopper = new AbortController();
  const listener = new WsListener({ stop: () => stopper.abort() });
  const refuse = (addr: Deno.Addr, status: number, reason: string, notice = reason, headers = {}) => {
    admission.refused?.(addr, reason);
    return plain(status, notice, headers);
  };
  const handler = (req: Request, info: HttpRequestInfo): Response | WebSocketUpgrade => {
    const url = new URL(req.url);
    if (url.pathname !== ep.path) {
      return plain(404, `not found: the WebSocket is at ${ep.path}`);
    }
    if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return plain(426, `upgrade required: this is a WebSocket endpoint (connect with ws://)`, {
        upgrade: "websocket",
        connection: "Upgrade",
      });
    }
    const remoteAddr = info.remoteAddr;
    if (listener.closed) return plain(503, "server shutting down");
    const malformed = handshakeRefusal(req.headers);
    if (malformed) {
      return refuse(remoteAddr, malformed.status, malformed.reason, undefined, malformed.headers);
    }
    const rebound = hostRefusal(req.headers.get("host"), ep.hostname, settings.allowOrigins);
    if (rebound) return refuse(remoteAddr, 403, rebound);
    const cross = originRefusal(req.headers.get("origin"), req.headers.get("host"), settings.allowOrigins);
    if (cross) return refuse(remoteAddr, 403, cross);
    const refusal = admission.check?.(remoteAddr);
    if (refusal) return refuse(remoteAddr, refusal.status ?? 403, refusal.reason, refusal.notice);
    const asked = (req.headers.get("sec-websocket-protocol") ?? "").split(",").map((p) => p.trim());
    const protocol = settings.subprotocol && asked.includes(settings.subprotocol)
      ? settings.subprotocol
      : undefined;
    const pingIntervalS = settings.pingIntervalS ?? DEFAULT_PING_INTERVAL_S;
    const maxMessage = settings.maxMessage ?? DEFAULT_MAX_MESSAGE;
    return new WebSocketUpgrade({ protocol, maxMessage, pingIntervalS }, (socket) => {
      const conn = new WsConn(socket as unknown as SocketLike, {
        localAddr: listener.addr,
        remoteAddr,
        maxMessage,
        maxQueue: settings.maxQueue ?? DEFAULT_WS_MAX_QUEUE,
        pingIntervalS,
        protocol: protocol ?? "",
      });
      listener.deliver(conn);
    });
  };
  let socket: Deno.Listener;
  try {
    socket = tls
      ? Deno.listenTls({ hostname: ep.hostname, port: ep.port, ...tls, alpnProtocols: ["http/1.1"] })
      : Deno.listen({ hostname: ep.hostname, port: ep.port });
  } catch (err) {
    throw toNetworkError(err, "listen", address);
  }
  const server = serveHttp(socket, handler, {
    emit,
    dropped: (addr, reason) => admission.refused?.(addr, reason),
  });
  stopper.signal.addEventListener("abort", () => void server.close(), { once: true });
  listener.addr = server.addr;
  if (certEvent) {
    const writeTo = ep.tls?.writeCertFile;
    if (writeTo && !ep.tls?.certFile) {
      const { writeCertificate } = await import("../tls/tls.ts");
      try {
        await writeCertificate(writeTo, tls!.cert);
      } catch (err) {
        await server.close();
        throw err;
      }
      certEvent.writtenTo = writeTo;
      certEvent.trustWith = `--ca ${writeTo}`;
    }
    emit(certEvent);
  }
  return listener;
}
