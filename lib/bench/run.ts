/**
 * `sockkit bench`: load an echo server with many connections, check every reply byte for byte, and report
 * throughput, latency percentiles, connect time, per-connection fairness and errors. Over UDP each connection
 * is a socket of its own and datagrams without a reply are counted lost. The load runs in Deno workers
 * (`workers`), so the generator can be scaled until it is not the bottleneck.
 * @module
 */
import process from "node:process";
import type { EventSink } from "../report/events.ts";
import { SockkitError, UsageError } from "../core/errors.ts";
import { LatencyHistogram, type LatencySummary } from "../bench/histogram.ts";
import type { LoadDriver, LoadMode, LoadProgress, LoadResult } from "../bench/load.ts";
import { type AnyLoadSpec, createLoad } from "../bench/loads.ts";
import { noReplyError } from "../bench/udp_load.ts";
import type { FromWorker, ToWorker } from "../bench/worker.ts";
import { type Endpoint, formatEndpoint, type IoCore } from "../transports/dispatch.ts";

/** What `runBench` needs; main.ts fills in the defaults. */
export interface BenchOptions {
  /** The server: TCP, TLS, a Unix socket, or UDP (ping-pong only; each connection is a socket). */
  endpoint: Endpoint;
  /** `pingpong` (default): round trips; `stream`: continuous bulk; `connect`: connect, one echo, close. */
  mode?: LoadMode;
  /** Connections held open (connect mode: connections churning at once). Default 50. */
  connections?: number;
  /** How long to run (default 10,000 ms); ignored when `requests` is given. */
  durationMs?: number;
  /** Stop after this many messages in total. */
  requests?: number;
  /** Bytes per message: default 64, or 262,144 (256 KiB) per write in stream mode. */
  size?: number;
  /** Messages in flight per connection in closed loop (default 1). */
  pipeline?: number;
  /** Open loop: messages per second in total, sent on schedule whatever the replies do. */
  rate?: number;
  /** Deno workers the connections are spread over (default 1). */
  workers?: number;
  /** Connect time limit, and how long a connection may wait for a reply (default 5000 ms). */
  timeoutMs?: number;
  /** TCP: which API moves the bytes (`--io`, default `deno`). */
  io?: IoCore;
}

/** How a bench is driven: stopped early by `signal`, observed through `onEvent`. */
export interface RunBenchContext {
  signal?: AbortSignal;
  onEvent?: EventSink<BenchEvent>;
}

/** Round trips completed per connection: the least and most served against the median. */
export interface Fairness {
  min: number;
  median: number;
  max: number;
}

/** What `runBench` resolves to. */
export interface BenchResult {
  address: string;
  mode: LoadMode;
  /** `open` when messages were sent on a schedule (`rate`), `closed` when each reply released the next. */
  loop: "closed" | "open";
  connections: number;
  workers: number;
  size: number;
  pipeline: number;
  rate?: number;
  /** Connections established (connect mode: completed connect–echo–close cycles are `messages`). */
  connected: number;
  elapsedMs: number;
  /** Replies received complete and correct. */
  messages: number;
  /** Echoed bytes received and checked. */
  bytes: number;
  messagesPerSec: number;
  /** Echoed megabytes (10^6 bytes) received per second. */
  mbPerSec: number;
  /** Round-trip latency in ms (open loop: from each message's due time); absent in stream mode. */
  latency?: LatencySummary;
  /** The latency at fixed percentiles, for the `--histogram` chart. */
  spectrum?: { percentile: number; ms: number }[];
  connectTime: LatencySummary;
  /** Absent in connect mode. */
  fairness?: Fairness;
  errors: number;
  errorKinds: Record<string, number>;
  /** CPU the generator itself used while the load ran, in % of one core (all its threads together). */
  generatorCpuPercent: number;
  /** `udp` when datagrams were sent; absent for the stream transports, as are the fields below. */
  transport?: "udp";
  /** UDP: datagrams sent; `received` (= `messages`) came back intact; `lost` got none within the timeout. */
  sent?: number;
  received?: number;
  lost?: number;
  /** UDP: `lost` in % of `sent`. */
  lossPercent?: number;
  /** UDP: replies that came after their datagram was counted lost (not counted again). */
  late?: number;
  /** UDP: datagrams from other addresses than the server's, ignored. */
  strays?: number;
}

