/**
 * The HTTP CONNECT hop (RFC 9110 §9.3.6): over a connection to an HTTP proxy, asks for a tunnel to the
 * target (with Basic credentials when the URL has them) and returns once the proxy answered 2xx; the
 * connection then carries the target's bytes.
 * @module
 */
import { SockkitError } from "../../core/errors.ts";
import { writeAll } from "../../core/io.ts";
import type { Connection, ProxyAuth } from "../types.ts";
import { ProxyRefusal, readHead } from "./read.ts";
import type { HopTarget } from "./socks5.ts";
import { formatHostPort } from "../../endpoints/address.ts";

/**
 * Runs `CONNECT target` on `conn` (connected to the HTTP proxy at `proxy`). Throws a `SockkitError` with
 * the proxy's status: 407 is an authentication failure, any other non-2xx a refusal.
 *
 * @example
 * ```ts ignore
 * const conn = await Deno.connect({ hostname: "127.0.0.1", port: 3128 });
 * await httpConnectHop(conn, "127.0.0.1:3128", { hostname: "example.org", port: 443 });
 * ```
 */
export async function httpConnectHop(
  conn: Connection,
  proxy: string,
  target: HopTarget,
  auth?: ProxyAuth,
): Promise<void> {
  const where = `the HTTP proxy ${proxy}`;
  const authority = formatHostPort(target.hostname.replace(/%.*$/, ""), target.port);
  const lines = [`CONNECT ${authority} HTTP/1.1`, `Host: ${authority}`];
  if (auth) lines.push(`Proxy-Authorization: Basic ${btoa(`${auth.username}:${auth.password}`)}`);
  await writeAll(conn, new TextEncoder().encode(lines.join("\r\n") + "\r\n\r\n"));
  const head = await readHead(conn, where);
  const status = /^HTTP\/1\.[01] (\d{3})(?: ([^\r\n]*))?/.exec(head);
  if (!status) throw new SockkitError(`${where} did not answer as an HTTP proxy (is it one?)`);
  const code = Number(status[1]);
  const text = `${code}${status[2] ? ` ${status[2].replace(/[^\x20-\x7e]/g, "?").slice(0, 80)}` : ""}`;
  if (code === 407) {
    throw new SockkitError(
      auth
        ? `${where} refused the user name and password (authentication failed: ${text})`
        : `${where} wants a user name and password (${text}): give them in the URL (http://USER:PASS@HOST:PORT)`,
    );
  }
  if (code < 200 || code > 299) {
    const said = `it answered ${text}`;
    throw new ProxyRefusal(`${where} would not connect to ${authority}: ${said}`, said, false);
  }
}
