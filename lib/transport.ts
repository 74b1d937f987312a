/**
 * Transports: where a server listens and a client connects. The command line picks one endpoint at the
 * edge; servers and clients then listen/connect through this module and never look at which one it was.
 * @module
 */
import { formatAddr, formatHostPort, zoneOf } from "./address.ts";
import { toNetworkError } from "./errors.ts";
import type { EventSink, ServerEvent } from "./events.ts";
import { connectTls, listenTls, tlsSummary } from "./tls.ts";
import { connectUnix, listenUnix } from "./unix.ts";
import type { Endpoint, Listener, StreamEndpoint, TransportName } from "./transport_types.ts";
import type { Admission } from "./ws/listener.ts";

export type {
  Endpoint,
  Listener,
  StreamEndpoint,
  TcpEndpoint,
  TlsEndpoint,
  TransportName,
  UdpEndpoint,
  UnixEndpoint,
  WsEndpoint,
} from "./transport_types.ts";

/** How each transport is named in messages. */
export const TRANSPORT_LABELS: Record<TransportName, string> = {
  tcp: "TCP",
  tls: "TLS",
  unix: "Unix socket",
  udp: "UDP",
  ws: "WebSocket",
};

/** How an endpoint is shown to people: `127.0.0.1:1234`, `[::1]:1234`, `unix:/tmp/s.sock`. */
export function formatEndpoint(ep: Endpoint): string {
  if (ep.transport === "ws") {
    return `${ep.secure ? "wss" : "ws"}://${formatHostPort(ep.hostname, ep.port)}${ep.path}`;
  }
  return ep.transport === "unix" ? `unix:${ep.path}` : formatHostPort(ep.hostname, ep.port);
}

/** The transport named in the "Listening on" line when the address does not show it: TLS and UDP. */
export function transportNote(ep: Endpoint): string | undefined {
  return ep.transport === "tls" || ep.transport === "udp" ? TRANSPORT_LABELS[ep.transport] : undefined;
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
export async function listen(
  ep: StreamEndpoint,
  emit: EventSink<ServerEvent> = () => {},
  /** WebSocket: the guard rails' decision before an upgrade (refused with an HTTP status). */
  admission?: Admission,
): Promise<Listener> {
  switch (ep.transport) {
    case "tcp":
      try {
        return Deno.listen({ hostname: ep.hostname, port: ep.port, transport: "tcp" });
      } catch (err) {
        throw toNetworkError(err, "listen", formatEndpoint(ep));
      }
    case "tls":
      return await listenTls(ep, emit);
    case "unix":
      return await listenUnix(ep, emit);
    case "ws": {
      const { listenWs } = await import("./ws/listener.ts");
      return await listenWs(ep, emit, admission);
    }
  }
}

/**
 * Connects to an endpoint (the client's step), giving up when `signal` aborts. For TLS the handshake is
 * part of connecting, so a certificate the client does not trust fails here. Throws a `SockkitError`
 * such as `cannot connect to 127.0.0.1:1: connection refused (…)`.
 */
export async function connect(ep: StreamEndpoint, signal?: AbortSignal): Promise<Deno.Conn> {
  switch (ep.transport) {
    case "tcp":
      try {
        return await Deno.connect({ hostname: ep.hostname, port: ep.port, transport: "tcp", signal });
      } catch (err) {
        throw toNetworkError(err, "connect", formatEndpoint(ep));
      }
    case "tls":
      return await connectTls(ep, signal);
    case "unix":
      return await connectUnix(ep, signal);
    case "ws": {
      const { connectWs } = await import("./ws/connect.ts");
      return await connectWs(ep, { signal });
    }
  }
}

/** What a client shows about a connection besides its address: `TLS, ALPN h2`; empty for plain TCP. */
export async function describeConnection(ep: StreamEndpoint, conn: Deno.Conn): Promise<string | undefined> {
  if (ep.transport === "tls") return await tlsSummary(conn as Deno.TlsConn);
  if (ep.transport === "unix") return TRANSPORT_LABELS.unix;
  if (ep.transport === "ws") return ep.secure ? "WebSocket over TLS" : "WebSocket";
  return undefined;
}

/**
 * The address a listener really got (port 0 becomes the port the OS chose), as people write it. The OS
 * drops the zone of a link-local address (`fe80::1%eth0`); it is taken back from the endpoint asked for.
 */
export function listenerAddress(listener: { readonly addr: Deno.Addr }, ep?: Endpoint): string {
  const addr = formatAddr(listener.addr, endpointZone(ep));
  return ep?.transport === "ws" ? `${ep.secure ? "wss" : "ws"}://${addr}${ep.path}` : addr;
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
