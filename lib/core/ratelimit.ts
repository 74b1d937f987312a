/**
 * Rate limits in bounded memory: a token bucket, a table of them by key (UDP sources), and a log that
 * passes a recurring line a few times a second and counts the rest.
 * @module
 */

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
 * One token bucket per key (such as a source IP), in bounded memory whatever the number of keys: a bucket
 * idle long enough to be full again is forgotten by `sweep` (a new one would start full too), and with
 * `maxKeys` buckets already kept, the one used longest ago is forgotten to make room.
 *
 * @example
 * ```ts
 * const buckets = new TokenBuckets(200, 10_000);
 * const now = performance.now();
 * buckets.take("192.0.2.7", now); // true until that source has had its 200 a second
 * buckets.sweep(now); // from a timer: forgets the sources that went quiet
 * ```
 */
export class TokenBuckets {
  /** Least recently used first: each `take` moves its key to the end. */
  #buckets = new Map<string, TokenBucket>();

  constructor(
    readonly ratePerSecond: number,
    readonly maxKeys: number,
    readonly burst: number = ratePerSecond,
  ) {}

  /** How many buckets are kept now. */
  get size(): number {
    return this.#buckets.size;
  }

  /** Takes one token from `key`'s bucket (at time `now`, in ms) and says whether there was one. */
  take(key: string, now: number = performance.now()): boolean {
    let bucket = this.#buckets.get(key);
    if (bucket) {
      this.#buckets.delete(key);
    } else {
      if (this.#buckets.size >= this.maxKeys) this.#buckets.delete(this.#buckets.keys().next().value!);
      bucket = new TokenBucket(this.ratePerSecond, this.burst);
    }
    this.#buckets.set(key, bucket);
    return bucket.take(now);
  }

  /**
   * Forgets the buckets that are full again, from the one used longest ago up to the first that is not
   * (the rest are forgotten by a later sweep).
   */
  sweep(now: number = performance.now()): void {
    for (const [key, bucket] of this.#buckets) {
      if (!bucket.isFull(now)) break;
      this.#buckets.delete(key);
    }
  }
}

/**
 * Passes a recurring event through at most `perSecond` times a second (bursts of up to `burst`) and counts
 * the ones it held back: `write` gets each event passed and how many were held back since the last one.
 *
 * @example
 * ```ts
 * const refused = limited(1, (peer: string, heldBack) => console.warn(peer, heldBack));
 * refused("127.0.0.1:5000"); // written, 0 held back
 * refused("127.0.0.1:5001"); // held back; the next one written says 1
 * ```
 */
export function limited<T>(
  perSecond: number,
  write: (event: T, heldBack: number) => void,
  burst: number = Math.max(1, perSecond),
): (event: T) => void {
  const bucket = new TokenBucket(perSecond, burst);
  let heldBack = 0;
  return (event) => {
    if (!bucket.take()) {
      heldBack++;
      return;
    }
    write(event, heldBack);
    heldBack = 0;
  };
}

/** ` (3 more like this not shown)` after a line that stands for others held back, or nothing. */
export function heldBackNote(heldBack: number): string {
  return heldBack > 0 ? ` (${heldBack} more like this not shown)` : "";
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
  return limited<string>(perSecond, (line, heldBack) => write(line + heldBackNote(heldBack)));
}
