/**
 * The load one thread generates for `sockkit bench`: a set of connections driven closed-loop (each reply
 * releases the next message), open-loop (messages leave on a fixed schedule and latency counts from the
 * time each one was due), as a continuous stream, or as connection churn. Every reply is compared byte for
 * byte with what was sent. `bench.ts` runs one `Load` per worker and merges their results.
 * @module
 */
import { networkReason } from "../core/errors.ts";
import { closeQuietly, isClosedError, sleep, writeAll } from "../core/io.ts";
import { connect, type Connection, type IoCore, type StreamEndpoint } from "../transports/dispatch.ts";
import { LatencyHistogram } from "./histogram.ts";
import { type LoadProgress, type LoadResult, LoadTally } from "./tally.ts";

export type { LoadProgress, LoadResult };
import { PayloadStream } from "./payload.ts";
import { EventLoopTurns, READS_PER_TURN } from "../server/turns.ts";

/** What to measure: round trips, a continuous stream, or connection churn. */
export type LoadMode = "pingpong" | "stream" | "connect";

/** What one `Load` (one worker's share of the bench) does. */
export interface LoadSpec {
  endpoint: StreamEndpoint;
  /** TCP: which API moves the bytes (`--io`, default `deno`). */
  io?: IoCore;
  mode: LoadMode;
  /** Connections this load keeps open (connect mode: connections churning at once). */
  connections: number;
  /** The bench-wide number of this load's first connection: it seeds each connection's payload. */
  firstConnection: number;
  /** Stop after this many messages in total (default: run until `stop()`). */
  requests?: number;
  /** Bytes per message (stream mode: per write). */
  size: number;
  /** Messages in flight per connection in closed loop. */
  pipeline: number;
  /** Open loop: messages per second across this load's connections. */
  rate?: number;
  /** A connection whose replies stop for this long, or a connect that takes longer, is an error. */
  timeoutMs: number;
}

/** What `Load` and `UdpLoad` share: open, run until stopped or done, report. */
export interface LoadDriver {
  /** Sockets or connections opened so far. */
  readonly connected: number;
  open(): Promise<void>;
  run(): Promise<void>;
  stop(): void;
  progress(): LoadProgress;
  result(): LoadResult;
}

/** Stream mode reads and writes up to this much at once: fewer, larger system calls per byte moved. */
const STREAM_BUFFER_SIZE = 256 * 1024;
/** Ping-pong and connect mode read replies into this much (or a whole pipeline's worth, when larger). */
const MESSAGE_BUFFER_SIZE = 16 * 1024;
/** At most this many connects are in progress at once while a load opens its connections. */
const CONNECT_CONCURRENCY = 64;
/** After a stop, replies still on their way are waited for this long at most. */
const DRAIN_MS = 1000;
const WATCHDOG_INTERVAL_MS = 100;

class ReplyError extends Error {}

/** Send times of the messages in flight on one connection, oldest first; grows only as far as needed. */
class TimeQueue {
  #times = new Float64Array(16);
  #head = 0;
  #length = 0;

  get length(): number {
    return this.#length;
  }

