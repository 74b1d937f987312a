/**
 * How `sockkit bench` shows itself: the start line, the live progress line, the final table and the
 * `--histogram` chart.
 * @module
 */
import type { BenchEvent, BenchResult } from "./run.ts";
import { formatDuration } from "../core/duration.ts";
import { plural } from "../core/format.ts";
import { DEFAULT_UDP_RATE } from "../transports/udp/client.ts";

type StartEvent = Extract<BenchEvent, { type: "start" }>;
type ProgressEvent = Extract<BenchEvent, { type: "progress" }>;

const MODE_TEXT = { pingpong: "ping-pong", stream: "stream", connect: "connect-only" } as const;
const BAR_WIDTH = 40;

/** `1,234,567`: a whole number with thousands separators. */
export function formatCount(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

/** Milliseconds with three significant decimals: `0.412 ms`, `12.3 ms`, `1,204 ms`. */
export function formatMs(ms: number): string {
  if (ms < 10) return `${ms.toFixed(3)} ms`;
  if (ms < 100) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${ms.toFixed(1)} ms`;
  return `${formatCount(ms)} ms`;
}

/** The line printed before the load starts. */
export function formatStart(e: StartEvent): string {
  const span = e.requests !== undefined
    ? `${formatCount(e.requests)} requests`
    : formatDuration(e.durationMs ?? 0);
  const udp = e.transport === "udp";
  return `Benchmarking ${e.address}: ${MODE_TEXT[e.mode]}${udp ? " over UDP" : ""}, ${e.loop} loop, ${
    plural(e.connections, udp ? "socket" : "connection")
  }, ` +
    `${plural(e.size, "byte")} per ${udp ? "datagram" : "message"}, ${span}, ${plural(e.workers, "worker")}`;
}

/** The live one-line progress display. */
export function formatProgress(e: ProgressEvent): string {
  return `${(e.elapsedMs / 1000).toFixed(1)} s  ${formatCount(e.messages)} messages  ` +
    `${formatCount(e.messagesPerSec)} msg/s  ${formatCount(e.errors)} errors` +
    (e.lost === undefined ? "" : `  ${formatCount(e.lost)} lost`);
}

/** The final table: one labelled line per figure. */
export function formatResult(r: BenchResult): string[] {
  const seconds = r.elapsedMs / 1000;
  const unit = r.transport === "udp"
    ? "datagrams"
    : r.mode === "connect"
    ? "connections"
    : r.mode === "stream"
    ? "writes"
    : "messages";
  const lines = [
    row("throughput", `${formatCount(r.messagesPerSec)} ${unit}/s, ${r.mbPerSec.toFixed(2)} MB/s`),
    row(
      "total",
      `${formatCount(r.messages)} ${unit}, ${formatCount(r.bytes)} bytes echoed in ${seconds.toFixed(2)} s`,
    ),
  ];
  lines.push(...formatDatagrams(r));
  if (r.latency) {
    const l = r.latency;
    const from = r.loop === "open" ? "  (from each message's due time)" : "";
    const figures = `p50 ${formatMs(l.p50)}  p90 ${formatMs(l.p90)}  p99 ${formatMs(l.p99)}  ` +
      `p99.9 ${formatMs(l.p999)}  max ${formatMs(l.max)}`;
    lines.push(row("latency", figures + from));
  }
  const c = r.connectTime;
  if (c.count > 0) {
    lines.push(
      row(
        "connect",
        `${formatCount(c.count)} connect${c.count === 1 ? "" : "s"}: p50 ${formatMs(c.p50)}  p99 ${
          formatMs(c.p99)
        }  max ${formatMs(c.max)}`,
      ),
    );
  }
  if (r.fairness) {
    const f = r.fairness;
    const ratio = f.median > 0 ? ` (slowest/median ${(f.min / f.median).toFixed(2)})` : "";
    lines.push(
      row(
        r.transport === "udp" ? "per socket" : "per connection",
        `${r.mode === "stream" ? "writes echoed" : "round trips"} min ${formatCount(f.min)}  median ${
          formatCount(f.median)
        }  max ${formatCount(f.max)}${ratio}`,
      ),
    );
  }
  lines.push(row("generator CPU", `${r.generatorCpuPercent.toFixed(0)}% of one core`));
  lines.push(row("errors", formatErrors(r)));
  lines.push(...formatLossHint(r));
  return lines;
}

/** UDP: sent, received, lost (with the loss in %), and the late and foreign replies when there were any. */
function formatDatagrams(r: BenchResult): string[] {
  if (r.transport !== "udp") return [];
  const extra = [
    r.late ? `, ${formatCount(r.late)} answered after --timeout` : "",
    r.strays ? `, ${formatCount(r.strays)} from other addresses (ignored)` : "",
  ].join("");
  return [
    row(
      "datagrams",
      `sent ${formatCount(r.sent ?? 0)}  received ${formatCount(r.received ?? 0)}  lost ${
        formatCount(r.lost ?? 0)
      } (${(r.lossPercent ?? 0).toFixed(1)}%)${extra}`,
    ),
  ];
}

/**
 * UDP: heavy loss, or loss with no more replies in all than sockkit's default reply rate allows one source IP
 * (a second's burst plus the rate; every socket of the bench is the same source IP), is most likely a
 * sockkit server's `--udp-rate`.
 */
function formatLossHint(r: BenchResult): string[] {
  if (r.transport !== "udp" || !r.lost) return [];
  const rateLimited = (r.received ?? 0) <= DEFAULT_UDP_RATE * (r.elapsedMs / 1000 + 1) * 1.1;
  if ((r.lossPercent ?? 0) <= 50 && !rateLimited) return [];
  return [
    row(
      "hint",
      `a sockkit server answers each source IP at most --udp-rate times a second (default ${DEFAULT_UDP_RATE}): ` +
        `bench it with --udp-rate 0`,
    ),
  ];
}

function row(label: string, value: string): string {
  return `  ${label.padEnd(16)}${value}`;
}

/**
 * The one-line failure for a run in which nothing was echoed back but errors were counted (a server that is
 * not an echo server, or one that closes or stalls at once): the errors, not a table of zeros. Undefined when
 * something was echoed, or when nothing failed.
 */
export function formatNothingEchoed(r: BenchResult): string | undefined {
  if (r.messages > 0 || r.errors === 0) return undefined;
  const kinds = Object.entries(r.errorKinds).map(([kind, n]) => `${formatCount(n)} × ${kind}`).join("; ");
  const hint = "reply differs from what was sent" in r.errorKinds
    ? " (sockkit bench loads echo servers: is this one?)"
    : "";
  return `nothing came back from ${r.address} as sent: ${kinds}${hint}`;
}

function formatErrors(r: BenchResult): string {
  if (r.errors === 0) return "0";
  const kinds = Object.entries(r.errorKinds).map(([kind, n]) => `${formatCount(n)} × ${kind}`);
  return `${formatCount(r.errors)}: ${kinds.join("; ")}`;
}

/**
 * The latency distribution as a terminal chart: one bar per percentile, on a log scale from the fastest
 * to the slowest reply.
 */
export function formatHistogram(r: BenchResult): string[] {
  if (!r.spectrum || !r.latency) return ["  (no latency recorded)"];
  const lo = Math.max(r.latency.min, 0.001);
  const span = Math.log(Math.max(r.latency.max, lo * 1.0001) / lo);
  const lines = ["  latency by percentile (log scale)"];
  for (const { percentile, ms } of r.spectrum) {
    const width = 1 + Math.round((BAR_WIDTH - 1) * (Math.log(Math.max(ms, lo) / lo) / span));
    const label = percentile === 0 ? "min" : percentile === 100 ? "max" : `p${percentile}`;
    lines.push(`  ${label.padStart(7)} ${formatMs(ms).padStart(11)} ${"█".repeat(width)}`);
  }
  return lines;
}
