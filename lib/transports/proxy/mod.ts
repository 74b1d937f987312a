/**
 * Upstream proxies (`--proxy URL`): a hop that a TCP connect goes through before it reaches its target, as
 * websocat's `socks5:` overlay wraps an inner endpoint and netcat's `-x` hands back a plain socket. Each kind
 * of hop is one module in this folder (socks5.ts, http_connect.ts) and one line of `HOPS` below; the
 * transports that connect over TCP (tcp://, tls://) call `openVia` where they would call `Deno.connect`, so
 * TLS runs over the proxied stream, verified as usual, and nothing above the connection knows a proxy was
 * used.
 * @module
 */
import { SockkitError, toNetworkError, UsageError } from "../../core/errors.ts";
import { closeQuietly } from "../../core/io.ts";
import { formatHostPort } from "../../endpoints/address.ts";
import { httpConnectHop } from "./http_connect.ts";
import { type HopTarget, socks5Hop } from "./socks5.ts";
import type { ProxyAuth, ProxySpec } from "../types.ts";

export type { HopTarget } from "./socks5.ts";
export { ProxyRefusal } from "./read.ts";
export type { ProxyAuth, ProxySpec } from "../types.ts";

/** One kind of hop: the URL schemes that select it, its name, its default port, and the handshake. */
export interface Hop {
  readonly schemes: readonly string[];
  readonly label: string;
  readonly defaultPort: number;
  run(conn: Deno.TcpConn, proxy: string, target: HopTarget, auth?: ProxyAuth): Promise<void>;
}

/** Every kind of hop. */
export const HOPS: readonly Hop[] = [
  { schemes: ["socks5:", "socks5h:"], label: "SOCKS5", defaultPort: 1080, run: socks5Hop },
  { schemes: ["http:"], label: "HTTP CONNECT", defaultPort: 8080, run: httpConnectHop },
];

/** How long a proxy may take to answer its handshake when the command gives no limit of its own. */
export const PROXY_ANSWER_MS = 10_000;

const FORMS = "socks5://[USER:PASS@]HOST:PORT or http://[USER:PASS@]HOST:PORT";

/**
 * Parses a `--proxy` URL. Throws a `UsageError` naming what is wrong.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const p = parseProxy("socks5://alice:secret@127.0.0.1:1080");
 * assert.deepEqual([p.hostname, p.port, p.auth?.username, p.shown], ["127.0.0.1", 1080, "alice", "socks5://alice@127.0.0.1:1080"]);
 * assert.equal(parseProxy("http://[::1]:3128").hostname, "::1");
 * ```
 */
export function parseProxy(text: string): ProxySpec {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`invalid --proxy '${text}': expected ${FORMS}`);
  }
  const hop = HOPS.find((h) => h.schemes.includes(url.protocol));
  if (!hop) {
    throw new UsageError(
      `invalid --proxy '${text}': ${url.protocol.replace(/:$/, "")} is no proxy sockkit speaks; use ${FORMS}`,
    );
  }
  if (!url.hostname) throw new UsageError(`invalid --proxy '${text}': no host; expected ${FORMS}`);
  if ((url.pathname && url.pathname !== "/") || url.search || url.hash) {
    throw new UsageError(`invalid --proxy '${text}': a proxy URL has no path; expected ${FORMS}`);
  }
  const hostname = url.hostname.replace(/^\[|\]$/g, "");
  const port = url.port ? Number(url.port) : hop.defaultPort;
  const auth = url.username || url.password
    ? { username: decodeURIComponent(url.username), password: decodeURIComponent(url.password) }
    : undefined;
  const user = url.username ? `${url.username}@` : "";
  return {
    shown: `${url.protocol}//${user}${formatHostPort(hostname, port)}`,
    scheme: url.protocol,
    hostname,
    port,
    auth,
  };
}

function hopOf(proxy: ProxySpec): Hop {
  return HOPS.find((h) => h.schemes.includes(proxy.scheme))!;
}

/**
 * Connects to `target` through `proxy`: a TCP connection to the proxy, then its handshake, within `signal`
 * (or PROXY_ANSWER_MS when there is none). Returns the connection, which now carries the target's bytes.
 * Throws a `SockkitError`: the proxy cannot be reached (`… (--proxy)`), does not answer in time, refuses, or
 * wants credentials.
 *
 * @example
 * ```ts ignore
 * const conn = await openVia(parseProxy("socks5://127.0.0.1:1080"), { hostname: "example.org", port: 80 });
 * ```
 */
export async function openVia(
  proxy: ProxySpec,
  target: HopTarget,
  signal?: AbortSignal,
): Promise<Deno.TcpConn> {
  const hop = hopOf(proxy);
  const address = formatHostPort(proxy.hostname, proxy.port);
  const limit = signal ?? AbortSignal.timeout(PROXY_ANSWER_MS);
  let conn: Deno.TcpConn;
  try {
    conn = await Deno.connect({ hostname: proxy.hostname, port: proxy.port, signal: limit });
  } catch (err) {
    throw toNetworkError(err, "connect", `${address} (--proxy ${proxy.shown})`);
  }
  conn.setNoDelay(true);
  const onAbort = () => closeQuietly(conn);
  limit.addEventListener("abort", onAbort, { once: true });
  try {
    await hop.run(conn, address, target, proxy.auth);
    return conn;
  } catch (err) {
    closeQuietly(conn);
    if (limit.aborted) {
      const timedOut = limit.reason instanceof DOMException && limit.reason.name === "TimeoutError";
      if (!timedOut) throw limit.reason;
      const within = signal ? "within the --timeout" : `within ${PROXY_ANSWER_MS / 1000} s`;
      throw new SockkitError(
        `the ${hop.label} proxy ${address} did not answer ${within} (--proxy ${proxy.shown})`,
      );
    }
    if (err instanceof SockkitError) throw err;
    throw toNetworkError(err, "connect", `${address} (--proxy ${proxy.shown})`);
  } finally {
    limit.removeEventListener("abort", onAbort);
  }
}
