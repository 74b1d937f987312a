/**
 * The HTTP listener behind `--metrics` and `--web` (lib/http/server.ts: a head deadline, a cap on pending
 * requests, and a back-off when descriptors run out): bound before the server says it is listening, so a
 * port in use is one clear error at start-up, and shut down after the last client is gone.
 * @module
 */
import { formatHostPort } from "../endpoints/address.ts";
import { toNetworkError } from "../core/errors.ts";
import type { CounterReadings } from "../metrics/counters.ts";
import type { WebRoom } from "./routes.ts";
import { type HttpHandler, type HttpServer, serveHttp } from "../http/server.ts";
import type { EventSink, ServerEvent } from "../report/events.ts";

/** Where an HTTP listener binds: `--metrics HOST:PORT`, `--web HOST:PORT` (port 0 picks a free one). */
export interface HttpAddress {
  hostname: string;
  port: number;
}

/** A bound HTTP listener. */
export interface HttpListener {
  /** The address it got, as people write it: `127.0.0.1:9464`. */
  readonly address: string;
  /** The address it is bound to. */
  readonly addr: Deno.NetAddr;
  /** Its base URL: `http://127.0.0.1:9464`. */
  readonly url: string;
  /** Stops it: closes the listener and every connection still open (WebSockets included). */
  shutdown(): Promise<void>;
}

/**
 * Binds `address` and answers each request with `handler`. Throws a `SockkitError` that names the option,
 * e.g. `cannot listen on 127.0.0.1:9464 (--metrics): address already in use (…)`.
 *
 * @example
 * ```ts ignore
 * const http = listenHttp({ hostname: "127.0.0.1", port: 0 }, () => new Response("hi"), "--metrics");
 * await http.shutdown();
 * ```
 */
export function listenHttp(
  address: HttpAddress,
  handler: HttpHandler,
  option: string,
  emit: EventSink<ServerEvent> = () => {},
): HttpListener {
  let server: HttpServer;
  try {
    server = serveHttp(Deno.listen({ hostname: address.hostname, port: address.port }), handler, {
      emit: (event) =>
        emit(event.type === "warning" ? { ...event, message: `${option}: ${event.message}` } : event),
    });
  } catch (err) {
    throw toNetworkError(err, "listen", `${formatHostPort(address.hostname, address.port)} (${option})`);
  }
  const bound = formatHostPort(server.addr.hostname, server.addr.port);
  return { addr: server.addr, address: bound, url: `http://${bound}`, shutdown: () => server.close() };
}

/**
 * Binds the `--web` listener (first, serving `room`) and the `--metrics` one, as asked; when one cannot be
 * bound, what was bound is closed and the error thrown. The page and prom-client are loaded only here.
 */
export async function startHttpListeners(
  opts: { web?: HttpAddress; metrics?: HttpAddress },
  counters: CounterReadings,
  room?: WebRoom,
  emit: EventSink<ServerEvent> = () => {},
): Promise<{ web?: HttpListener; metrics?: HttpListener }> {
  if (!opts.web && !opts.metrics) return {};
  const { httpHandler } = await import("./routes.ts");
  const web = opts.web && room ? listenHttp(opts.web, httpHandler(counters, room), "--web", emit) : undefined;
  try {
    const metrics = opts.metrics
      ? listenHttp(opts.metrics, httpHandler(counters), "--metrics", emit)
      : undefined;
    return { web, metrics };
  } catch (err) {
    await web?.shutdown();
    throw err;
  }
}
