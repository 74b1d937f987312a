/**
 * Address specs: one spelling for an endpoint wherever a command takes an address. `tcp://HOST:PORT`,
 * `tls://HOST:PORT`, `udp://HOST:PORT`, `unix:PATH`, `ws://HOST:PORT/PATH` and `wss://HOST:PORT/PATH` (the path
 * defaults to `/`); a bare `HOST:PORT` is TCP, and so is a bare `PORT` where
 * a listen address is expected (all interfaces, as `sockkit server PORT` listens).
 * @module
 */
import { parseHost, parsePort, parseUnixPath } from "./address.ts";
import { UsageError } from "./errors.ts";
import { escapeText } from "./format.ts";
import type { Endpoint } from "./transport.ts";

/** Whether the address is one to listen on (a bare port is allowed, port 0 picks one) or to connect to. */
export type AddressRole = "listen" | "connect";

/** The host a bare `PORT` listens on: every IPv4 interface, as the server's `--host` default. */
export const DEFAULT_LISTEN_HOST = "0.0.0.0";

const SCHEMES = ["tcp", "tls", "udp", "ws", "wss"] as const;

function usage(spec: string, what: string, role: AddressRole): UsageError {
  const forms = role === "listen"
    ? "PORT, HOST:PORT, tcp://HOST:PORT, tls://HOST:PORT, udp://HOST:PORT, ws://HOST:PORT/PATH, wss://… or unix:PATH"
    : "HOST:PORT, tcp://HOST:PORT, tls://HOST:PORT, udp://HOST:PORT, ws://HOST:PORT/PATH, wss://… or unix:PATH";
  return new UsageError(`invalid address '${escapeText(spec)}': ${what}; expected ${forms}`);
}

/** Splits `HOST:PORT` (IPv6 in brackets: `[::1]:80`) into its host and port. */
function hostAndPort(rest: string, spec: string, role: AddressRole): { hostname: string; port: number } {
  const m = /^\[([^\]]+)\]:([^:]*)$/.exec(rest) ?? /^([^:[\]]*):([^:]*)$/.exec(rest);
  if (!m) {
    const bareV6 = rest.split(":").length > 2 && !rest.startsWith("[");
    throw usage(spec, bareV6 ? "put an IPv6 address in brackets, as in [::1]:1234" : "no port", role);
  }
  if (m[1] === "") throw usage(spec, "no host before the port", role);
  let port: number;
  try {
    port = parsePort(m[2], { allowZero: role === "listen" });
  } catch (err) {
    throw usage(spec, (err as Error).message, role);
  }
  return { hostname: parseHost(m[1]), port };
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
  if (spec.startsWith("unix:")) {
    const path = spec.slice(spec.startsWith("unix://") ? 7 : 5);
    if (path === "") throw usage(spec, "no socket path after unix:", role);
    return { transport: "unix", path: parseUnixPath(path) };
  }
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(spec);
  if (scheme) {
    const name = scheme[1].toLowerCase();
    if (!(SCHEMES as readonly string[]).includes(name)) {
      throw usage(spec, `unknown scheme '${scheme[1]}://'`, role);
    }
    if (name === "ws" || name === "wss") return wsEndpoint(spec.slice(scheme[0].length), name, spec, role);
    const rest = spec.slice(scheme[0].length).replace(/\/$/, "");
    return { transport: name as "tcp" | "tls" | "udp", ...hostAndPort(rest, spec, role) };
  }
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
  return { transport: "tcp", ...hostAndPort(spec, spec, role) };
}

/** `ws://HOST:PORT/PATH` after its scheme: the path (default `/`) is where upgrades are accepted or asked for. */
function wsEndpoint(rest: string, scheme: "ws" | "wss", spec: string, role: AddressRole): Endpoint {
  const slash = rest.indexOf("/");
  const authority = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? "/" : rest.slice(slash);
  if (/[?#]/.test(path)) {
    throw usage(spec, "a query or fragment (? or #) has no place in a WebSocket address", role);
  }
  if (/[^\x21-\x7e]/.test(path)) throw usage(spec, "the path has spaces or control characters", role);
  if (authority.includes("@")) throw usage(spec, "user names and passwords are not supported", role);
  return { transport: "ws", ...hostAndPort(authority, spec, role), path, secure: scheme === "wss" };
}

/** True for the endpoints that carry a byte stream (TCP, TLS, Unix), false for datagrams (UDP). */
export function isStream(ep: Endpoint): boolean {
  return ep.transport !== "udp";
}