  push(t: number): void {
    if (this.#length === this.#times.length) this.#grow();
    this.#times[(this.#head + this.#length) % this.#times.length] = t;
    this.#length++;
  }

  shift(): number {
    const t = this.#times[this.#head];
    this.#head = (this.#head + 1) % this.#times.length;
    this.#length--;
    return t;
  }

  #grow(): void {
    const next = new Float64Array(this.#times.length * 2);
    for (let i = 0; i < this.#length; i++) next[i] = this.#times[(this.#head + i) % this.#times.length];
    this.#times = next;
    this.#head = 0;
  }
}

/** One connection under load. */
class Flow {
  sentBytes = 0;
  receivedBytes = 0;
  completed = 0;
  lastActivity = performance.now();
  failed = false;
  readsInRow = 0;
  readonly times = new TimeQueue();
  #writing: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(readonly conn: Connection, readonly payload: PayloadStream) {}

  get inFlight(): number {
    return this.times.length;
  }

  /** Queues `bytes` of the payload stream for sending; writes stay in order and never block reading. */
  send(bytes: number): Promise<void> {
    const from = this.sentBytes;
    this.sentBytes += bytes;
    this.#writing = this.#writing.then(() => this.#write(from, bytes));
    return this.#writing;
  }

  /** Resolves once everything queued was written (or the connection failed). */
  flushed(): Promise<void> {
    return this.#writing.catch(() => {});
  }

  async #write(from: number, bytes: number): Promise<void> {
    const max = this.payload.maxChunk;
    for (let done = 0; done < bytes; done += max) {
      await writeAll(this.conn, this.payload.slice(from + done, Math.min(max, bytes - done)));
    }
  }

  /** True once this side closed the connection (stop, drain limit or failure). */
  get closed(): boolean {
    return this.#closed;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeQuietly(this.conn);
  }
}

/**
 * One thread's share of a bench: `open()` connects, `run()` drives the connections until `stop()` (or
 * until `requests` are done), `result()` reports.
 *
 * @example
 * ```ts ignore
 * const load = new Load({ endpoint, mode: "pingpong", connections: 10, firstConnection: 0, size: 64,
 *   pipeline: 1, timeoutMs: 5000 });
 * await load.open();
 * setTimeout(() => load.stop(), 1000);
 * await load.run();
 * load.result().messages; // round trips completed in about a second
 * ```
 */
export class Load implements LoadDriver {
  readonly #spec: LoadSpec;
  readonly #flows: Flow[] = [];
  readonly #connectTime = new LatencyHistogram();
  readonly #stopper = new AbortController();
  readonly #turns = new EventLoopTurns();
  readonly #tally: LoadTally;
  #connected = 0;
  #startedAt = 0;
  #stoppedAt = 0;
  #drainTimer: ReturnType<typeof setTimeout> | undefined;
  /** Connect mode: the first connection, opened by `open()` to show the server is there. */
  #firstConn: Connection | undefined;

  constructor(spec: LoadSpec) {
    this.#spec = spec;
    this.#tally = new LoadTally(spec.requests);
  }

