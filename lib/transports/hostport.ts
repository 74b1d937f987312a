/**
 * The `HOST:PORT` part of an address spec, shared by every transport addressed by host and port, and the
 * error a transport's parser throws for a spec it cannot read.
 * @module
 */
import { parseHost, parsePort } from "../endpoints/address.ts";

/** What is wrong with an address spec, in a few words (`no port`); lib/endpoints/addressspec.ts adds the forms. */
export class SpecError extends Error {}

/**
 * Splits `HOST:PORT` (IPv6 in brackets: `[::1]:80`) into its host and port; port 0 only where listening.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(parseHostPort("[::1]:80", "connect"), { hostname: "::1", port: 80 });
 * assert.throws(() => parseHostPort("localhost", "connect"), /no port/);
 * ```
 */
export function parseHostPort(rest: string, role: "listen" | "connect"): { hostname: string; port: number } {
  const m = /^\[([^\]]+)\]:([^:]*)$/.exec(rest) ?? /^([^:[\]]*):([^:]*)$/.exec(rest);
  if (!m) {
    const bareV6 = rest.split(":").length > 2 && !rest.startsWith("[");
    throw new SpecError(bareV6 ? "put an IPv6 address in brackets, as in [::1]:1234" : "no port");
  }
  if (m[1] === "") throw new SpecError("no host before the port");
  let port: number;
  try {
    port = parsePort(m[2], { allowZero: role === "listen" });
  } catch (err) {
    throw new SpecError((err as Error).message);
  }
  return { hostname: parseHost(m[1]), port };
}
