/**
 * The relay loop: one two-way copy between two stream connections, with half-close. It reads like the
 * specification of when a pair is done:
 *
 * - bytes read from one side are written, all of them, to the other before the next read (so a side that
 *   does not read slows the other down: TCP pushes back, and memory stays at one buffer per direction:
 *   16 KiB, or 1 MiB once a read filled the small one);
 * - end of stream from one side shuts down the sending side of the other; the opposite direction keeps
 *   flowing;
 * - the pair is done when both directions have ended, or at once when either side fails (a reset, a broken
 *   pipe): then both are closed.
 * @module
 */
import type { Connection } from "../transports/types.ts";
import { networkReason } from "../core/errors.ts";
import { closeQuietly, isClosedError, writeAll } from "../core/io.ts";

/** Bytes read per call while a direction carries little (what an idle pair costs: 16 KiB each way). */
export const RELAY_BUFFER_SIZE = 16 * 1024;
/** Bytes read per call once a read filled the small buffer (a bulk transfer): what one direction holds at most. */
export const RELAY_BULK_BUFFER_SIZE = 1024 * 1024;

/** What one pair moved and why it ended. */
export interface PairResult {
  /** Bytes from the first connection (the client) to the second (the target). */
  up: number;
  /** Bytes from the second connection to the first. */
  down: number;
  /** Why it ended early (a reset, an idle timeout), or undefined when both sides ended their streams. */
  reason?: string;
}

/** A shutdown of the sending side that tolerates a peer already gone. */
async function shutdownWrite(conn: Connection): Promise<void> {
  try {
    await conn.closeWrite();
  } catch (err) {
    if (!(isClosedError(err) || err instanceof Deno.errors.NotConnected)) throw err;
  }
}

/** Copies `from` to `to` until end of stream, then shuts down `to`'s sending side. */
async function copy(from: Connection, to: Connection, moved: (n: number) => void): Promise<void> {
  let buf = new Uint8Array(RELAY_BUFFER_SIZE);
  for (;;) {
    const n = await from.read(buf);
    if (n === null) return await shutdownWrite(to);
    await writeAll(to, buf.subarray(0, n));
    moved(n);
    // Fewer system calls per byte for bulk data; a pair that only chats keeps the small buffer.
    if (n === buf.length && buf.length < RELAY_BULK_BUFFER_SIZE) buf = new Uint8Array(RELAY_BULK_BUFFER_SIZE);
  }
}

/**
 * Relays between `a` and `b` until both directions are done or one side fails; closes both and resolves
 * with the bytes moved each way. `onActivity` is called after each chunk (the idle timer); `closeWith`
 * lets the owner end the pair early (idle timeout, shutdown) with a reason.
 *
 * @example
 * ```ts ignore
 * const { up, down, reason } = await relayPair(client, await Deno.connect({ hostname: "127.0.0.1", port: 80 }));
 * ```
 */
export async function relayPair(
  a: Connection,
  b: Connection,
  onActivity: () => void = () => {},
  control: { closeWith?: (reason: string) => void } = {},
): Promise<PairResult> {
  const result: PairResult = { up: 0, down: 0 };
  let ended = false;
  const end = (reason?: string) => {
    if (ended) return;
    ended = true;
    result.reason ??= reason;
    closeQuietly(a);
    closeQuietly(b);
  };
  control.closeWith = (reason) => end(reason);
  const fail = (err: unknown) => end(isClosedError(err) ? undefined : networkReason(err));
  await Promise.all([
    copy(a, b, (n) => {
      result.up += n;
      onActivity();
    }).catch(fail),
    copy(b, a, (n) => {
      result.down += n;
      onActivity();
    }).catch(fail),
  ]);
  end();
  return result;
}
