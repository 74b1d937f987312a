/**
 * One event loop of a relay spread over threads (`sockkit relay --workers N`, lib/relay/workers.ts). It runs
 * the relay itself (relay.ts: accept loop, guard rails, pairs) on the shared port, driven by messages:
 * `start` (the options and the cells shared with the other loops), `revoke` (the main thread dropped its
 * file access once listening: do the same), `stop` (Ctrl-C: drain as the relay does). It tells each event as it
 * happens, then `done` with its own summary, or `failed`.
 * @module
 */
import { type RelayOptions, runRelay } from "../../relay.ts";
import type { ServerEvent, ServerSummary } from "../report/events.ts";
import { ExitCode, SockkitError } from "../core/errors.ts";

/** What the main thread tells a relay worker. */
export type ToRelayWorker =
  | { type: "start"; opts: RelayOptions; shared: Int32Array; startedAt: number }
  | { type: "revoke"; names: ("read" | "write")[] }
  | { type: "stop" };

/** What a relay worker tells the main thread. */
export type FromRelayWorker =
  | { type: "event"; event: ServerEvent }
  | { type: "done"; summary: ServerSummary }
  | { type: "failed"; message: string; exitCode: number };

const scope = self as unknown as {
  postMessage(message: FromRelayWorker): void;
  onmessage: ((event: MessageEvent<ToRelayWorker>) => void) | null;
  close(): void;
};

const stopping = new AbortController();

async function start(opts: RelayOptions, shared: Int32Array, startedAt: number): Promise<void> {
  try {
    const summary = await runRelay(opts, {
      signal: stopping.signal,
      shared,
      startedAt,
      onEvent: (event) => scope.postMessage({ type: "event", event }),
    });
    scope.postMessage({ type: "done", summary });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const exitCode = err instanceof SockkitError ? err.exitCode : ExitCode.Failure;
    scope.postMessage({ type: "failed", message, exitCode });
  }
  scope.close();
}

scope.onmessage = (event) => {
  const message = event.data;
  if (message.type === "start") start(message.opts, message.shared, message.startedAt);
  else if (message.type === "revoke") {
    for (const name of message.names) Deno.permissions.revokeSync({ name });
  } else stopping.abort();
};
