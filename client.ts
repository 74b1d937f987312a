/**
 * `sockkit client` as a library: connect, send, and read the reply, once, repeated, piped or interactive. A
 * thin entry point: the client lives in lib/client/run.ts, with the rest of lib/client/.
 *
 * @example
 * ```ts ignore
 * import { runClient } from "./client.ts";
 * await runClient({ endpoint: { transport: "tcp", hostname: "127.0.0.1", port: 1234 } });
 * ```
 * @module
 */
export * from "./lib/client/run.ts";