/** What a bench reports while it runs. */
export type BenchEvent =
  | (
    & { type: "start"; durationMs?: number; requests?: number }
    & Pick<BenchResult, "address" | "mode" | "loop" | "connections" | "workers" | "size" | "transport">
  )
  | {
    type: "progress";
    elapsedMs: number;
    messages: number;
    bytes: number;
    errors: number;
    /** UDP: datagrams lost so far. */
    lost?: number;
    messagesPerSec: number;
  }
  | ({ type: "result" } & BenchResult);

const PROGRESS_EVERY_MS = 500;
/** Bytes per write in stream mode unless `size` says otherwise: large writes move bulk data with fewer calls. */
export const DEFAULT_STREAM_WRITE = 256 * 1024;

/** One share of the load, run in this thread or in a worker. */
interface LoadRunner {
  readonly progress: LoadProgress;
  /** Resolves, once the connections are open, to how many opened. */
  readonly ready: Promise<number>;
  readonly done: Promise<LoadResult>;
  go(): void;
  stop(): void;
  terminate(): void;
}

/** The whole load in this thread: no worker, so no read access is needed to load one. */
class LocalRunner implements LoadRunner {
  readonly #load: LoadDriver;
  readonly ready: Promise<number>;
  readonly #done = Promise.withResolvers<LoadResult>();
  readonly done = this.#done.promise;

  constructor(spec: AnyLoadSpec) {
    this.#load = createLoad(spec);
    this.ready = this.#load.open().then(() => this.#load.connected);
  }

  get progress(): LoadProgress {
    return this.#load.progress();
  }

  go(): void {
    this.#load.run().then(() => this.#done.resolve(this.#load.result()), this.#done.reject);
  }

  stop(): void {
    this.#load.stop();
  }

  terminate(): void {}
}

const WORKER_URL = new URL("../bench/worker.ts", import.meta.url);

/** A share of the load in a Deno worker. */
class WorkerRunner implements LoadRunner {
  readonly #worker = new Worker(WORKER_URL, { type: "module" });
  progress: LoadProgress = { messages: 0, bytes: 0, errors: 0 };
  readonly ready: Promise<number>;
  readonly done: Promise<LoadResult>;

  constructor(spec: AnyLoadSpec) {
    const ready = Promise.withResolvers<number>();
    const done = Promise.withResolvers<LoadResult>();
    this.ready = ready.promise;
    this.done = done.promise;
    this.done.catch(() => {});
    const fail = (message: string) => {
      const err = new Error(`bench worker failed: ${message}`);
      ready.reject(err);
      done.reject(err);
    };
    this.#worker.onmessage = (event: MessageEvent<FromWorker>) => {
      const m = event.data;
      if (m.type === "ready") ready.resolve(m.connected);
      else if (m.type === "progress") this.progress = m;
      else if (m.type === "done") done.resolve(m.result);
      else fail(m.message);
    };
    this.#worker.onerror = (event) => {
      event.preventDefault();
      fail(event.message);
    };
    this.#send({ type: "start", spec });
  }

  go(): void {
    this.#send({ type: "go" });
  }

  stop(): void {
    this.#send({ type: "stop" });
  }

  terminate(): void {
    this.#worker.terminate();
  }

  #send(message: ToWorker): void {
    this.#worker.postMessage(message);
  }
}

/** Workers load their module from disk: without read access to it, say what to add. */
function checkWorkerPermission(): void {
  const status = Deno.permissions.querySync({ name: "read", path: WORKER_URL });
  if (status.state !== "granted") {
    throw new UsageError("--workers above 1 needs read access to load the worker module: add --allow-read");
  }
}

function startRunners(specs: AnyLoadSpec[]): LoadRunner[] {
  if (specs.length === 1) return [new LocalRunner(specs[0])];
  return specs.map((spec) => new WorkerRunner(spec));
}

/** Splits `total` into `parts` near-equal whole shares. */
function shares(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
}

