/**
 * What a bench load counts, the same for the stream load (`Load`) and the UDP load (`UdpLoad`): replies and
 * bytes checked, their latency, errors by kind, and the request budget (`--requests`) its connections draw
 * from.
 * @module
 */
import { LatencyHistogram } from "./histogram.ts";

/** What a `Load` measured; histograms are encoded so the result can leave a worker. */
export interface LoadResult {
  elapsedMs: number;
  /** Replies received complete and correct (connect mode: connections that did connect, echo, close). */
  messages: number;
  /** Echoed bytes received and checked. */
  bytes: number;
  /** Connections established. */
  connected: number;
  latency: string;
  connectTime: string;
  /** Round trips completed by each connection (not in connect mode). */
  perConnection: number[];
  /** Errors by kind: `reply differs from what was sent`, `connect: connection refused`, … */
  errors: Record<string, number>;
  /** UDP only: datagrams sent, expired unanswered after the timeout, answered after that, and from elsewhere. */
  sent?: number;
  lost?: number;
  late?: number;
  strays?: number;
}

/** Counters for the live progress display. */
export interface LoadProgress {
  messages: number;
  bytes: number;
  errors: number;
  /** UDP only: datagrams counted lost so far. */
  lost?: number;
}

/**
 * The counters of one load.
 *
 * @example
 * ```ts
 * const tally = new LoadTally(100);
 * tally.take(8); // 8: eight messages may be sent
 * tally.error("reply differs from what was sent");
 * tally.progress(); // { messages: 0, bytes: 0, errors: 1 }
 * ```
 */
export class LoadTally {
  readonly latency = new LatencyHistogram();
  /** Errors by kind: `reply differs from what was sent`, `connect: connection refused`, … */
  readonly errors: Record<string, number> = {};
  errorCount = 0;
  /** Replies received complete and correct. */
  messages = 0;
  /** Echoed bytes received and checked. */
  bytes = 0;
  #budget: number;

  /** `requests`: messages to send in all (default: no limit). */
  constructor(requests?: number) {
    this.#budget = requests ?? Infinity;
  }

  /** Messages that may still be sent (Infinity without a request count). */
  get budget(): number {
    return this.#budget;
  }

  /** Counts one error of `kind`. */
  error(kind: string): void {
    this.errors[kind] = (this.errors[kind] ?? 0) + 1;
    this.errorCount++;
  }

  /** Takes up to `n` messages from the request budget and says how many were granted. */
  take(n: number): number {
    const granted = Math.min(n, this.#budget);
    this.#budget -= granted;
    return granted;
  }

  /**
   * The result fields the tally itself knows, for a load that ran from `startedAt` to `stoppedAt`
   * (`performance.now()` readings; 0: not started, not stopped yet).
   */
  measured(startedAt: number, stoppedAt: number): Pick<
    LoadResult,
    "elapsedMs" | "messages" | "bytes" | "latency" | "errors"
  > {
    const end = stoppedAt || performance.now();
    return {
      elapsedMs: startedAt === 0 ? 0 : end - startedAt,
      messages: this.messages,
      bytes: this.bytes,
      latency: this.latency.encode(),
      errors: { ...this.errors },
    };
  }

  /** The counters for the live progress display. */
  progress(): LoadProgress {
    return { messages: this.messages, bytes: this.bytes, errors: this.errorCount };
  }
}
