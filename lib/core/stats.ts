import type { RttStats } from "../report/events.ts";

/**
 * Accumulates round-trip times in constant memory and reports min/avg/max/mdev as ping does.
 *
 * @example
 * ```ts
 * const rtt = new RttAccumulator();
 * rtt.add(1); rtt.add(3);
 * rtt.stats(); // { min: 1, avg: 2, max: 3, mdev: 1 }
 * ```
 */
export class RttAccumulator {
  #count = 0;
  #sum = 0;
  #sumSquares = 0;
  #min = Infinity;
  #max = -Infinity;

  /** Records one round trip, in milliseconds. */
  add(ms: number): void {
    this.#count++;
    this.#sum += ms;
    this.#sumSquares += ms * ms;
    if (ms < this.#min) this.#min = ms;
    if (ms > this.#max) this.#max = ms;
  }

  /** The statistics so far, or undefined when nothing was recorded. */
  stats(): RttStats | undefined {
    if (this.#count === 0) return undefined;
    const avg = this.#sum / this.#count;
    const variance = Math.max(0, this.#sumSquares / this.#count - avg * avg);
    return { min: this.#min, avg, max: this.#max, mdev: Math.sqrt(variance) };
  }
}
