/**
 * Reply tracking for the stream client's repeat mode: the bytes coming back from the server, handed out to
 * each message by their offset in the stream, whenever they arrived.
 * @module
 */
import { networkReason, SockkitError } from "../core/errors.ts";

/** Bytes the server sent before any message asked for them (a banner, a greeting) are held up to this many. */
export const MAX_HELD_BYTES = 1024 * 1024;

interface Waiter {
  start: number;
  end: number;
  resolve: (reply: Uint8Array) => void;
  reject: (err: unknown) => void;
}

/**
 * Follows the byte stream coming back from an echo server and hands out the reply to each message by its
 * offset in the stream: always the bytes the server really sent there, also those that arrived before the
 * message was sent (a banner shifts every reply; each then shows what the stream held). A reply that timed
 * out is skipped when its bytes arrive late, so later replies stay matched to their messages. Holds the
 * bytes from the latest expected offset on: one reply, or what came ahead of it, up to `MAX_HELD_BYTES`.
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
  /** The stream offset of the first byte held: bytes below it are no longer wanted (or were dropped). */
  #heldFrom = 0;
  /** Held bytes are `#held[#head, #head + length)`, length `max(0, received - #heldFrom)`. */
  #held = new Uint8Array(0);
  #head = 0;
  /** Bytes from `#droppedFrom` up to `#heldFrom` arrived but were dropped: more than `MAX_HELD_BYTES` came ahead. */
  #droppedFrom = -1;

  /** Feeds bytes read from the connection. */
  push(chunk: Uint8Array): void {
    const from = this.received;
    this.received += chunk.length;
    const keep = chunk.subarray(Math.max(0, Math.min(chunk.length, this.#heldFrom - from)));
    this.#append(keep);
    const w = this.#waiter;
    if (w && this.received >= w.end) {
      this.#waiter = null;
      w.resolve(this.#take(w.start, w.end));
    }
    // A waiter still waiting holds less than its reply: only bytes that no message asked for yet are dropped.
    if (this.#heldLength > MAX_HELD_BYTES && !this.#waiter) {
      if (this.#droppedFrom < 0) this.#droppedFrom = this.#heldFrom;
      this.#release(this.received - MAX_HELD_BYTES);
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
   * Resolves to the bytes at stream offsets `[start, end)` once they have all arrived (at once when they
   * already have); rejects with a `SockkitError` when `timeoutMs` passes first, the stream ends, or they came
   * so far ahead that they were not kept, and with `signal`'s reason on abort. Call it before sending, so no
   * byte of the reply can be missed. Offsets must not go back: bytes below `start` are let go.
   */
  expect(start: number, end: number, timeoutMs: number, signal?: AbortSignal): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      if (this.#droppedFrom >= 0 && start < this.#heldFrom) {
        this.#release(start);
        return reject(
          new SockkitError(
            `reply not kept: the server sent over ${
              MAX_HELD_BYTES / 1024 / 1024
            } MiB ahead of the messages (bytes ${this.#droppedFrom}–${this.#heldFrom - 1} were dropped)`,
          ),
        );
      }
      this.#release(start);
      this.#droppedFrom = -1;
      if (this.received >= end) return resolve(this.#take(start, end));
      if (this.#ended) return reject(this.#endOfStreamError({ start, end }));
      const timer = { id: undefined as ReturnType<typeof setTimeout> | undefined };
      const finish = () => {
        clearTimeout(timer.id);
        signal?.removeEventListener("abort", onAbort);
      };
      const waiter: Waiter = {
        start,
        end,
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

  get #heldLength(): number {
    return Math.max(0, this.received - this.#heldFrom);
  }

  /** Appends the bytes just received (the last `bytes.length` of the stream) to those held. */
  #append(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    const length = this.#heldLength - bytes.length;
    if (this.#head + length + bytes.length > this.#held.length) {
      if (this.#held.length >= 2 * (length + bytes.length)) {
        this.#held.copyWithin(0, this.#head, this.#head + length);
      } else {
        const next = new Uint8Array(Math.max(4096, 2 * (length + bytes.length)));
        next.set(this.#held.subarray(this.#head, this.#head + length));
        this.#held = next;
      }
      this.#head = 0;
    }
    this.#held.set(bytes, this.#head + length);
  }

  /** Lets go of the bytes below stream offset `offset`; bytes below it that arrive later are not kept. */
  #release(offset: number): void {
    if (offset <= this.#heldFrom) return;
    const drop = Math.min(offset, this.received) - this.#heldFrom;
    if (drop > 0) this.#head += drop;
    this.#heldFrom = offset;
    if (this.#heldLength === 0) this.#head = 0;
  }

  /** A copy of the held bytes at `[start, end)`, all received; the bytes below `end` are let go. */
  #take(start: number, end: number): Uint8Array {
    const at = this.#head + (start - this.#heldFrom);
    const reply = this.#held.slice(at, at + (end - start));
    this.#release(end);
    return reply;
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
