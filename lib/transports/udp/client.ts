/**
 * The UDP client: sends datagrams and waits for their echo, counting the lost ones. (The server side is
 * lib/transports/udp/listener.ts, served by the same server as every transport.) Needs Deno's `--unstable-net`.
 * @module
 */
import { RepeatSchedule } from "../../client/schedule.ts";
import { formatAddr, formatHostPort } from "../../endpoints/address.ts";
import { ExitCode, SockkitError, toNetworkError, UsageError } from "../../core/errors.ts";
import type { ClientEvent, ClientSummary, EventSink } from "../../report/events.ts";
import { escapeBytes } from "../../core/format.ts";
import { closeQuietly, sameBytes } from "../../core/io.ts";
import { RttAccumulator } from "../../core/stats.ts";
import type { UdpEndpoint } from "../types.ts";
import type { OwnClientContext, OwnClientOptions } from "../transport.ts";
import { openDatagram, UDP_MAX_PAYLOAD } from "./listener.ts";
import { WireTap } from "../../server/wire.ts";

export type { UdpSettings } from "../types.ts";
export {
  DEFAULT_UDP_IDLE_MS,
  DEFAULT_UDP_RATE,
  MAX_UDP_PEERS,
  MAX_UDP_SOURCES,
  UDP_MAX_PAYLOAD,
  UDP_PEER_LINES_PER_SECOND,
} from "./listener.ts";

/** What `runUdpClient` needs: what `sockkit client` gives any transport's own client. */
export type UdpClientOptions = OwnClientOptions<UdpEndpoint>;

const DEFAULT_MESSAGE = new TextEncoder().encode("Hello");

function isFamilyMismatch(err: unknown): boolean {
  return /os error (97|47)\b|address family not supported/i.test(String(err));
}

/** A datagram that came back from the server's port. */
interface Datagram {
  data: Uint8Array;
  truncated: boolean;
}

/** Receives the server's datagrams and hands each to `onDatagram`, set by whoever matches them. */
class ServerDatagrams {
  onDatagram: (datagram: Datagram) => void = () => {};

  offer(data: Uint8Array, truncated: boolean): void {
    this.onDatagram({ data, truncated });
  }
}

/** Sends one datagram, moving to an IPv6 socket when a host name resolved to an IPv6 address. */
export class UdpSender {
  socket: Deno.DatagramConn;
  #switched = false;

  /** `tap` reports the socket's bind, sendto and recvfrom (`--trace`). */
  constructor(
    private readonly ep: UdpEndpoint,
    private readonly onSocket: (s: Deno.DatagramConn) => void,
    private readonly tap: WireTap = new WireTap({}, () => {}),
  ) {
    this.socket = this.#open(ep.hostname.includes(":") ? "::" : "0.0.0.0");
  }

  #open(local: string): Deno.DatagramConn {
    const socket = this.tap.datagram(this.tap.bound(openDatagram(local, 0, formatHostPort(local, 0))));
    this.onSocket(socket);
    return socket;
  }

  async send(data: Uint8Array): Promise<void> {
    const to: Deno.NetAddr = { transport: "udp", hostname: this.ep.hostname, port: this.ep.port };
    try {
      await this.socket.send(data, to);
    } catch (err) {
      if (!isFamilyMismatch(err) || this.#switched) throw err;
      this.#switched = true;
      closeQuietly(this.socket);
      this.socket = this.#open("::");
      await this.socket.send(data, to);
    }
  }
}

/**
 * Runs the UDP client: sends the message as one datagram and waits up to `timeoutMs` for its echo, once
 * or every `intervalMs` (`repeat`). Lost datagrams are counted, not errors, in `repeat` mode; in `once`
 * mode no reply is a `SockkitError`. A message over `maxDatagram` is a `UsageError` before anything is
 * sent.
 */
export async function runUdpClient(
  opts: UdpClientOptions,
  ctx: OwnClientContext = {},
): Promise<ClientSummary> {
  const emit = ctx.onEvent ?? (() => {});
  const signal = ctx.signal ?? new AbortController().signal;
  if (opts.mode === "pipe" || opts.mode === "interactive") {
    const what = opts.mode === "pipe" ? "pipe mode (-)" : "--interactive";
    throw new UsageError(`${what} does not work with --udp: give the message as an argument`);
  }
  const message = opts.message ?? DEFAULT_MESSAGE;
  const maxDatagram = opts.udp?.maxDatagram ?? UDP_MAX_PAYLOAD;
  if (message.length > maxDatagram) {
    throw new UsageError(
      `the message is ${message.length} bytes, more than one UDP datagram may carry (${maxDatagram}): ` +
        `send less, or use TCP`,
    );
  }
  const timeoutMs = opts.timeoutMs ?? 5000;
  const address = formatHostPort(opts.endpoint.hostname, opts.endpoint.port);
  const startedAt = performance.now();
  const replies = new ServerDatagrams();
  const receivers: Promise<void>[] = [];
  const tap = new WireTap(opts, emit, startedAt);
  const sender = new UdpSender(opts.endpoint, (socket) => {
    receivers.push(receiveReplies(socket, opts.endpoint.port, maxDatagram, replies));
  }, tap);
  const stop = () => closeQuietly(sender.socket);
  signal.addEventListener("abort", stop, { once: true });
  emit({ type: "sending", address, local: formatAddr(sender.socket.addr), transport: "UDP" });
  try {
    const counts = await exchangeDatagrams(sender, replies, message, opts, timeoutMs, signal, emit);
    const summary: ClientSummary = { address, ...counts, elapsedMs: performance.now() - startedAt };
    emit({ type: "summary", ...summary });
    return summary;
  } finally {
    signal.removeEventListener("abort", stop);
    closeQuietly(sender.socket);
    await Promise.all(receivers);
  }
}

