/**
 * Address specs: one spelling for an endpoint wherever a command takes an address. `tcp://HOST:PORT`,
 * `tls://HOST:PORT`, `udp://HOST:PORT`, `unix:PATH`, `ws://HOST:PORT/PATH` and `wss://HOST:PORT/PATH` (the path
 * defaults to `/`); a bare `HOST:PORT` is TCP, and so is a bare `PORT` where
 * a listen address is expected (all interfaces, as `sockkit server PORT` listens).
 * @module
 */
import { parsePort } from "./address.ts";
import { UsageError } from "../core/errors.ts";
import { escapeText } from "../core/format.ts";
import type { Endpoint } from "../transports/types.ts";
import { SpecError } from "../transports/hostport.ts";
import { type Transport, transportForSpec, transportOf, TRANSPORTS } from "../transports/mod.ts";

/** Whether the address is one to listen on (a bare port is allowed, port 0 picks one) or to connect to. */
export type AddressRole = "listen" | "connect";

/** The host a bare `PORT` listens on: every IPv4 interface, as the server's `--host` default. */
export const DEFAULT_LISTEN_HOST = "0.0.0.0";

function usage(spec: string, what: string, role: AddressRole): UsageError {
  const specs = TRANSPORTS.map((t) => t.spec).join(", ");
  const forms = role === "listen" ? `PORT, HOST:PORT, ${specs}` : `HOST:PORT, ${specs}`;
  return new UsageError(
    `invalid address '${escapeText(spec)}': ${what}; expected ${forms.replace(/, ([^,]*)$/, " or $1")}`,
  );
}

function parseWith(t: Transport, rest: string, spec: string, role: AddressRole): Endpoint {
  try {
    return t.parse(rest, spec, role);
  } catch (err) {
    if (err instanceof SpecError) throw usage(spec, err.message, role);
    throw err;
  }
}

/**
 * Parses an address spec into an endpoint; a spec that is none of the forms is a usage error that lists them.
 *
 * @example
 * ```ts
 * parseAddressSpec("tls://0.0.0.0:8443", "listen"); // { transport: "tls", hostname: "0.0.0.0", port: 8443 }
 * parseAddressSpec("8080", "listen"); // { transport: "tcp", hostname: "0.0.0.0", port: 8080 }
 * parseAddressSpec("unix:/tmp/s.sock", "connect"); // { transport: "unix", path: "/tmp/s.sock" }
 * parseAddressSpec("[::1]:1234", "connect"); // { transport: "tcp", hostname: "::1", port: 1234 }
 * ```
 */
export function parseAddressSpec(spec: string, role: AddressRole): Endpoint {
  const known = transportForSpec(spec);
  if (known) return parseWith(known.transport, known.rest, spec, role);
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(spec);
  if (scheme) throw usage(spec, `unknown scheme '${scheme[1]}://'`, role);
  if (/^\d+$/.test(spec)) {
    if (role === "connect") {
      throw usage(spec, "a port alone says where to listen, not where to connect", role);
    }
    try {
      return { transport: "tcp", hostname: DEFAULT_LISTEN_HOST, port: parsePort(spec) };
    } catch (err) {
      throw usage(spec, (err as Error).message, role);
    }
  }
  return parseWith(transportOf("tcp"), spec, spec, role);
}

/**
 * True for the endpoints that carry everything sent, in order (TCP, TLS, Unix sockets, WebSocket), false for
 * datagrams (UDP), which may be lost: the relay does not join the two kinds.
 */
export function isStream(ep: Endpoint): boolean {
  return !transportOf(ep).capabilities.lossy;
}