function loadSpecs(
  opts: Required<Omit<BenchOptions, "rate" | "requests" | "io">> & BenchOptions,
): AnyLoadSpec[] {
  const workers = Math.max(1, Math.min(opts.workers, opts.connections));
  const connections = shares(opts.connections, workers);
  const requests = opts.requests === undefined ? undefined : shares(opts.requests, workers);
  let first = 0;
  return connections.map((n, i) => {
    const spec: AnyLoadSpec = {
      endpoint: opts.endpoint,
      mode: opts.mode,
      connections: n,
      firstConnection: first,
      requests: requests?.[i],
      size: opts.size,
      pipeline: opts.pipeline,
      rate: opts.rate === undefined ? undefined : (opts.rate * n) / opts.connections,
      timeoutMs: opts.timeoutMs,
      io: opts.io,
    };
    first += n;
    return spec;
  });
}

/**
 * Runs a bench against an echo server and resolves to its result. Throws a `SockkitError` when not a
 * single connection could be made, or, over UDP, when not a single reply came back.
 *
 * @example
 * ```ts ignore
 * const result = await runBench({ endpoint: { transport: "tcp", hostname: "127.0.0.1", port: 1234 },
 *   connections: 10, durationMs: 2000 });
 * console.log(result.messagesPerSec, result.latency?.p99);
 * ```
 */
export async function runBench(opts: BenchOptions, ctx: RunBenchContext = {}): Promise<BenchResult> {
  const emit = ctx.onEvent ?? (() => {});
  const signal = ctx.signal ?? new AbortController().signal;
  const mode = opts.mode ?? "pingpong";
  const full = {
    ...opts,
    mode,
    connections: opts.connections ?? 50,
    durationMs: opts.durationMs ?? 10_000,
    size: opts.size ?? (mode === "stream" ? DEFAULT_STREAM_WRITE : 64),
    pipeline: opts.pipeline ?? 1,
    workers: opts.workers ?? 1,
    timeoutMs: opts.timeoutMs ?? 5000,
  };
  const address = formatEndpoint(opts.endpoint);
  const specs = loadSpecs(full);
  const loop = full.rate === undefined ? "closed" : "open";
  const transport = opts.endpoint.transport === "udp" ? "udp" as const : undefined;
  if (specs.length > 1) checkWorkerPermission();

  const workers = startRunners(specs);
  const stopAll = () => workers.forEach((w) => w.stop());
  signal.addEventListener("abort", stopAll, { once: true });
  let timer: ReturnType<typeof setTimeout> | undefined;
  let ticker: ReturnType<typeof setInterval> | undefined;
  try {
    const opened = (await Promise.all(workers.map((w) => w.ready))).reduce((a, b) => a + b, 0);
    // Nothing is announced when no connection opened: the run ends in a one-line connect error.
    if (opened > 0) {
      emit({
        type: "start",
        address,
        mode,
        loop,
        connections: full.connections,
        workers: specs.length,
        size: full.size,
        transport,
        durationMs: full.requests === undefined ? full.durationMs : undefined,
        requests: full.requests,
      });
    }
    const startedAt = performance.now();
    const cpuBefore = process.cpuUsage();
    workers.forEach((w) => w.go());
    if (signal.aborted || opened === 0) stopAll();
    else if (full.requests === undefined) timer = setTimeout(stopAll, full.durationMs);
    ticker = progressTicker(workers, startedAt, emit);
    const results = await Promise.all(workers.map((w) => w.done));
    const cpu = process.cpuUsage(cpuBefore);
    const generatorCpuPercent = (cpu.user + cpu.system) / 10 / Math.max(1, performance.now() - startedAt);
    const result = mergeResults(results, {
      address,
      mode,
      loop,
      connections: full.connections,
      workers: specs.length,
      size: full.size,
      pipeline: full.pipeline,
      rate: full.rate,
      transport,
    }, generatorCpuPercent);
    if (result.connected === 0 && result.errors > 0) {
      const kind = firstErrorKind(result).replace(/^(connect|open): /, "");
      throw new SockkitError(
        kind.startsWith("TLS handshake with ") ? kind : `cannot connect to ${address}: ${kind}`,
      );
    }
    if (result.transport === "udp" && result.messages === 0 && result.errors === 0 && result.sent) {
      throw noReplyError(address, full.timeoutMs, result.strays ?? 0);
    }
    emit({ type: "result", ...result });
    return result;
  } finally {
    clearTimeout(timer);
    clearInterval(ticker);
    signal.removeEventListener("abort", stopAll);
    workers.forEach((w) => w.terminate());
  }
}

