import { formatAddr, formatHostPort } from "./address.ts";
import { toNetworkError } from "./errors.ts";

/** Where to listen or connect. */
export interface Endpoint {
  transport: "tcp";
  hostname: string;
  port: number;
}

/** How an endpoint is shown to people: `127.0.0.1:1234`, `[::1]:1234`. */
export function formatEndpoint(ep: Endpoint): string {
  return formatHostPort(ep.hostname, ep.port);
}

/** The server's half of a transport: bound and listening, accepting connections. */
export interface Listener extends AsyncIterable<Deno.Conn> {
  readonly addr: Deno.Addr;
  accept(): Promise<Deno.Conn>;
  close(): void;
}

/**
 * Binds and listens on an endpoint (steps 1 and 2 of the socket formula). Throws a `SockkitError` that says
 * why it cannot, e.g. `cannot listen on 0.0.0.0:1234: address already in use (…)`.
 */
export function listen(ep: Endpoint): Listener {
  try {
    return Deno.listen({ hostname: ep.hostname, port: ep.port, transport: "tcp" });
  } catch (err) {
    throw toNetworkError(err, "listen", formatEndpoint(ep));
  }
}

/**
 * Connects to an endpoint (the client's step), giving up when `signal` aborts. Throws a `SockkitError`
 * such as `cannot connect to 127.0.0.1:1: connection refused (…)`.
 */
export async function connect(ep: Endpoint, signal?: AbortSignal): Promise<Deno.Conn> {
  try {
    return await Deno.connect({ hostname: ep.hostname, port: ep.port, transport: "tcp", signal });
  } catch (err) {
    throw toNetworkError(err, "connect", formatEndpoint(ep));
  }
}

/** The address a listener really got (port 0 becomes the port the OS chose), as people write it. */
export function listenerAddress(listener: Listener): string {
  return formatAddr(listener.addr);
}
