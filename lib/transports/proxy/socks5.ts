/**
 * The SOCKS5 hop (RFC 1928, with RFC 1929 user/password): over a connection to the proxy, asks it to connect
 * to the target and returns when it has, so the connection is then the target's, as netcat's `socks_connect`
 * returns a plain socket. Names are sent to the proxy unresolved (as `socks5h://` does): the proxy resolves
 * them, so a name only the proxy's network knows works, and no DNS query leaves this machine.
 * @module
 */
import { SockkitError } from "../../core/errors.ts";
import { writeAll } from "../../core/io.ts";
import type { Connection, ProxyAuth } from "../types.ts";
import { ProxyRefusal, readExactly } from "./read.ts";
import { parseIp } from "../../endpoints/cidr.ts";
import { formatHostPort } from "../../endpoints/address.ts";

/** The SOCKS5 reply codes (RFC 1928 §6), in words. */
export const SOCKS5_REPLIES: Record<number, string> = {
  1: "general SOCKS server failure",
  2: "connection not allowed by the proxy's rules",
  3: "network unreachable",
  4: "host unreachable",
  5: "connection refused",
  6: "TTL expired",
  7: "command not supported",
  8: "address type not supported",
};

/** Where the hop leads. */
export interface HopTarget {
  hostname: string;
  port: number;
}

const encoder = new TextEncoder();

/** The address part of a request: IPv4 (1), a name (3) or IPv6 (4), then the port. */
function address(target: HopTarget): Uint8Array {
  const host = target.hostname.replace(/%.*$/, "");
  const port = [target.port >> 8, target.port & 255];
  const ip = parseIp(host);
  if (ip) return new Uint8Array([ip.length === 4 ? 1 : 4, ...ip, ...port]);
  const name = encoder.encode(host);
  if (name.length > 255) throw new SockkitError(`SOCKS5 cannot carry a host name over 255 bytes: ${host}`);
  return new Uint8Array([3, name.length, ...name, ...port]);
}

/**
 * Runs the SOCKS5 handshake on `conn` (already connected to the proxy at `proxy`, as people write it) so
 * that it leads to `target`. Throws a `SockkitError` naming the proxy and what it said: an authentication
 * failure, a refusal with its reply code in words, or an answer that is not SOCKS5.
 *
 * @example
 * ```ts ignore
 * const conn = await Deno.connect({ hostname: "127.0.0.1", port: 1080 });
 * await socks5Hop(conn, "127.0.0.1:1080", { hostname: "example.org", port: 80 });
 * ```
 */
export async function socks5Hop(
  conn: Connection,
  proxy: string,
  target: HopTarget,
  auth?: ProxyAuth,
): Promise<void> {
  const where = `the SOCKS5 proxy ${proxy}`;
  await writeAll(conn, new Uint8Array(auth ? [5, 2, 0, 2] : [5, 1, 0]));
  const [version, method] = await readExactly(conn, 2, where);
  if (version !== 5) throw new SockkitError(`${where} did not answer as a SOCKS5 proxy (is it one?)`);
  if (method === 0xff) {
    throw new SockkitError(
      auth
        ? `${where} accepts none of the offered authentication methods`
        : `${where} wants a user name and password: give them in the URL (socks5://USER:PASS@HOST:PORT)`,
    );
  }
  if (method === 2) {
    if (!auth) throw new SockkitError(`${where} asked for a password that was not given`);
    const user = encoder.encode(auth.username);
    const pass = encoder.encode(auth.password);
    if (user.length > 255 || pass.length > 255) {
      throw new SockkitError(`the user name and the password for ${where} must be at most 255 bytes each`);
    }
    await writeAll(conn, new Uint8Array([1, user.length, ...user, pass.length, ...pass]));
    const [, status] = await readExactly(conn, 2, where);
    if (status !== 0) {
      throw new SockkitError(`${where} refused the user name and password (authentication failed)`);
    }
  } else if (method !== 0) {
    throw new SockkitError(`${where} chose an authentication method sockkit does not speak (${method})`);
  }
  await writeAll(conn, new Uint8Array([5, 1, 0, ...address(target)]));
  const [v, reply, , type] = await readExactly(conn, 4, where);
  if (v !== 5) throw new SockkitError(`${where} sent a reply that is not SOCKS5`);
  // the bound address that ends the reply: IPv4, a name, or IPv6, then the port
  const rest = type === 1 ? 4 : type === 4 ? 16 : type === 3 ? (await readExactly(conn, 1, where))[0] : -1;
  if (rest < 0) throw new SockkitError(`${where} sent a reply with an unknown address type (${type})`);
  await readExactly(conn, rest + 2, where);
  if (reply !== 0) {
    const said = `${SOCKS5_REPLIES[reply] ?? `reply code ${reply}`} (SOCKS5 reply ${reply})`;
    const to = formatHostPort(target.hostname, target.port);
    throw new ProxyRefusal(`${where} could not connect to ${to}: ${said}`, said, reply === 5);
  }
}