function progressTicker(workers: LoadRunner[], startedAt: number, emit: EventSink<BenchEvent>) {
  let last = { at: startedAt, messages: 0 };
  return setInterval(() => {
    const now = performance.now();
    const total = workers.reduce(
      (t, w) => ({
        messages: t.messages + w.progress.messages,
        bytes: t.bytes + w.progress.bytes,
        errors: t.errors + w.progress.errors,
        lost: w.progress.lost === undefined ? t.lost : (t.lost ?? 0) + w.progress.lost,
      }),
      { messages: 0, bytes: 0, errors: 0, lost: undefined as number | undefined },
    );
    const messagesPerSec = ((total.messages - last.messages) * 1000) / Math.max(1, now - last.at);
    last = { at: now, messages: total.messages };
    emit({ type: "progress", elapsedMs: now - startedAt, ...total, messagesPerSec });
  }, PROGRESS_EVERY_MS);
}

function firstErrorKind(result: BenchResult): string {
  return Object.keys(result.errorKinds)[0] ?? "no connection succeeded";
}

/** The median of a list of numbers (0 for an empty list). */
function median(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Least, median and most round trips per connection. */
export function fairnessOf(perConnection: number[]): Fairness | undefined {
  if (perConnection.length === 0) return undefined;
  return { min: Math.min(...perConnection), median: median(perConnection), max: Math.max(...perConnection) };
}

type MergeContext = Pick<
  BenchResult,
  "address" | "mode" | "loop" | "connections" | "workers" | "size" | "pipeline" | "rate" | "transport"
>;

/** Combines the workers' results into one. */
function mergeResults(results: LoadResult[], c: MergeContext, generatorCpuPercent: number): BenchResult {
  const latency = new LatencyHistogram();
  const connectTime = new LatencyHistogram();
  const errorKinds: Record<string, number> = {};
  let messages = 0, bytes = 0, connected = 0, elapsedMs = 0;
  const perConnection: number[] = [];
  for (const r of results) {
    latency.merge(LatencyHistogram.decode(r.latency));
    connectTime.merge(LatencyHistogram.decode(r.connectTime));
    for (const [kind, n] of Object.entries(r.errors)) errorKinds[kind] = (errorKinds[kind] ?? 0) + n;
    messages += r.messages;
    bytes += r.bytes;
    connected += r.connected;
    elapsedMs = Math.max(elapsedMs, r.elapsedMs);
    perConnection.push(...r.perConnection);
  }
  const seconds = Math.max(elapsedMs, 1) / 1000;
  const hasLatency = c.mode !== "stream" && latency.count > 0;
  return {
    ...c,
    connected,
    elapsedMs,
    messages,
    bytes,
    messagesPerSec: messages / seconds,
    mbPerSec: bytes / 1e6 / seconds,
    latency: hasLatency ? latency.summary() : undefined,
    spectrum: hasLatency ? latency.spectrum() : undefined,
    connectTime: connectTime.summary(),
    fairness: fairnessOf(perConnection),
    errors: Object.values(errorKinds).reduce((s, n) => s + n, 0),
    errorKinds,
    generatorCpuPercent,
    ...(c.transport === "udp" ? datagramCounts(results, messages) : {}),
  };
}

/** UDP: the workers' datagram counts added up, with the loss in % of what was sent. */
function datagramCounts(results: LoadResult[], received: number) {
  const sum = (pick: (r: LoadResult) => number | undefined) =>
    results.reduce((s, r) => s + (pick(r) ?? 0), 0);
  const sent = sum((r) => r.sent);
  const lost = sum((r) => r.lost);
  return {
    sent,
    received,
    lost,
    lossPercent: sent === 0 ? 0 : (lost * 100) / sent,
    late: sum((r) => r.late),
    strays: sum((r) => r.strays),
  };
}
