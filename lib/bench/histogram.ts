/**
 * Latency histograms for `sockkit bench`: HdrHistogram (fixed memory, 3 significant digits from 1 µs to
 * 60 s), recorded in milliseconds, merged across workers through their compact encoding.
 * @module
 */
import * as hdr from "hdr-histogram-js";

const MICROS_PER_MS = 1000;
/** The largest latency kept apart from the rest: slower replies are recorded as 60 s. */
const HIGHEST_MICROS = 60_000_000;

/** The percentiles a bench result reports, in milliseconds. */
export interface LatencySummary {
  count: number;
  min: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

/** Percentiles shown by the `--histogram` chart. */
export const CHART_PERCENTILES = [0, 50, 75, 90, 95, 99, 99.9, 99.99, 100] as const;

/**
 * A latency histogram of fixed size (about 70 KiB whatever is recorded).
 *
 * @example
 * ```ts
 * const h = new LatencyHistogram();
 * h.record(0.25); h.record(1.5);
 * h.summary().p50; // 0.25
 * ```
 */
export class LatencyHistogram {
  #h = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: HIGHEST_MICROS,
    numberOfSignificantValueDigits: 3,
    bitBucketSize: 32,
    useWebAssembly: false,
  });

  /** Records one latency in milliseconds (clamped to 1 µs … 60 s). */
  record(ms: number): void {
    const micros = Math.round(ms * MICROS_PER_MS);
    this.#h.recordValue(Math.min(HIGHEST_MICROS, Math.max(1, micros)));
  }

  /** How many latencies were recorded. */
  get count(): number {
    return this.#h.totalCount;
  }

  /** Adds every value of another histogram (e.g. one decoded from a worker). */
  merge(other: LatencyHistogram): void {
    this.#h.add(other.#h);
  }

  /** The latency at a percentile (0–100), in milliseconds. */
  at(percentile: number): number {
    if (this.#h.totalCount === 0) return 0;
    if (percentile <= 0) return this.#h.minNonZeroValue / MICROS_PER_MS;
    return this.#h.getValueAtPercentile(percentile) / MICROS_PER_MS;
  }

  /** Count, mean and the reported percentiles, in milliseconds. */
  summary(): LatencySummary {
    const h = this.#h;
    return {
      count: h.totalCount,
      min: this.at(0),
      mean: h.totalCount === 0 ? 0 : h.mean / MICROS_PER_MS,
      p50: this.at(50),
      p90: this.at(90),
      p99: this.at(99),
      p999: this.at(99.9),
      max: h.totalCount === 0 ? 0 : h.maxValue / MICROS_PER_MS,
    };
  }

  /** The latency at each of `CHART_PERCENTILES`, for drawing the distribution. */
  spectrum(): { percentile: number; ms: number }[] {
    return CHART_PERCENTILES.map((percentile) => ({
      percentile,
      ms: percentile >= 100 ? this.summary().max : this.at(percentile),
    }));
  }

  /** A compact text form that can cross a worker boundary. */
  encode(): string {
    return hdr.encodeIntoCompressedBase64(this.#h);
  }

  /** Rebuilds a histogram from `encode()`'s text. */
  static decode(text: string): LatencyHistogram {
    const out = new LatencyHistogram();
    const decoded = hdr.decodeFromCompressedBase64(text, 32, false);
    out.#h.add(decoded);
    decoded.destroy();
    return out;
  }
}
