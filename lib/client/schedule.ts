/**
 * How the client paces a once or repeat run, over every transport: how many messages it sends, and when each
 * next one is due (every `intervalMs` counted from the first, so a slow reply does not make the run drift).
 * @module
 */
import { sleep } from "../core/io.ts";

/**
 * The pacing of one run.
 *
 * @example
 * ```ts
 * const schedule = new RepeatSchedule({ mode: "repeat", count: 3, intervalMs: 10 });
 * for (let seq = 1; schedule.wants(seq); seq++) {
 *   // send message `seq`, wait for its reply
 *   await schedule.waitAfter(seq);
 * }
 * ```
 */
export class RepeatSchedule {
  /** True for `--repeat` (a lost reply is counted, not an error). */
  readonly repeat: boolean;
  /** How many messages: 1 when not repeating, `--count` or no end when repeating. */
  readonly count: number;
  readonly #intervalMs: number;
  readonly #firstAt = performance.now();

  constructor(opts: { mode?: string; count?: number; intervalMs?: number }) {
    this.repeat = opts.mode === "repeat";
    this.count = this.repeat ? opts.count ?? Infinity : 1;
    this.#intervalMs = opts.intervalMs ?? 1000;
  }

  /** True while message `seq` is to be sent (and the run was not interrupted). */
  wants(seq: number, signal?: AbortSignal): boolean {
    return seq <= this.count && !signal?.aborted;
  }

  /** Waits until the message after `seq` is due; returns at once after the last one, or when `signal` aborts. */
  async waitAfter(seq: number, signal?: AbortSignal): Promise<void> {
    if (seq < this.count) {
      await sleep(Math.max(0, this.#firstAt + seq * this.#intervalMs - performance.now()), signal);
    }
  }
}
