/**
 * Transports: where a server listens and a client connects. The command line picks one endpoint at the
 * edge; servers and clients then listen/connect through this module, which asks the transport's own module
 * (lib/transports/, listed in lib/transports/mod.ts), and never look at which one it was.
 * @module
 */
import { formatAddr, zoneOf } from "../endpoints/address.ts";
import { UsageError } from "../core/errors.ts";
import type { EventSink, ServerEvent } from "../report/events.ts";
import { type Transport, transportOf, TRANSPORTS } from "./mod.ts";
import type {
  Connection,
  Endpoint,
  IoCore,
  Listener,
  ListenSettings,
  ProxySpec,
  StreamEndpoint,
  TransportName,
} from "./types.ts";

export type {
  Connection,
  Endpoint,
  IoCore,
  Listener,
  ListenSettings,
  StreamEndpoint,
  TcpEndpoint,
  TlsEndpoint,
  TransportName,
  UdpEndpoint,
  UnixEndpoint,
  WsEndpoint,
} from "./types.ts";

/** How each transport is named in messages, from each transport's own declaration. */
export const TRANSPORT_LABELS: Record<TransportName, string> = Object.fromEntries(
  TRANSPORTS.map((t) => [t.name, t.label]),
) as Record<TransportName, string>;

/** How an endpoint is shown to people: `127.0.0.1:1234`, `[::1]:1234`, `unix:/tmp/s.sock`. */
export function formatEndpoint(ep: Endpoint): string {
  return transportOf(ep).format(ep);
}

/** The transport named in the "Listening on" line when the address does not show it: TLS and UDP. */
export function transportNote(ep: Endpoint): string | undefined {
  const t = transportOf(ep);
  return t.namedInListening ? t.label : undefined;
}

function streamTransport(ep: Endpoint): Required<Pick<Transport, "connect">> & Transport {
  const t = transportOf(ep);
  if (!t.connect) throw new Error(`${t.label} has no stream connect: its client is its own`);
  return t as Required<Pick<Transport, "connect">> & Transport;
}

/**
 * Binds and listens on an endpoint (steps 1 and 2 of the socket formula). Throws a `SockkitError` that says
 * why it cannot, e.g. `cannot listen on 0.0.0.0:1234: address already in use (…)`. TLS listeners report
 * their certificate and failed handshakes through `emit`; Unix listeners report a stale socket replaced.
 *
 * @example
 * ```ts ignore
 * const listener = await listen({ transport: "unix", path: "/tmp/sockkit.sock" });
 * const conn = await listener.accept();
 * ```
 */
export function listen(
  ep: Endpoint,
  emit: EventSink<ServerEvent> = () => {},
  settings: ListenSettings = {},
): Promise<Listener> {
  return transportOf(ep).listen(ep, emit, settings);
}

/**
 * Connects to an endpoint (the client's step), giving up when `signal` aborts. For TLS the handshake is
 * part of connecting, so a certificate the client does not trust fails here. Throws a `SockkitError`
 * such as `cannot connect to 127.0.0.1:1: connection refused (…)`.
 */
export function connect(ep: StreamEndpoint, signal?: AbortSignal, io?: IoCore): Promise<Connection> {
  return streamTransport(ep).connect(ep, signal, io);
}

/** What a client shows about a connection besides its address: `TLS, ALPN h2`; empty for plain TCP. */
export async function describeConnection(ep: StreamEndpoint, conn: Connection): Promise<string | undefined> {
  return await transportOf(ep).describe?.(conn, ep);
}

/**
 * The address a listener really got (port 0 becomes the port the OS chose), as people write it. The OS
 * drops the zone of a link-local address (`fe80::1%eth0`); it is taken back from the endpoint asked for.
 */
export function listenerAddress(listener: { readonly addr: Deno.Addr }, ep?: Endpoint): string {
  const addr = formatAddr(listener.addr, endpointZone(ep));
  const t = ep && transportOf(ep);
  return t?.listeningAddress ? t.listeningAddress(addr, ep!) : addr;
}

/** The zone of the address an endpoint names (`%eth0` of `fe80::1%eth0`), or undefined. */
export function endpointZone(ep?: Endpoint): string | undefined {
  return ep && "hostname" in ep ? zoneOf(ep.hostname) : undefined;
}

/**
 * How the server names a client: its address, or `unix client 3` for the unnamed peers of a Unix socket.
 * A link-local peer of a listener on a link-local address is on that link: it gets the listener's `zone`.
 */
export function peerLabel(addr: Deno.Addr, id: number, zone?: string): string {
  if ("path" in addr && !addr.path) return `unix client ${id}`;
  return formatAddr(addr, zone);
}

/**
 * `ep` to be reached through `proxy` (or `ep` itself without one). Only a transport that connects over TCP
 * can go through a proxy (`proxied`: tcp://, tls://); any other is a `UsageError`, as is `--io node`
 * (a hop is made with Deno's API).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseProxy } from "./proxy/mod.ts";
 * import type { TcpEndpoint } from "./types.ts";
 * const tcp: TcpEndpoint = { transport: "tcp", hostname: "db.internal", port: 5432 };
 * const ep = withProxy(tcp, parseProxy("socks5://127.0.0.1:1080"));
 * assert.equal(ep.proxy?.port, 1080);
 * assert.throws(() => withProxy({ transport: "unix", path: "/tmp/s" }, parseProxy("http://127.0.0.1:3128")), /--proxy/);
 * ```
 */
export function withProxy<E extends Endpoint>(ep: E, proxy: ProxySpec | undefined, io?: IoCore): E {
  if (!proxy) return ep;
  const t = transportOf(ep);
  if (!t.capabilities.proxied) {
    throw new UsageError(
      `--proxy carries TCP and TLS connections; a ${t.label} address cannot go through it`,
    );
  }
  if (io === "node") throw new UsageError("--proxy connects with Deno's API: drop --io node");
  return { ...ep, proxy };
}
