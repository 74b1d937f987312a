/**
 * One event loop of a relay spread over threads (`sockkit relay --workers N`, lib/relay/workers.ts): it runs
 * the relay itself (lib/relay/run.ts: accept loop, guard rails, pairs) on the shared port (lib/loops/loop.ts).
 * @module
 */
import { type RelayOptions, runRelay } from "./run.ts";
import { runAsLoop } from "../loops/loop.ts";

/** What a relay loop is started with: the options, the cells shared with the other loops, the start time. */
export interface RelayLoopStart {
  opts: RelayOptions;
  shared: Int32Array;
  startedAt: number;
}

runAsLoop<RelayLoopStart>(({ opts, shared, startedAt }, loop) =>
  runRelay(opts, { signal: loop.signal, shared, startedAt, onEvent: loop.emit })
);
