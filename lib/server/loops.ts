/**
 * A server spread over several event loops (`sockkit server --workers N`, the default for a TCP or TLS
 * listen address): one Deno event loop serves about 100–128 busy connections evenly and starves some past
 * that (bench/NOTES.md), so each loop, a worker thread binding the port with SO_REUSEPORT
 * (lib/loops/pool.ts), serves its share of the clients with lib/server/run.ts (lib/server/worker.ts). What is the
 * whole server's lives in memory every loop shares: client numbers and `--max-conns` (lib/loops/slots.ts),
 * the counters (`ServerCounters.shared`, so `/metrics` and the summary add every loop up); a chat or
 * broadcast room is one room through the main thread's `LoopHubHost`, which is also the process's one
 * instance on Redis with `--hub`. `--web` and `--metrics` are served by the first loop, whose room meets
 * every loop's.
 * @module
 */
import { checkServerOptions, connectHub, type RunServerContext, type ServerOptions } from "./run.ts";
import type { ServerSummary } from "../report/events.ts";
import type { FedTrace } from "../web/traces.ts";
import { type FromLoopHub, LoopHubHost } from "../hub/loops.ts";
import { type LoopPlan, loopPlan, MAX_WORKERS } from "../loops/plan.ts";
import { shareAddress, startLoops } from "../loops/pool.ts";
import { SharedSlots } from "../loops/slots.ts";
import { ServerCounters, summaryOf, SummedCounters } from "../metrics/counters.ts";
import type { StreamEndpoint } from "../transports/types.ts";
import type { ServerLoopStart } from "./worker.ts";

/**
 * Event loops a server runs when `--workers` is not given: one per CPU, and at least 8, so that 500 busy
 * clients are about 62 a loop, well inside the ~128 one loop serves evenly, and a thousand still do not
 * overload one (the measurements: docs/event-loops.md, bench/NOTES.md).
 */
export const DEFAULT_SERVER_WORKERS: number = Math.max(8, navigator.hardwareConcurrency ?? 1);

/** Busy clients one loop is given at most, on average, when `--max-conns` says how many there can be. */
export const CLIENTS_PER_LOOP = 100;

/**
 * The default loops for a server: with `--max-conns`, the fewest that keep each loop at about
 * CLIENTS_PER_LOOP clients (fewer loops split the clients more evenly: the kernel's split is by hash), but
 * one per CPU at least; otherwise DEFAULT_SERVER_WORKERS.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(defaultServerLoops(500, 2), 5);
 * assert.equal(defaultServerLoops(undefined, 2), 8);
 * ```
 */
export function defaultServerLoops(
  maxConns: number | undefined,
  cpus: number = navigator.hardwareConcurrency ?? 1,
): number {
  if (maxConns === undefined) return Math.max(8, cpus);
  return Math.min(MAX_WORKERS, Math.max(cpus, Math.ceil(maxConns / CLIENTS_PER_LOOP)));
}

const WORKER_URL = new URL("./worker.ts", import.meta.url);

/**
 * How many event loops a server runs (see `loopPlan`): `asked`, or the default where the listen address
 * can be shared (TCP, TLS) and the default I/O core moves the bytes (`defaultServerLoops`); else one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const udp = { transport: "udp", hostname: "127.0.0.1", port: 0 } as const;
 * assert.deepEqual(serverLoops(undefined, { endpoint: udp }), { count: 1 });
 * ```
 */
export function serverLoops(
  asked: number | undefined,
  opts: Pick<ServerOptions, "endpoint" | "io" | "maxConns">,
): LoopPlan {
  return loopPlan(asked, {
    listen: opts.endpoint,
    io: opts.io,
    defaultCount: defaultServerLoops(opts.maxConns),
    doing: "serving",
    workerUrl: WORKER_URL,
  });
}

/**
 * Runs a server on `count` event loops until `signal` aborts; its events and summary are those of a server
 * on one loop (lib/server/run.ts), said once for the whole server.
 *
 * @example
 * ```ts ignore
 * const ac = new AbortController();
 * const done = runServerWorkers({ endpoint: { transport: "tcp", hostname: "127.0.0.1", port: 0 } }, 4, {
 *   signal: ac.signal,
 *   onEvent: console.log,
 * });
 * ac.abort();
 * await done;
 * ```
 */
export async function runServerWorkers(
  opts: ServerOptions,
  count: number,
  ctx: RunServerContext = {},
): Promise<ServerSummary> {
  const emit = ctx.onEvent ?? (() => {});
  const signal = ctx.signal ?? new AbortController().signal;
  const mode = checkServerOptions(opts);
  const startedAt = performance.now();
  // one Redis connection for the process: the loops reach it through the main thread
  const upstream = opts.hub ? await connectHub(opts.hub, mode, emit) : undefined;
  try {
    const { endpoint, address } = await shareAddress(opts.endpoint as StreamEndpoint, emit);
    const slots = SharedSlots.shared();
    const counters = ServerCounters.shared(count);
    const host: LoopHubHost = new LoopHubHost({
      loops: count,
      send: (index, message) => pool.send(index, message),
      emit,
      upstream,
    });
    const start = (index: number): ServerLoopStart => ({
      // the first loop serves --web and --metrics, for the whole server
      opts: {
        ...opts,
        endpoint,
        hub: undefined,
        web: index === 0 ? opts.web : undefined,
        metrics: index === 0 ? opts.metrics : undefined,
      },
      loops: count,
      slots,
      counters,
      startedAt: performance.timeOrigin + startedAt,
      hubReachable: host.reachable,
    });
    // with --web and --trace, the first loop's /trace page draws the other loops' calls too
    const feedTraces = opts.web !== undefined && opts.trace === true;
    const pool = startLoops({
      url: WORKER_URL,
      count,
      start,
      signal,
      emit: (event) => {
        emit(event);
        if (feedTraces && event.type === "trace" && event.loop !== undefined && event.loop > 1) {
          pool.send(0, { trace: event } satisfies FedTrace);
        }
      },
      onListening: (first) => emit({ ...first, address }),
      onStopping: () => emit({ type: "stopping", active: new SharedSlots(slots).active }),
      onChannel: (index, data) => host.receive(index, data as FromLoopHub),
    });
    await pool.done;
    const summary = summaryOf(new SummedCounters(counters, count), address, performance.now() - startedAt);
    emit({ type: "summary", ...summary });
    return summary;
  } finally {
    await upstream?.close();
  }
}
