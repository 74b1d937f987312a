/**
 * One event loop of a server spread over threads (`sockkit server --workers N`, lib/server/loops.ts): it
 * runs the server itself (lib/server/run.ts: accept loop, guard rails, the mode) on the shared port, its room
 * meeting the other loops' through a `LoopHub` (lib/hub/loops.ts) over the main thread.
 * @module
 */
import { runServer, type ServerOptions } from "./run.ts";
import { LoopHub, type ToLoopHub } from "../hub/loops.ts";
import { runAsLoop } from "../loops/loop.ts";
import { isFedTrace, TraceFeed } from "../web/traces.ts";

/** What a server loop is started with (see `ServerLoopShare` in lib/server/run.ts). */
export interface ServerLoopStart {
  opts: ServerOptions;
  loops: number;
  slots: Int32Array;
  counters: Float64Array;
  startedAt: number;
  /** Whether the process's shared hub (Redis) could be reached when the loop was started. */
  hubReachable: boolean;
}

runAsLoop<ServerLoopStart>((start, loop) => {
  const hub = new LoopHub(loop.index, (message) => loop.send(message), start.hubReachable);
  // the loop serving --web draws every loop's calls on /trace: the others' come through the main thread
  const traces = start.opts.web && start.opts.trace ? new TraceFeed() : undefined;
  loop.onChannel((data) => {
    if (isFedTrace(data)) traces?.publish(data.trace);
    else hub.receive(data as ToLoopHub);
  });
  return runServer(start.opts, {
    signal: loop.signal,
    onEvent: loop.emit,
    loop: { ...start, index: loop.index, hub, traces },
  });
});
