import { networkReason, SockkitError } from "./errors.ts";

interface Waiter {
  start: number;
  end: number;
  buf: Uint8Array;
  resolve: (reply: Uint8Array) => void;
  reject: (err: unknown) => void;
}

/**
 * Follows the byte stream coming back from an echo server and hands out the reply to each message by its
 * offset in the stream. A reply that timed out is skipped when its bytes arrive late, so later replies stay
 * matched to their messages. Holds at most one reply in memory.
 *
 * @example
 * ```ts
 * const replies = new ReplyTracker();
 * const reply = replies.expect(0, 5, 1000); // before sending 5 bytes
 * replies.push(new TextEncoder().encode("Hello")); // as bytes arrive
 * await reply; // Uint8Array "Hello"
 * ```
 */
export class ReplyTracker {
  /** Bytes received so far. */
  received = 0;
  #ended = false;
  #endError: unknown;
  #waiter: Waiter | null = null;

  /** Feeds bytes read from the connection. */
  push(chunk: Uint8Array): void {
    const w = this.#waiter;
    const from = this.received;
    this.received += chunk.length;
    if (!w) return;
    const lo = Math.max(from, w.start);
    const hi = Math.min(this.received, w.end);
    if (hi > lo) w.buf.set(chunk.subarray(lo - from, hi - from), lo - w.start);
    if (this.received >= w.end) {
      this.#waiter = null;
      w.resolve(w.buf);
    }
  }

  /** Marks the end of the stream (`err` when it ended with an error); a pending reply fails. */
  end(err?: unknown): void {
    this.#ended = true;
    this.#endError = err;
    const w = this.#waiter;
    if (w) {
      this.#waiter = null;
      w.reject(this.#endOfStreamError(w));
    }
  }

  /**
   * Resolves to the bytes at stream offsets `[start, end)` once they have all arrived; rejects with a
   * `SockkitError` when `timeoutMs` passes first or the stream ends, and with `signal`'s reason on abort.
   * Call it before sending, so no byte of the reply can be missed.
   */
  expect(start: number, end: number, timeoutMs: number, signal?: AbortSignal): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      const buf = new Uint8Array(end - start);
      if (this.#ended) return reject(this.#endOfStreamError({ start, end }));
      const timer = { id: undefined as ReturnType<typeof setTimeout> | undefined };
      const finish = () => {
        clearTimeout(timer.id);
        signal?.removeEventListener("abort", onAbort);
      };
      const waiter: Waiter = {
        start,
        end,
        buf,
        resolve: (r) => (finish(), resolve(r)),
        reject: (e) => (finish(), reject(e)),
      };
      const onAbort = () => {
        if (this.#waiter === waiter) this.#waiter = null;
        waiter.reject(signal!.reason);
      };
      timer.id = setTimeout(() => {
        if (this.#waiter === waiter) this.#waiter = null;
        waiter.reject(
          new SockkitError(
            `no complete reply within ${timeoutMs} ms (got ${this.#got(waiter)} of ${end - start} bytes)`,
          ),
        );
      }, timeoutMs);
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiter = waiter;
      if (signal?.aborted) onAbort();
    });
  }

  #got(w: { start: number; end: number }): number {
    return Math.max(0, Math.min(this.received, w.end) - w.start);
  }

  #endOfStreamError(w: { start: number; end: number }): SockkitError {
    const got = `got ${this.#got(w)} of ${w.end - w.start} bytes`;
    if (this.#endError instanceof SockkitError) return this.#endError;
    if (this.#endError !== undefined) {
      return new SockkitError(`${networkReason(this.#endError)} before the full reply (${got})`);
    }
    return new SockkitError(`the server closed the connection before the full reply (${got})`);
  }
}
