/**
 * A relay pointed at itself: every pair it makes would connect back to its own listener, which makes
 * another pair, and so on without end. What can be told from the command line is refused up front
 * (`checkRelayLoop`); what only shows once a name resolves (`127.1`, this machine's host name) is told from
 * the addresses of the connections themselves (`leadsBack`, `fromThisMachine`), and what a port forward or
 * another relay hides is bounded by the relay's pair ceiling (lib/relay/run.ts).
 * @module
 */
import { UsageError } from "../core/errors.ts";
import type { Endpoint } from "../transports/types.ts";

/** An address and port as the loop checks compare them. */
export interface HostPort {
  hostname: string;
  port: number;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** One spelling per address: lower case, an IPv4-mapped IPv6 address (`::ffff:127.0.0.1`) as its IPv4 address. */
export function normalHost(hostname: string): string {
  const host = hostname.toLowerCase().replace(/^\[(.*)\]$/, "$1");
  return /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(host)?.[1] ?? host;
}

/** True for an IP address written out (not a name that must be resolved). */
function isIpLiteral(host: string): boolean {
  return IPV4.test(host) || host.includes(":");
}

/** A loopback address (127.0.0.0/8, `::1`) or a name that always means one (`localhost`, `*.localhost`). */
export function isLoopbackHost(hostname: string): boolean {
  const host = normalHost(hostname);
  return /^127\./.test(host) || host === "::1" || host === "localhost" || host.endsWith(".localhost");
}

function isWildcard(host: string): boolean {
  return host === "" || host === "0.0.0.0" || host === "::";
}

/**
 * True when connecting to `target` reaches a listener bound to `listen` on this machine. `isLocal` says
 * whether an address is one of this machine's (besides loopback). A listener on `0.0.0.0` takes every
 * IPv4 address of the machine, one on `::` every address (it is dual-stack); port 0 is never a loop.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const none = () => false;
 * assert.equal(reachesListener({ hostname: "0.0.0.0", port: 80 }, { hostname: "127.0.0.1", port: 80 }, none), true);
 * assert.equal(reachesListener({ hostname: "0.0.0.0", port: 80 }, { hostname: "::1", port: 80 }, none), false);
 * assert.equal(reachesListener({ hostname: "127.0.0.1", port: 80 }, { hostname: "127.0.0.2", port: 80 }, none), false);
 * ```
 */
export function reachesListener(
  listen: HostPort,
  target: HostPort,
  isLocal: (host: string) => boolean,
): boolean {
  if (listen.port === 0 || target.port !== listen.port) return false;
  const l = normalHost(listen.hostname);
  const t = normalHost(target.hostname);
  if (l === t) return true;
  const localhost = t === "localhost" || t.endsWith(".localhost");
  if (!isWildcard(l)) return localhost && isLoopbackHost(l);
  if (localhost) return true;
  if (l === "0.0.0.0" && t.includes(":")) return false;
  return isLoopbackHost(t) || isLocal(t);
}

/** True when `host` (an IP address) is one of this machine's: something can be bound to it. */
function isOwnAddress(host: string): boolean {
  if (!isIpLiteral(host)) return false;
  try {
    Deno.listen({ hostname: host, port: 0 }).close();
    return true;
  } catch {
    return false;
  }
}

/** The endpoint as the loop check compares it: the TCP ports (TCP, TLS, WebSocket), UDP, or a Unix path. */
function where(ep: Endpoint): { family: string; at: HostPort } | { family: "unix"; path: string } {
  if (ep.transport === "unix") return { family: "unix", path: ep.path };
  return { family: ep.transport === "udp" ? "udp" : "tcp", at: { hostname: ep.hostname, port: ep.port } };
}

/**
 * Refuses a target that is the relay's own listen address (a usage error): the same address and port,
 * loopback or one of this machine's addresses against a `0.0.0.0`/`::` listener, or the same Unix socket.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.throws(
 *   () => checkRelayLoop({ transport: "tcp", hostname: "0.0.0.0", port: 8080 }, { transport: "tcp", hostname: "localhost", port: 8080 }),
 *   /is this relay's own listen address/,
 * );
 * ```
 */
export function checkRelayLoop(listen: Endpoint, target: Endpoint): void {
  const l = where(listen);
  const t = where(target);
  if (l.family !== t.family) return;
  const loop = l.family === "unix" || t.family === "unix"
    ? "path" in l && "path" in t && l.path === t.path
    : "at" in l && "at" in t && reachesListener(l.at, t.at, isOwnAddress);
  if (!loop) return;
  const shown = (w: typeof l) => "path" in w ? `unix:${w.path}` : formatHostPort(w.at);
  throw new UsageError(
    `the target ${shown(t)} is this relay's own listen address ${shown(l)}: every pair would connect back ` +
      "to the relay itself (give the address of another server as the target)",
  );
}

function formatHostPort({ hostname, port }: HostPort): string {
  return `${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
}

/**
 * True when a connection the relay made to its target arrived at the relay's own listener (`bound`: the
 * address it listens on): its far end is that address, on this machine (loopback, or the address this end
 * of the connection has).
 */
export function leadsBack(bound: Deno.Addr, conn: { localAddr: Deno.Addr; remoteAddr: Deno.Addr }): boolean {
  if (!("hostname" in bound) || !("hostname" in conn.remoteAddr) || !("hostname" in conn.localAddr)) {
    return false;
  }
  const here = normalHost(conn.localAddr.hostname);
  return reachesListener(bound, conn.remoteAddr, (host) => host === here);
}

/** True when an accepted client is on this machine (loopback, or the address it connected to). */
export function fromThisMachine(conn: { localAddr: Deno.Addr; remoteAddr: Deno.Addr }): boolean {
  const { localAddr, remoteAddr } = conn;
  if (!("hostname" in remoteAddr) || !("hostname" in localAddr)) return false;
  return isLoopbackHost(remoteAddr.hostname) ||
    normalHost(remoteAddr.hostname) === normalHost(localAddr.hostname);
}
