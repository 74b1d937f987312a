/**
 * The load for any transport: what `bench.ts` and the bench worker start for each share of a bench.
 * @module
 */
import type { Endpoint } from "../transports/dispatch.ts";
import { Load, type LoadDriver, type LoadSpec } from "./load.ts";
import { UdpLoad } from "./udp_load.ts";

/** A `LoadSpec` for any transport: what `bench.ts` hands to a runner or a worker. */
export type AnyLoadSpec = Omit<LoadSpec, "endpoint"> & { endpoint: Endpoint };

/**
 * The load for a spec: a `UdpLoad` for a UDP endpoint, a `Load` for TCP, TLS and Unix sockets.
 *
 * @example
 * ```ts
 * const load = createLoad({ endpoint: { transport: "udp", hostname: "127.0.0.1", port: 7777 },
 *   mode: "pingpong", connections: 4, firstConnection: 0, size: 64, pipeline: 1, timeoutMs: 1000 });
 * ```
 */
export function createLoad(spec: AnyLoadSpec): LoadDriver {
  const endpoint = spec.endpoint;
  if (endpoint.transport === "udp") return new UdpLoad({ ...spec, endpoint });
  return new Load({ ...spec, endpoint });
}
