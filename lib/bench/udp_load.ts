/**
 * The load one thread generates for `sockkit bench --udp`: each "connection" is a UDP socket of its own that
 * sends datagrams of `size` bytes to the server, closed loop (`pipeline` datagrams outstanding, each reply or
 * loss releases the next) or open loop (`rate`, sent on schedule, latency from the due time). Every datagram
 * starts with an 8-byte header (socket index, sequence number) followed by payload bytes derived from them,
 * so a reply is matched to the datagram it answers, whatever the order, and checked byte for byte. A datagram
 * unanswered after `timeoutMs` is lost (not an error). `UdpLoad` has the outward shape of `Load`, so
 * `bench.ts` and the bench worker drive either through `createLoad` (loads.ts).
 * @module
 */
import { ExitCode, networkReason, SockkitError } from "../core/errors.ts";
import { closeQuietly, sleep } from "../core/io.ts";
import type { UdpEndpoint } from "../transports/dispatch.ts";
import { EventLoopTurns, READS_PER_TURN } from "../server/turns.ts";
import { UdpSender } from "../transports/udp/client.ts";
import { LatencyHistogram } from "./histogram.ts";
import {
  describeConnectError,
  type LoadDriver,
  type LoadProgress,
  type LoadResult,
  type LoadSpec,
} from "./load.ts";
import { PayloadStream } from "./payload.ts";
import { LoadTally } from "./tally.ts";

/** Bytes at the start of every bench datagram: the socket's index and the datagram's sequence number. */
export const UDP_HEADER_BYTES = 8;
/** Open loop: datagrams outstanding per socket at most; past that the oldest counts as lost. */
export const OPEN_LOOP_CAP = 4096;
/** Sequence numbers of lost datagrams remembered per socket, so a reply after the timeout counts as late. */
const LATE_MEMORY = 4096;
/** After a stop, replies still on their way are waited for this long at most (or the timeout, if shorter). */
const DRAIN_MS = 1000;
const WATCHDOG_INTERVAL_MS = 100;

const DIFFERS = "reply differs from what was sent";
const UNMATCHED = "reply to no datagram outstanding (a duplicate, or later than --timeout)";

/** One share of a UDP bench: a `LoadSpec` whose endpoint is UDP (always ping-pong). */
export type UdpLoadSpec = Omit<LoadSpec, "endpoint" | "mode"> & { endpoint: UdpEndpoint };

/** The one-line error of a UDP bench that got no reply at all. */
export function noReplyError(address: string, timeoutMs: number, strays: number): SockkitError {
  const elsewhere = strays > 0
    ? `; ${strays} ${strays === 1 ? "datagram" : "datagrams"} came from other addresses and were ignored`
    : "";
  return new SockkitError(
    `no reply from ${address} within ${timeoutMs} ms (over UDP this means the datagrams or their replies ` +
      `were lost, or nothing listens there${elsewhere})`,
    ExitCode.Failure,
  );
}

interface Outstanding {
  /** When it was due (closed loop: when it was sent); latency counts from here. */
  due: number;
  /** When it was sent; the timeout counts from here. */
  sentAt: number;
}

/** One socket under load. */
class Socket {
  sender!: UdpSender;
  /** Datagrams awaiting their reply, by sequence number, oldest first. */
  readonly outstanding = new Map<number, Outstanding>();
  /** Recently lost sequence numbers, oldest first. */
  readonly expired = new Set<number>();
  readonly receivers: Promise<void>[] = [];
  readonly datagram: Uint8Array;
  readonly #ended = Promise.withResolvers<void>();
  readonly ended = this.#ended.promise;
  nextSeq = 0;
  received = 0;
  readsInRow = 0;
  /** True while a pump or the schedule may still send. */
  sending = false;
  closed = false;

  constructor(readonly index: number, readonly payload: PayloadStream, size: number) {
    this.datagram = new Uint8Array(size);
  }

