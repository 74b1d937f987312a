/**
 * The accept loop the server and the relay share: it survives "too many open files" and peers that are gone
 * before they are accepted, and reports recurring failures at most once a second.
 * @module
 */
import type { EventSink, ServerEvent } from "../report/events.ts";
import { networkReason } from "../core/errors.ts";
import { isClosedError, sleep } from "../core/io.ts";
import type { Connection, Listener } from "../transports/types.ts";

/** Accept failures of one kind are reported at most this often. */
const WARNING_INTERVAL_MS = 1000;

/** Logs a recurring accept failure at most once a second, with how often it happened meanwhile. */
function rateLimitedWarner(emit: EventSink<ServerEvent>) {
  let lastAt = -Infinity;
  let suppressed = 0;
  return (message: string) => {
    const now = performance.now();
    if (now - lastAt < WARNING_INTERVAL_MS) {
      suppressed++;
      return;
    }
    const extra = suppressed > 0 ? ` (${suppressed} more since the last report)` : "";
    emit({ type: "warning", message: message + extra });
    lastAt = now;
    suppressed = 0;
  };
}

function isOutOfDescriptors(err: unknown): boolean {
  return err instanceof Error && /too many open files|os error 2[34]\b/i.test(err.message);
}

/** True for the errors of a connection that was reset or aborted before `accept()` returned it. */
function isGoneBeforeAccept(err: unknown): boolean {
  return err instanceof Deno.errors.NotConnected || err instanceof Deno.errors.ConnectionAborted ||
    err instanceof Deno.errors.ConnectionReset;
}

/**
 * Accepts connections until `signal` aborts or the listener closes, handing each to `onConn` (step 3 of the
 * socket formula). A peer that reset in the backlog is skipped; running out of descriptors is reported at
 * most once a second and backed off (10 ms, doubling to 500 ms) until others leave.
 *
 * @example
 * ```ts ignore
 * await acceptLoop(listener, signal, console.log, (conn) => serve(conn));
 * ```
 */
export async function acceptLoop(
  listener: Listener,
  signal: AbortSignal,
  emit: EventSink<ServerEvent>,
  onConn: (conn: Connection) => void,
): Promise<void> {
  const warn = rateLimitedWarner(emit);
  let backoffMs = 10;
  while (!signal.aborted) {
    let conn: Connection;
    try {
      conn = await listener.accept();
    } catch (err) {
      if (signal.aborted || isClosedError(err)) return;
      // A client that reset while it waited in the backlog: normal on the Internet, nobody to serve.
      if (isGoneBeforeAccept(err)) continue;
      if (isOutOfDescriptors(err)) {
        warn(`cannot accept: too many open files; new clients wait until others leave (raise 'ulimit -n')`);
        await sleep(backoffMs, signal);
        backoffMs = Math.min(backoffMs * 2, 500);
      } else {
        warn(`cannot accept: ${networkReason(err)}`);
      }
      continue;
    }
    backoffMs = 10;
    onConn(conn);
  }
}
