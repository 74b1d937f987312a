/**
 * The socket calls `--trace` reports, fed to the `/trace` page of `--web`: the latest ones kept for a page
 * that opens late, and each new one handed to every page watching, as one JSON text per call with what the
 * page draws (the call as the columns show it, and which way its arrow points).
 * @module
 */
import type { TraceEvent } from "../report/events.ts";
import { arrowOf, callText } from "../report/columns.ts";

/** Calls kept for a page that opens after they were made. */
export const TRACE_HISTORY = 1000;

/** One call as the page gets it: the trace event, the call's text and its arrow (seen from the server). */
export interface TracedCall extends TraceEvent {
  text: string;
  arrow?: "right" | "left" | "both";
}

/**
 * The server's calls for the pages watching them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const feed = new TraceFeed();
 * feed.publish({ type: "trace", call: "bind", elapsedMs: 1, address: "127.0.0.1:1234" });
 * const seen: string[] = [];
 * const stop = feed.watch((call) => seen.push(call.text));
 * assert.deepEqual(seen, ["bind(127.0.0.1:1234)"]);
 * stop();
 * ```
 */
export class TraceFeed {
  readonly #history: TracedCall[] = [];
  readonly #watchers = new Set<(call: TracedCall) => void>();

  /** Keeps `event` and hands it to every page watching. */
  publish(event: TraceEvent): void {
    const call: TracedCall = { ...event, text: callText(event), arrow: arrowOf(event.call, "server") };
    this.#history.push(call);
    if (this.#history.length > TRACE_HISTORY) this.#history.shift();
    for (const watcher of this.#watchers) watcher(call);
  }

  /** Hands `watcher` the calls kept, then each new one, until the function returned is called. */
  watch(watcher: (call: TracedCall) => void): () => void {
    for (const call of this.#history) watcher(call);
    this.#watchers.add(watcher);
    return () => this.#watchers.delete(watcher);
  }
}

/** A call of another event loop, sent to the loop that serves --web for its /trace page (lib/server/loops.ts). */
export interface FedTrace {
  trace: TraceEvent;
}

/** True for a `FedTrace` (the rest of what reaches a loop over its channel is for its hub). */
export function isFedTrace(data: unknown): data is FedTrace {
  return typeof data === "object" && data !== null && "trace" in data;
}