  /** Writes datagram `seq` into the send buffer and returns it (a view: send it before the next call). */
  build(seq: number): Uint8Array {
    const view = new DataView(this.datagram.buffer);
    view.setUint32(0, this.index);
    view.setUint32(4, seq);
    this.datagram.set(this.payload.slice(seq, this.datagram.length - UDP_HEADER_BYTES), UDP_HEADER_BYTES);
    return this.datagram;
  }

  /** The sequence number a reply names when its length and socket index are this socket's, else -1. */
  sequenceOf(data: Uint8Array): number {
    if (data.length !== this.datagram.length) return -1;
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    return view.getUint32(0) === this.index ? view.getUint32(4) : -1;
  }

  /** Forgets a datagram as lost, remembering its number for a while in case its reply still comes. */
  expire(seq: number): void {
    this.outstanding.delete(seq);
    this.expired.add(seq);
    if (this.expired.size > LATE_MEMORY) this.expired.delete(this.expired.values().next().value!);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeQuietly(this.sender.socket);
    this.#ended.resolve();
  }
}

/** The server's address as replies show it, or undefined when only the port can be compared (a name). */
function serverHost(hostname: string): string | undefined {
  const host = hostname.replace(/%.*$/, "").toLowerCase();
  if (host === "0.0.0.0" || host === "::") return undefined;
  if (/^\d+\.\d+\.\d+\.\d+$/.test(host)) return host;
  return host.includes(":") ? new URL(`http://[${host}]/`).hostname : undefined;
}

function hostOf(addr: Deno.NetAddr): string {
  const host = addr.hostname.replace(/%.*$/, "").toLowerCase();
  return host.includes(":") ? new URL(`http://[${host}]/`).hostname : host;
}

/**
 * One thread's share of a UDP bench: `open()` opens the sockets, `run()` drives them until `stop()` (or
 * until `requests` datagrams were answered or lost), `result()` reports, with sent, lost and late counts.
 *
 * @example
 * ```ts ignore
 * const load = new UdpLoad({ endpoint: { transport: "udp", hostname: "127.0.0.1", port: 7777 },
 *   connections: 4, firstConnection: 0, requests: 1000, size: 64, pipeline: 1, timeoutMs: 1000 });
 * await load.open();
 * await load.run();
 * load.result().lost; // datagrams that got no reply within a second
 * ```
 */
