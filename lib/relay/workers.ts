/**
 * A relay spread over several event loops (`sockkit relay --workers N`, the default for a TCP or TLS listen
 * address), through the loops every command shares (lib/loops/): each loop runs lib/relay/run.ts on its share of the
 * clients (lib/relay/worker.ts); pair numbers and `--max-conns` live in cells the loops share
 * (lib/loops/slots.ts); the main thread says what a relay on one loop says, once, and adds up the summaries.
 * @module
 */
import type { RelayOptions, RunRelayContext } from "./run.ts";
import type { ServerSummary } from "../report/events.ts";
import { type LoopPlan, loopPlan } from "../loops/plan.ts";
import { shareAddress, startLoops } from "../loops/pool.ts";
import { PairSlots } from "./slots.ts";
import type { RelayLoopStart } from "./worker.ts";
import { RelayTotals } from "./totals.ts";

/** Event loops a relay spreads its pairs over when `--workers` is not given and it can. */
export const DEFAULT_RELAY_WORKERS = 2;

const WORKER_URL = new URL("./worker.ts", import.meta.url);

/**
 * How many event loops a relay runs (see `loopPlan`): `asked`, or two where the listen address can be
 * shared, else one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const tcp = { transport: "tcp", hostname: "127.0.0.1", port: 0 } as const;
 * assert.deepEqual(relayLoops(undefined, { listen: tcp }), { count: 2 });
 * assert.deepEqual(relayLoops(undefined, { listen: { transport: "unix", path: "/tmp/s" } }), { count: 1 });
 * ```
 */
export function relayLoops(asked: number | undefined, opts: Pick<RelayOptions, "listen" | "io">): LoopPlan {
  return loopPlan(asked, {
    listen: opts.listen,
    io: opts.io,
    defaultCount: DEFAULT_RELAY_WORKERS,
    doing: "relaying",
    workerUrl: WORKER_URL,
  });
}

/**
 * Runs a stream relay on `count` worker threads until `signal` aborts; events and the summary are those of
 * a relay on one event loop (lib/relay/run.ts), said once for the whole relay.
 *
 * @example
 * ```ts ignore
 * const ac = new AbortController();
 * const done = runRelayWorkers({
 *   listen: { transport: "tcp", hostname: "127.0.0.1", port: 0 },
 *   target: { transport: "tcp", hostname: "127.0.0.1", port: 1234 },
 * }, 2, { signal: ac.signal, onEvent: console.log });
 * ac.abort();
 * await done;
 * ```
 */
export async function runRelayWorkers(
  opts: RelayOptions,
  count: number,
  ctx: RunRelayContext = {},
): Promise<ServerSummary> {
  const emit = ctx.onEvent ?? (() => {});
  const signal = ctx.signal ?? new AbortController().signal;
  const startedAt = performance.now();
  const { endpoint, address } = await shareAddress(opts.listen, emit);
  const shared = PairSlots.shared();
  const slots = new PairSlots(shared);
  const start: RelayLoopStart = {
    opts: { ...opts, listen: endpoint },
    shared,
    startedAt: performance.timeOrigin + startedAt,
  };
  const pool = startLoops({
    url: WORKER_URL,
    count,
    start: () => start,
    signal,
    emit,
    onListening: (first) => emit({ ...first, address }),
    onStopping: () => emit({ type: "stopping", active: slots.active }),
  });
  const totals = new RelayTotals(startedAt);
  for (const summary of await pool.done) totals.add(summary);
  return totals.summarize(address, emit);
}
