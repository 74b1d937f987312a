/**
 * Taking turns on a busy event loop. Deno completes a read at once, without going back to the event loop,
 * when data is already waiting in the socket. Under load, connections whose data keeps arriving in time can
 * then run from one such read to the next indefinitely, and the reads of all other connections, which only
 * the event loop can deliver, wait: some connections starve. Reading at most a few times in a row and then
 * waiting for `EventLoopTurns.next()` lets the event loop deliver everyone else's reads first.
 * @module
 */

/** Reads a connection may complete in a row before it waits for the event loop to turn. */
export const READS_PER_TURN = 8;

/**
 * Resolves waiters once the event loop has turned: a MessageChannel message is a macrotask that costs a few
 * microseconds (`setTimeout(0)` costs a millisecond or more). Everyone waiting in the same turn shares one
 * message. `close()` releases the channel; the owner calls it when it stops.
 *
 * @example
 * ```ts
 * const turns = new EventLoopTurns();
 * await turns.next(); // other connections' reads were delivered meanwhile
 * turns.close();
 * ```
 */
export class EventLoopTurns {
  #channel: MessageChannel | undefined;
  #waiting: PromiseWithResolvers<void> | undefined;
  #closed = false;

  /** Resolves on the next turn of the event loop (at once after `close()`). */
  next(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (!this.#waiting) {
      this.#waiting = Promise.withResolvers<void>();
      this.#channelPort().postMessage(null);
    }
    return this.#waiting.promise;
  }

  /** Stops: frees the channel and lets any waiter go. */
  close(): void {
    this.#closed = true;
    this.#channel?.port1.close();
    this.#channel?.port2.close();
    this.#channel = undefined;
    this.#release();
  }

  #channelPort(): MessagePort {
    if (!this.#channel) {
      this.#channel = new MessageChannel();
      this.#channel.port1.onmessage = () => this.#release();
    }
    return this.#channel.port2;
  }

  #release(): void {
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.resolve();
  }
}
