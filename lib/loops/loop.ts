/**
 * One event loop of a command spread over several (lib/loops/pool.ts), on its worker thread: it runs the
 * command on the shared port, driven by the main thread's messages (`start`, `revoke`: drop file access as the
 * main thread did, `stop`: Ctrl-C), tells each event as it happens (socket calls and bytes marked with the
 * loop's number), and ends with `done` and its summary, or `failed`.
 * @module
 */
import type { ServerEvent, ServerSummary } from "../report/events.ts";
import { ExitCode, SockkitError } from "../core/errors.ts";
import type { FromLoop, ToLoop } from "./pool.ts";

/** What a loop's command is given besides its start message. */
export interface LoopContext {
  /** This loop's number from 0. */
  index: number;
  /** Aborts at Ctrl-C (the main thread's `stop`). */
  signal: AbortSignal;
  /** Reports an event to the main thread. */
  emit(event: ServerEvent): void;
  /** Sends to the main thread's `onChannel`. */
  send(data: unknown, transfer?: Transferable[]): void;
  /** Sets who hears what the main thread sends this loop (`LoopPool.send`). */
  onChannel(handler: (data: unknown) => void): void;
}

const scope = self as unknown as {
  postMessage(message: FromLoop, transfer?: Transferable[]): void;
  onmessage: ((event: MessageEvent<ToLoop<unknown>>) => void) | null;
  close(): void;
};

/**
 * Makes this worker one loop of a command: `run` serves its share until the context's signal aborts.
 *
 * @example
 * ```ts ignore
 * runAsLoop<RelayOptions>((opts, loop) => runRelay(opts, { signal: loop.signal, onEvent: loop.emit }));
 * ```
 */
export function runAsLoop<Start>(run: (start: Start, loop: LoopContext) => Promise<ServerSummary>): void {
  const stopping = new AbortController();
  let channel: ((data: unknown) => void) | undefined;
  const early: unknown[] = [];
  const begin = async (index: number, start: Start) => {
    const loop: LoopContext = {
      index,
      signal: stopping.signal,
      emit: (event) => {
        // socket calls and bytes say which loop made them
        const marked = event.type === "trace" || event.type === "hex" ? { ...event, loop: index + 1 } : event;
        scope.postMessage({ type: "event", event: marked });
      },
      send: (data, transfer) => scope.postMessage({ type: "channel", data }, transfer),
      onChannel: (handler) => {
        channel = handler;
        for (const data of early.splice(0)) handler(data);
      },
    };
    try {
      const summary = await run(start, loop);
      scope.postMessage({ type: "done", summary });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const exitCode = err instanceof SockkitError ? err.exitCode : ExitCode.Failure;
      scope.postMessage({ type: "failed", message, exitCode });
    }
    scope.close();
  };
  scope.onmessage = ({ data: message }) => {
    switch (message.type) {
      case "start":
        return void begin(message.index, message.start as Start);
      case "revoke":
        for (const name of message.names) Deno.permissions.revokeSync({ name });
        return;
      case "stop":
        return stopping.abort();
      case "channel":
        if (channel) channel(message.data);
        else early.push(message.data);
    }
  };
}