async function receiveReplies(
  socket: Deno.DatagramConn,
  serverPort: number,
  maxDatagram: number,
  replies: ServerDatagrams,
): Promise<void> {
  const buf = new Uint8Array(maxDatagram + 1);
  while (true) {
    let data: Uint8Array;
    let from: Deno.Addr;
    try {
      [data, from] = await socket.receive(buf);
    } catch {
      return;
    }
    if (!("port" in from) || from.port !== serverPort) continue;
    const truncated = data.length > maxDatagram;
    replies.offer(truncated ? data.slice(0, maxDatagram) : data.slice(), truncated);
  }
}

type Counts = Omit<ClientSummary, "address" | "elapsedMs">;

/** A datagram sent and not answered yet: the one waited for, or one counted lost whose echo may still come. */
interface Pending {
  seq: number;
  sentAt: number;
}

/** Datagrams counted lost that a late echo may still answer, at most (the oldest are forgotten). */
const MAX_LATE_CANDIDATES = 10_000;

/** The datagram waited for: `answer` hands it its echo (or, without one, gives up waiting). */
type Waiter = Pending & { answer: (data?: Uint8Array) => void };

/**
 * Sends the datagrams and matches what comes back to them by content: a datagram's reply is its echo. An
 * echo that comes while a datagram waits is its reply (datagrams that are all the same message cannot be
 * told apart); one that comes while none waits answers the oldest datagram already counted lost, shown as
 * late and not counted; anything else is shown as not an echo and answers nothing.
 */
async function exchangeDatagrams(
  sender: UdpSender,
  replies: ServerDatagrams,
  message: Uint8Array,
  opts: UdpClientOptions,
  timeoutMs: number,
  signal: AbortSignal,
  emit: EventSink<ClientEvent>,
): Promise<Counts> {
  const schedule = new RepeatSchedule(opts);
  const { repeat } = schedule;
  const address = formatHostPort(opts.endpoint.hostname, opts.endpoint.port);
  const rtt = new RttAccumulator();
  const counts = { sent: 0, received: 0, lost: 0, bytesSent: 0, bytesReceived: 0 };
  let mismatched = 0;
  let waiting: Waiter | undefined;
  let last: Pending = { seq: 1, sentAt: performance.now() };
  const lost: Pending[] = [];
  replies.onDatagram = ({ data, truncated }) => {
    const now = performance.now();
    const echo = !truncated && sameBytes(data, message);
    if (echo && waiting) return waiting.answer(data);
    const shown = { type: "reply" as const, bytes: data.length, text: escapeBytes(data) };
    if (echo) {
      const answered = lost.shift();
      const to = answered ?? last;
      emit({
        ...shown,
        seq: to.seq,
        rttMs: now - to.sentAt,
        ...(answered ? { late: true } : { duplicate: true }),
      });
      return;
    }
    mismatched++;
    const to = waiting ?? last;
    emit({ ...shown, seq: to.seq, rttMs: now - to.sentAt, truncated: truncated || undefined, differs: true });
  };
  for (let seq = 1; schedule.wants(seq, signal); seq++) {
    last = { seq, sentAt: performance.now() };
    const reply = echoOf(last, timeoutMs, signal, (w) => (waiting = w));
    try {
      await sender.send(message);
    } catch (err) {
      waiting?.answer();
      await reply;
      if (signal.aborted) break;
      const failure = toNetworkError(err, "write", address);
      if (!repeat) throw failure;
      return { ...counts, rtt: rtt.stats(), mismatched, error: failure.message };
    }
    counts.sent++;
    counts.bytesSent += message.length;
    const got = await reply;
    waiting = undefined;
    if (got) {
      const rttMs = performance.now() - last.sentAt;
      rtt.add(rttMs);
      counts.received++;
      counts.bytesReceived += got.length;
      emit({ type: "reply", seq, bytes: got.length, rttMs, text: escapeBytes(got) });
    } else if (!signal.aborted) {
      if (!repeat) {
        throw new SockkitError(
          mismatched > 0
            ? `no echo from ${address} within ${timeoutMs} ms: what came back differs from what was sent ` +
              `(is it an echo server?)`
            : `no reply from ${address} within ${timeoutMs} ms (over UDP this means the datagram or its reply ` +
              `was lost, or nothing listens there)`,
          ExitCode.Failure,
        );
      }
      counts.lost++;
      lost.push(last);
      if (lost.length > MAX_LATE_CANDIDATES) lost.shift();
      emit({ type: "lost", seq, reason: `timed out after ${timeoutMs} ms` });
    }
    await schedule.waitAfter(seq, signal);
  }
  return { ...counts, rtt: rtt.stats(), mismatched };
}

/**
 * Waits for the echo of the datagram `pending`: `wait` is handed the waiter that the receiver answers.
 * Resolves to the echo, or undefined when `timeoutMs` passes or `signal` aborts first.
 */
function echoOf(
  pending: Pending,
  timeoutMs: number,
  signal: AbortSignal,
  wait: (w: Waiter | undefined) => void,
): Promise<Uint8Array | undefined> {
  return new Promise((resolve) => {
    const done = (data?: Uint8Array) => {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      wait(undefined);
      resolve(data);
    };
    const onAbort = () => done();
    const timer = setTimeout(done, timeoutMs);
    signal.addEventListener("abort", onAbort, { once: true });
    wait({ ...pending, answer: done });
    if (signal.aborted) done();
  });
}