export class UdpLoad implements LoadDriver {
  readonly #spec: UdpLoadSpec;
  readonly #sockets: Socket[] = [];
  readonly #stopper = new AbortController();
  readonly #turns = new EventLoopTurns();
  readonly #serverHost: string | undefined;
  readonly #tally: LoadTally;
  #sent = 0;
  #lost = 0;
  #late = 0;
  #strays = 0;
  #startedAt = 0;
  #stoppedAt = 0;
  #lastActivityAt = 0;
  #drainTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(spec: UdpLoadSpec) {
    this.#spec = spec;
    this.#tally = new LoadTally(spec.requests);
    this.#serverHost = serverHost(spec.endpoint.hostname);
  }

  /** Sockets opened so far. */
  get connected(): number {
    return this.#sockets.length;
  }

  /** Opens one UDP socket per connection; a socket that cannot be opened is an error, UDP missing a throw. */
  open(): Promise<void> {
    const payloadBytes = this.#spec.size - UDP_HEADER_BYTES;
    for (let i = 0; i < this.#spec.connections && !this.#stopper.signal.aborted; i++) {
      const index = this.#spec.firstConnection + i;
      const socket = new Socket(index, new PayloadStream(index * 37, payloadBytes), this.#spec.size);
      try {
        socket.sender = new UdpSender(
          this.#spec.endpoint,
          (s) => socket.receivers.push(this.#receive(socket, s)),
        );
      } catch (err) {
        if (err instanceof SockkitError && err.cause === undefined) throw err;
        this.#tally.error(`open: ${describeConnectError(err)}`);
        continue;
      }
      this.#sockets.push(socket);
    }
    return Promise.resolve();
  }

  /** Drives the sockets; resolves once stopped and drained, or once every requested datagram is settled. */
  async run(): Promise<void> {
    this.#startedAt = performance.now();
    this.#lastActivityAt = this.#startedAt;
    const every = Math.max(5, Math.min(WATCHDOG_INTERVAL_MS, this.#spec.timeoutMs / 4));
    const watchdog = setInterval(() => this.#expireOverdue(), every);
    try {
      await Promise.all(this.#sockets.map((socket) => this.#drive(socket)));
    } finally {
      clearInterval(watchdog);
      clearTimeout(this.#drainTimer);
      this.#turns.close();
      if (this.#stoppedAt === 0) this.#stoppedAt = this.#lastActivityAt;
      for (const socket of this.#sockets) socket.close();
      await Promise.all(this.#sockets.flatMap((s) => s.receivers));
    }
  }

  /** Stops sending; replies on their way are awaited briefly, then what is still outstanding is lost. */
  stop(): void {
    if (this.#stopper.signal.aborted) return;
    this.#stoppedAt = performance.now();
    this.#stopper.abort();
    for (const socket of this.#sockets) this.#closeIfDone(socket);
    // A server that has not answered at all gets the whole timeout, so "no reply" means what it says.
    const drainMs = this.#tally.messages === 0
      ? this.#spec.timeoutMs
      : Math.min(DRAIN_MS, this.#spec.timeoutMs);
    this.#drainTimer = setTimeout(() => {
      for (const socket of this.#sockets) {
        for (const seq of [...socket.outstanding.keys()]) this.#lose(socket, seq);
        socket.close();
      }
    }, drainMs);
  }

  /** Counters so far. */
  progress(): LoadProgress {
    return { ...this.#tally.progress(), lost: this.#lost };
  }

  /** Everything measured, ready to cross a worker boundary. */
  result(): LoadResult {
    return {
      ...this.#tally.measured(this.#startedAt, this.#stoppedAt),
      connected: this.#sockets.length,
      connectTime: new LatencyHistogram().encode(),
      perConnection: this.#sockets.map((s) => s.received),
      sent: this.#sent,
      lost: this.#lost,
      late: this.#late,
      strays: this.#strays,
    };
  }

  get #running(): boolean {
    return !this.#stopper.signal.aborted;
  }

  async #drive(socket: Socket): Promise<void> {
    if (this.#spec.rate === undefined) {
      await this.#pump(socket);
    } else {
      socket.sending = true;
      try {
        await this.#schedule(socket, this.#spec.rate / this.#spec.connections);
      } catch (err) {
        this.#sendFailed(socket, err);
      } finally {
        socket.sending = false;
      }
      this.#closeIfDone(socket);
    }
    await socket.ended;
  }

  /** Closed loop: sends until `pipeline` datagrams are outstanding (or the budget is spent). */
  async #pump(socket: Socket): Promise<void> {
    if (socket.sending) return;
    socket.sending = true;
    try {
      while (
        this.#running && !socket.closed && socket.outstanding.size < this.#spec.pipeline &&
        this.#tally.take(1) === 1
      ) {
        await this.#send(socket, performance.now());
      }
    } catch (err) {
      this.#sendFailed(socket, err);
    } finally {
      socket.sending = false;
    }
    this.#closeIfDone(socket);
  }

  /** Open loop: sends each datagram when it is due, whatever the replies do; a late one keeps its due time. */
  async #schedule(socket: Socket, perSecond: number): Promise<void> {
    const interval = 1000 / perSecond;
    let due = this.#startedAt + Math.random() * interval;
    while (this.#running && !socket.closed) {
      const now = performance.now();
      if (due > now) {
        await sleep(due - now, this.#stopper.signal);
        continue;
      }
      if (this.#tally.take(1) === 0) break;
      if (socket.outstanding.size >= OPEN_LOOP_CAP) {
        this.#lose(socket, socket.outstanding.keys().next().value!);
      }
      await this.#send(socket, due);
      due += interval;
    }
  }

  async #send(socket: Socket, due: number): Promise<void> {
    const seq = socket.nextSeq++;
    const sentAt = performance.now();
    // Recorded before sending: the reply may arrive before the send resolves.
    socket.outstanding.set(seq, { due: Math.min(due, sentAt), sentAt });
    try {
      await socket.sender.send(socket.build(seq));
    } catch (err) {
      socket.outstanding.delete(seq);
      throw err;
    }
    this.#sent++;
    this.#lastActivityAt = performance.now();
  }

  /** A socket that cannot send is closed: one error, and its outstanding datagrams are let go. */
  #sendFailed(socket: Socket, err: unknown): void {
    if (socket.closed) return;
    this.#tally.error(`send: ${networkReason(err)}`);
    socket.outstanding.clear();
    socket.close();
  }

  /** Receives on one of the socket's OS sockets until it is closed (or replaced after a family switch). */
  async #receive(socket: Socket, conn: Deno.DatagramConn): Promise<void> {
    const buf = new Uint8Array(this.#spec.size + 1);
    while (true) {
      let data: Uint8Array, from: Deno.Addr;
      try {
        if (++socket.readsInRow >= READS_PER_TURN) {
          socket.readsInRow = 0;
          await this.#turns.next();
        }
        [data, from] = await conn.receive(buf);
      } catch (err) {
        if (socket.closed || conn !== socket.sender.socket) return;
        this.#tally.error(`receive: ${networkReason(err)}`);
        socket.outstanding.clear();
        socket.close();
        return;
      }
      if (!this.#fromServer(from)) {
        this.#strays++;
        continue;
      }
      this.#settle(socket, data);
      if (this.#spec.rate === undefined) await this.#pump(socket);
      else this.#closeIfDone(socket);
    }
  }

  #fromServer(from: Deno.Addr): boolean {
    if (!("hostname" in from) || from.port !== this.#spec.endpoint.port) return false;
    return this.#serverHost === undefined || hostOf(from) === this.#serverHost;
  }

  /** Matches a reply to the datagram it answers and checks it byte for byte. */
  #settle(socket: Socket, data: Uint8Array): void {
    const now = performance.now();
    const seq = socket.sequenceOf(data);
    const pending = socket.outstanding.get(seq);
    const late = pending === undefined && socket.expired.has(seq);
    if (pending === undefined && !late) {
      this.#tally.error(seq >= 0 && seq < socket.nextSeq ? UNMATCHED : DIFFERS);
      return;
    }
    if (pending) socket.outstanding.delete(seq);
    else socket.expired.delete(seq);
    if (!socket.payload.matches(seq, data.subarray(UDP_HEADER_BYTES))) {
      this.#tally.error(DIFFERS);
      return;
    }
    if (!pending) {
      this.#late++;
      return;
    }
    socket.received++;
    this.#tally.messages++;
    this.#tally.bytes += data.length;
    this.#tally.latency.record(now - pending.due);
    this.#lastActivityAt = now;
  }

  #lose(socket: Socket, seq: number): void {
    socket.expire(seq);
    this.#lost++;
  }

  /** Datagrams unanswered for `timeoutMs` are lost; their slots go to the next datagrams. */
  #expireOverdue(): void {
    const now = performance.now();
    for (const socket of this.#sockets) {
      let freed = false;
      for (const [seq, { sentAt }] of socket.outstanding) {
        if (now - sentAt < this.#spec.timeoutMs) break;
        this.#lose(socket, seq);
        freed = true;
      }
      if (!freed) continue;
      if (this.#spec.rate === undefined) void this.#pump(socket);
      else this.#closeIfDone(socket);
    }
  }

  /** Closes a socket once nothing more will be sent on it and nothing is outstanding. */
  #closeIfDone(socket: Socket): void {
    if (socket.closed || socket.sending || socket.outstanding.size > 0) return;
    if (this.#running && this.#tally.budget > 0) return;
    socket.close();
  }
}