  /**
   * Opens every connection. In connect mode, where connections are the load itself, opens only the first
   * one, which the first churn cycle then uses: `connected` tells whether the server could be reached.
   */
  async open(): Promise<void> {
    if (this.#spec.mode === "connect") {
      this.#firstConn = await this.#connect();
      return;
    }
    const { mode, size, pipeline } = this.#spec;
    const maxChunk = Math.max(mode === "stream" ? STREAM_BUFFER_SIZE : MESSAGE_BUFFER_SIZE, size * pipeline);
    let next = 0;
    const opener = async () => {
      while (next < this.#spec.connections && !this.#stopper.signal.aborted) {
        const index = this.#spec.firstConnection + next++;
        const conn = await this.#connect();
        if (conn) this.#flows.push(new Flow(conn, new PayloadStream(index * 37, maxChunk)));
      }
    };
    const openers = Math.min(CONNECT_CONCURRENCY, this.#spec.connections);
    await Promise.all(Array.from({ length: openers }, opener));
  }

  /** Drives the load; resolves once it was stopped and drained, or every requested message is done. */
  async run(): Promise<void> {
    this.#startedAt = performance.now();
    const watchdog = setInterval(() => this.#checkTimeouts(), WATCHDOG_INTERVAL_MS);
    try {
      if (this.#spec.mode === "connect") {
        await Promise.all(Array.from({ length: this.#spec.connections }, () => this.#churn()));
      } else {
        await Promise.all(this.#flows.map((flow) => this.#drive(flow)));
      }
    } finally {
      clearInterval(watchdog);
      clearTimeout(this.#drainTimer);
      this.#turns.close();
      if (this.#firstConn) closeQuietly(this.#firstConn);
      if (this.#stoppedAt === 0) this.#stoppedAt = performance.now();
      for (const flow of this.#flows) flow.close();
    }
  }

  /** Stops sending; replies already on their way are still awaited briefly. */
  stop(): void {
    if (this.#stopper.signal.aborted) return;
    this.#stoppedAt = performance.now();
    this.#stopper.abort();
    for (const flow of this.#flows) if (flow.inFlight === 0 && this.#spec.mode !== "stream") flow.close();
    this.#drainTimer = setTimeout(() => {
      for (const flow of this.#flows) flow.close();
    }, DRAIN_MS);
  }

  /** Counters so far. */
  /** Connections opened so far. */
  get connected(): number {
    return this.#connected;
  }

  progress(): LoadProgress {
    return this.#tally.progress();
  }

  /** Everything measured, ready to cross a worker boundary. */
  result(): LoadResult {
    return {
      ...this.#tally.measured(this.#startedAt, this.#stoppedAt),
      connected: this.#connected,
      connectTime: this.#connectTime.encode(),
      perConnection: this.#spec.mode === "connect" ? [] : this.#flows.map((f) => f.completed),
    };
  }

  get #running(): boolean {
    return !this.#stopper.signal.aborted;
  }

  async #connect(): Promise<Connection | undefined> {
    const startedAt = performance.now();
    try {
      const timeout = AbortSignal.timeout(this.#spec.timeoutMs);
      const conn = await connect(
        this.#spec.endpoint,
        AbortSignal.any([timeout, this.#stopper.signal]),
        this.#spec.io,
      );
      this.#connectTime.record(performance.now() - startedAt);
      this.#connected++;
      return conn;
    } catch (err) {
      if (this.#running) this.#tally.error(`connect: ${describeConnectError(err)}`);
      return undefined;
    }
  }

  /**
   * Sends and receives on one connection at once. The receiver fails while the sender is still at work (a
   * reply that differs, a connection closed early): its error is counted at once and closes the connection,
   * which ends the sender too, whose own error then counts no more.
   */
  async #drive(flow: Flow): Promise<void> {
    const { mode, rate } = this.#spec;
    const receiving = this.#receive(flow).catch((err) => this.#fail(flow, err));
    try {
      if (mode === "stream") await this.#stream(flow);
      else if (rate !== undefined) await this.#schedule(flow, rate / this.#spec.connections);
      else this.#sendClosedLoop(flow, this.#spec.pipeline);
    } catch (err) {
      this.#fail(flow, err);
    }
    await receiving;
    flow.close();
  }

  /** Closed loop: sends `n` messages now; each completed reply sends one more. */
  #sendClosedLoop(flow: Flow, n: number): void {
    const count = this.#running ? this.#tally.take(n) : 0;
    if (count === 0) return;
    const now = performance.now();
    if (flow.inFlight === 0) flow.lastActivity = now;
    for (let i = 0; i < count; i++) flow.times.push(now);
    flow.send(count * this.#spec.size).catch((err) => this.#fail(flow, err));
  }

  /** Open loop: sends each message when it is due, whatever the replies do; a late message keeps its due time. */
  async #schedule(flow: Flow, perSecond: number): Promise<void> {
    const interval = 1000 / perSecond;
    const maxBatch = Math.max(1, Math.floor(flow.payload.maxChunk / this.#spec.size));
    let due = this.#startedAt + Math.random() * interval;
    while (this.#running) {
      const now = performance.now();
      if (due > now) {
        await sleep(due - now, this.#stopper.signal);
        continue;
      }
      const count = this.#tally.take(Math.min(maxBatch, Math.floor((now - due) / interval) + 1));
      if (count === 0) break;
      if (flow.inFlight === 0) flow.lastActivity = now;
      for (let i = 0; i < count; i++, due += interval) flow.times.push(due);
      await flow.send(count * this.#spec.size);
    }
  }

  /** Stream mode: writes continuously until stopped, then half-closes so the echo's end can be read. */
  async #stream(flow: Flow): Promise<void> {
    const size = this.#spec.size;
    while (this.#running && this.#tally.take(1) === 1) {
      const now = performance.now();
      if (flow.inFlight === 0) flow.lastActivity = now;
      flow.times.push(now);
      await flow.send(size);
    }
    await flow.flushed();
    if (!flow.failed) await flow.conn.closeWrite().catch(() => {});
  }

  /** Reads and checks echoes until every message sent is back and sending has ended. */
  async #receive(flow: Flow): Promise<void> {
    const { size, mode } = this.#spec;
    const buf = new Uint8Array(flow.payload.maxChunk);
    const isStream = mode === "stream";
    while (true) {
      if (flow.inFlight === 0 && (!this.#running || this.#tally.budget === 0)) return;
      const n = await this.#read(flow, buf);
      if (n === null) {
        if (flow.closed) return;
        if (flow.inFlight > 0 || (!isStream && this.#running)) {
          throw new ReplyError("short reply: connection closed before the echo was complete");
        }
        return;
      }
      flow.lastActivity = performance.now();
      const chunk = buf.subarray(0, n);
      if (flow.receivedBytes + n > flow.sentBytes || !flow.payload.matches(flow.receivedBytes, chunk)) {
        throw new ReplyError("reply differs from what was sent");
      }
      flow.receivedBytes += n;
      this.#tally.bytes += n;
      const done = Math.floor(flow.receivedBytes / size) - flow.completed;
      if (done === 0) continue;
      flow.completed += done;
      this.#tally.messages += done;
      const now = flow.lastActivity;
      for (let i = 0; i < done && flow.times.length > 0; i++) {
        const sentAt = flow.times.shift();
        if (!isStream) this.#tally.latency.record(now - sentAt);
      }
      if (!isStream && this.#spec.rate === undefined) this.#sendClosedLoop(flow, done);
    }
  }

  /** Reads, taking turns with the other connections; a connection closed by the stop reads as its end. */
  async #read(flow: Flow, buf: Uint8Array): Promise<number | null> {
    if (++flow.readsInRow >= READS_PER_TURN) {
      flow.readsInRow = 0;
      await this.#turns.next();
    }
    try {
      return await flow.conn.read(buf);
    } catch (err) {
      if (isClosedError(err) && !this.#running && !flow.failed) return null;
      throw err;
    }
  }

  /** Connect mode: connect, one echo, close; again until stopped. */
  async #churn(): Promise<void> {
    const size = this.#spec.size;
    const payload = new PayloadStream(0, Math.max(size, MESSAGE_BUFFER_SIZE));
    const buf = new Uint8Array(payload.maxChunk);
    while (this.#running && this.#tally.take(1) === 1) {
      const conn = this.#takeFirstConn() ?? await this.#connect();
      if (!conn) continue;
      try {
        const sentAt = performance.now();
        await writeAll(conn, payload.slice(0, size));
        let got = 0;
        while (got < size) {
          const n = await readWithin(conn, buf.subarray(0, size - got), this.#spec.timeoutMs);
          if (n === null) throw new ReplyError("short reply: connection closed before the echo was complete");
          if (!payload.matches(got, buf.subarray(0, n))) {
            throw new ReplyError("reply differs from what was sent");
          }
          got += n;
        }
        this.#tally.latency.record(performance.now() - sentAt);
        this.#tally.messages++;
        this.#tally.bytes += size;
      } catch (err) {
        this.#tally.error(describeFlowError(err));
      } finally {
        closeQuietly(conn);
      }
    }
  }

  #takeFirstConn(): Connection | undefined {
    const conn = this.#firstConn;
    this.#firstConn = undefined;
    return conn;
  }

  #fail(flow: Flow, err: unknown): void {
    if (flow.failed) return;
    flow.failed = true;
    flow.close();
    if (isClosedError(err) && !this.#running) return;
    this.#tally.error(describeFlowError(err));
  }

  #checkTimeouts(): void {
    const now = performance.now();
    for (const flow of this.#flows) {
      if (!flow.failed && flow.inFlight > 0 && now - flow.lastActivity > this.#spec.timeoutMs) {
        this.#fail(flow, new ReplyError(`no reply within ${this.#spec.timeoutMs} ms`));
      }
    }
  }
}

/** Reads with a time limit; a silent server becomes an error instead of a hang. */
async function readWithin(conn: Connection, buf: Uint8Array, timeoutMs: number): Promise<number | null> {
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    closeQuietly(conn);
  }, timeoutMs);
  try {
    return await conn.read(buf);
  } catch (err) {
    if (timedOut) throw new ReplyError(`no reply within ${timeoutMs} ms`);
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** Why a connect (or opening a socket) failed, without the address the caller already names. */
export function describeConnectError(err: unknown): string {
  if (err instanceof Error && err.cause !== undefined) return networkReason(err.cause);
  return networkReason(err);
}

function describeFlowError(err: unknown): string {
  if (err instanceof ReplyError) return err.message;
  return networkReason(err);
}
