/**
 * A token bucket: allows `ratePerSecond` events a second on average and bursts of up to `burst`, in
 * constant memory.
 *
 * @example
 * ```ts
 * const bucket = new TokenBucket(2);
 * [bucket.take(0), bucket.take(0), bucket.take(0)]; // [true, true, false]
 * bucket.take(500); // true: half a second refilled one token
 * ```
 */
export class TokenBucket {
  #tokens: number;
  #updatedAt: number | undefined;

  constructor(readonly ratePerSecond: number, readonly burst: number = ratePerSecond) {
    this.#tokens = burst;
  }

  /** Takes one token if there is one (at time `now`, in ms) and says whether it did. */
  take(now: number = performance.now()): boolean {
    if (this.#updatedAt !== undefined) {
      const refill = ((now - this.#updatedAt) / 1000) * this.ratePerSecond;
      this.#tokens = Math.min(this.burst, this.#tokens + Math.max(0, refill));
    }
    this.#updatedAt = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** True when the bucket has been idle long enough to be full again (its state can be forgotten). */
  isFull(now: number = performance.now()): boolean {
    if (this.#updatedAt === undefined) return true;
    return this.#tokens + ((now - this.#updatedAt) / 1000) * this.ratePerSecond >= this.burst;
  }
}

/**
 * Passes a recurring message through at most `perSecond` times a second and counts the ones it held back,
 * so a flood of failures makes a few log lines, not thousands.
 *
 * @example
 * ```ts
 * const log = limitedLog(1, (line) => console.warn(line));
 * log("handshake failed"); // printed
 * log("handshake failed"); // held back; the next printed line ends "(1 more like this not shown)"
 * ```
 */
export function limitedLog(perSecond: number, write: (line: string) => void): (line: string) => void {
  const bucket = new TokenBucket(perSecond);
  let heldBack = 0;
  return (line) => {
    if (!bucket.take()) {
      heldBack++;
      return;
    }
    write(heldBack > 0 ? `${line} (${heldBack} more like this not shown)` : line);
    heldBack = 0;
  };
}
