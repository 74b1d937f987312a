/**
 * A Deno worker that runs one `Load` for `sockkit bench`, driven by messages from `bench.ts`:
 * `start` (open the connections, answer `ready` with how many opened), `go`, `stop`; it answers with `progress` every
 * `PROGRESS_INTERVAL_MS` and `done` with its result.
 * @module
 */
import type { LoadDriver, LoadProgress, LoadResult } from "./load.ts";
import { type AnyLoadSpec, createLoad } from "./loads.ts";

/** What `bench.ts` tells a worker. */
export type ToWorker = { type: "start"; spec: AnyLoadSpec } | { type: "go" } | { type: "stop" };

/** What a worker tells `bench.ts`. */
export type FromWorker =
  | { type: "ready"; connected: number }
  | ({ type: "progress" } & LoadProgress)
  | { type: "done"; result: LoadResult }
  | { type: "failed"; message: string };

/** How often a worker reports its counters. */
export const PROGRESS_INTERVAL_MS = 250;

const scope = self as unknown as {
  postMessage(message: FromWorker): void;
  onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
  close(): void;
};

let load: LoadDriver | undefined;

async function start(spec: AnyLoadSpec): Promise<void> {
  load = createLoad(spec);
  await load.open();
  scope.postMessage({ type: "ready", connected: load.connected });
}

async function go(current: LoadDriver): Promise<void> {
  const ticker = setInterval(
    () => scope.postMessage({ type: "progress", ...current.progress() }),
    PROGRESS_INTERVAL_MS,
  );
  try {
    await current.run();
  } finally {
    clearInterval(ticker);
  }
  scope.postMessage({ type: "done", result: current.result() });
  scope.close();
}

function reportFailure(err: unknown): void {
  scope.postMessage({ type: "failed", message: err instanceof Error ? err.message : String(err) });
  scope.close();
}

scope.onmessage = (event) => {
  const message = event.data;
  if (message.type === "start") start(message.spec).catch(reportFailure);
  else if (message.type === "go" && load) go(load).catch(reportFailure);
  else if (message.type === "stop") load?.stop();
};
