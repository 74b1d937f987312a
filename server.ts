/**
 * `sockkit server` as a library: the echo, chat, broadcast and discard server over TCP, TLS, Unix sockets, UDP
 * and WebSocket. A thin entry point: the server lives in lib/server/run.ts, with the rest of lib/server/.
 *
 * @example
 * ```ts ignore
 * import { runServer } from "./server.ts";
 * const ac = new AbortController();
 * await runServer({ endpoint: { transport: "tcp", hostname: "127.0.0.1", port: 1234 } }, { signal: ac.signal });
 * ```
 * @module
 */
export * from "./lib/server/run.ts";
