/**
 * UDP: a datagram echo (or discard) server that tracks peers by address and rate-limits its replies per
 * source IP (a /64 for IPv6), and a client that sends datagrams and waits for their echo, counting the lost
 * ones. Needs Deno's `--unstable-net`.
 * @module
 */
import { formatAddr, formatHostPort, zoneOf } from "./address.ts";
import { sourceNetwork } from "./cidr.ts";
import { formatDuration } from "./duration.ts";
import { ExitCode, networkReason, SockkitError, toNetworkError, UsageError } from "./errors.ts";
import type { ClientEvent, ClientSummary, EventSink, ServerEvent, ServerSummary } from "./events.ts";
import { escapeBytes, plural } from "./format.ts";
import { accessRefusal, type AccessRules } from "./guards.ts";
import { closeQuietly, isClosedError, sleep } from "./io.ts";
import { ServerCounters } from "./metrics/counters.ts";
import { type HttpAddress, type HttpListener, startHttpListeners } from "./web/http.ts";
import { limitedLog, TokenBucket, TokenBuckets } from "./ratelimit.ts";
import { RttAccumulator } from "./stats.ts";
import { listenerAddress, type UdpEndpoint } from "./transport.ts";

/** The largest UDP payload over IPv4 (65,535 − 8 bytes of UDP header − 20 of IP header). */
export const UDP_MAX_PAYLOAD = 65_507;
/** Replies per second sent to any one source IP (or IPv6 /64) by default. */
export const DEFAULT_UDP_RATE = 200;
/** A peer silent this long is reported gone, by default. */
export const DEFAULT_UDP_IDLE_MS = 30_000;
/** Peers tracked at once; past that the longest-silent one is forgotten. */
export const MAX_UDP_PEERS = 10_000;
/** Source IPs (or IPv6 /64s) whose reply budget is kept at once; past that the quietest is forgotten. */
export const MAX_UDP_SOURCES = 10_000;
/**
 * Connected, left and refused lines logged per second at most (a spoofer makes a new peer per source port
 * it picks); the rest are counted on one line a second.
 */
export const UDP_PEER_LINES_PER_SECOND = 10;

/** The server modes that make sense for datagrams. */
export const UDP_MODES = ["echo", "discard"] as const;

/** What `runUdpServer` needs; `runServer` passes its options through. */
export interface UdpServerOptions extends AccessRules {
  endpoint: UdpEndpoint;
  /** `echo` (default) sends each datagram back to its sender; `discard` only counts it. */
  mode?: string;
  /** A peer silent this long is reported gone (default 30 s). */
  idleTimeoutMs?: number;
  udp?: UdpSettings;
  /** Serve Prometheus metrics at `http://HOST:PORT/metrics` (`--metrics`). */
  metrics?: HttpAddress;
}

/** UDP-only settings. */
export interface UdpSettings {
  /**
   * Server: replies per second to any one source IP, or IPv6 /64, whatever its ports; the rest are dropped
   * and logged (default 200, 0: no limit).
   */
  ratePerSecond?: number;
  /** The largest datagram sent or accepted (default 65,507); a longer one received is reported as truncated. */
  maxDatagram?: number;
}

/** How a UDP command is driven: stopped by `signal`, observed through `onEvent`. */
export interface UdpContext<E> {
  signal?: AbortSignal;
  onEvent?: EventSink<E>;
}

/** Turns a missing `Deno.listenDatagram` (no `--unstable-net`) into a clear error. */
function openDatagram(hostname: string, port: number, address: string): Deno.DatagramConn {
  if (typeof Deno.listenDatagram !== "function") {
    throw new SockkitError(
      "UDP needs Deno's --unstable-net flag (the deno.json tasks and the compiled binary set it; " +
        "with deno run, add --unstable-net)",
    );
  }
  try {
    return Deno.listenDatagram({ hostname, port, transport: "udp" });
  } catch (err) {
    if (/os error 22|invalid argument/i.test(String(err)) && /^fe80:/i.test(hostname)) {
      throw new SockkitError(
        `cannot listen on ${address}: a link-local address needs its zone, such as fe80::1%eth0`,
        undefined,
        { cause: err },
      );
    }
    throw toNetworkError(err, "listen", address);
  }
}

interface Peer {
  id: number;
  label: string;
  messages: number;
  bytes: number;
  firstAt: number;
  lastAt: number;
}

/** The peers heard from recently, oldest activity first, with connect/gone reported as events. */
class PeerTable {
  #peers = new Map<string, Peer>();
  #nextId = 0;

  constructor(private readonly emit: (event: PeerLine) => void) {}

  get size(): number {
    return this.#peers.size;
  }

  get seen(): number {
    return this.#nextId;
  }

  /** The peer a datagram came from, created (and reported connected) on its first datagram. */
  touch(label: string, now: number): Peer {
    let peer = this.#peers.get(label);
    if (peer) {
      this.#peers.delete(label);
    } else {
      if (this.#peers.size >= MAX_UDP_PEERS) this.#forgetOldest("too many peers at once", now);
      peer = { id: ++this.#nextId, label, messages: 0, bytes: 0, firstAt: now, lastAt: now };
      this.#peers.set(label, peer);
      this.emit({ type: "connect", id: peer.id, peer: label, active: this.#peers.size });
      return peer;
    }
    peer.lastAt = now;
    this.#peers.set(label, peer);
    return peer;
  }

  /** Reports gone every peer silent for `idleMs` or more. */
  expire(now: number, idleMs: number): void {
    for (const peer of this.#peers.values()) {
      if (now - peer.lastAt < idleMs) break;
      this.#remove(peer, `gone after ${formatDuration(idleMs)} of silence`, now);
    }
  }

  /** Reports every remaining peer gone with `reason`. */
  clear(reason: string, now: number): void {
    for (const peer of [...this.#peers.values()]) this.#remove(peer, reason, now);
  }

  #forgetOldest(reason: string, now: number): void {
    const oldest = this.#peers.values().next().value;
    if (oldest) this.#remove(oldest, reason, now);
  }

  #remove(peer: Peer, reason: string, now: number): void {
    this.#peers.delete(peer.label);
    this.emit({
      type: "disconnect",
      id: peer.id,
      peer: peer.label,
      messages: peer.messages,
      bytes: peer.bytes,
      durationMs: now - peer.firstAt,
      active: this.#peers.size,
      reason,
    });
  }
}

/**
 * Collects replies dropped by the rate limit and reports them at most once a second, by source network
 * (at most `MAX_UDP_SOURCES` of them named; the others only counted).
 */
class DropReport {
  #bySource = new Map<string, number>();
  #unnamed = 0;
  #lastAt = -Infinity;

  /** Each drop is counted in `counters.udpDropped` (the summary's and /metrics' count). */
  constructor(
    private readonly emit: EventSink<ServerEvent>,
    private readonly ratePerSecond: number,
    private readonly counters: { udpDropped: number },
  ) {}

  record(source: string, now: number): void {
    this.counters.udpDropped++;
    const count = this.#bySource.get(source);
    if (count !== undefined || this.#bySource.size < MAX_UDP_SOURCES) {
      this.#bySource.set(source, (count ?? 0) + 1);
    } else {
      this.#unnamed++;
    }
    this.flushIfDue(now);
  }

  /** Reports the drops since the last report if that was a second ago or more. */
  flushIfDue(now: number): void {
    if (now - this.#lastAt >= 1000) this.flush(now);
  }

  flush(now: number): void {
    if (this.#bySource.size === 0) return;
    const [top, topCount] = [...this.#bySource].reduce((a, b) => (b[1] > a[1] ? b : a));
    const dropped = [...this.#bySource.values()].reduce((a, b) => a + b, this.#unnamed);
    const others = this.#bySource.size - 1;
    const rest = others > 0 || this.#unnamed > 0
      ? ` and the rest to ${this.#unnamed > 0 ? "more than " : ""}${plural(others, "other source")}`
      : "";
    const replies = dropped === 1 ? "reply" : "replies";
    this.emit({
      type: "warning",
      message: `rate limit: dropped ${dropped} ${replies} (${topCount} to ${top}${rest}): ` +
        `over --udp-rate ${this.ratePerSecond}/s per source IP`,
    });
    this.#bySource.clear();
    this.#unnamed = 0;
    this.#lastAt = now;
  }
}

type PeerLine = Extract<ServerEvent, { type: "connect" | "disconnect" | "refused" }>;

/**
 * Passes connected, left and refused events on at most `UDP_PEER_LINES_PER_SECOND` a second (each new source
 * port is a new peer, and a spoofer picks ports freely); the ones held back are counted and reported on one
 * warning at most once a second, and at the end.
 */
class PeerLines {
  #bucket = new TokenBucket(UDP_PEER_LINES_PER_SECOND);
  #held = { connect: 0, disconnect: 0, refused: 0 };
  #lastAt = -Infinity;

  constructor(private readonly emit: EventSink<ServerEvent>) {}

  line(event: PeerLine, now: number = performance.now()): void {
    if (this.#bucket.take(now)) return this.emit(event);
    this.#held[event.type]++;
    this.flushIfDue(now);
  }

  /** Reports the lines held back since the last report if that was a second ago or more. */
  flushIfDue(now: number): void {
    if (now - this.#lastAt >= 1000) this.flush(now);
  }

  flush(now: number): void {
    const { connect, disconnect, refused } = this.#held;
    if (connect + disconnect + refused === 0) return;
    const counts = [
      connect > 0 ? `${plural(connect, "peer")} connected` : "",
      disconnect > 0 ? `${plural(disconnect, "peer")} left` : "",
      refused > 0 ? `${plural(refused, "datagram")} refused` : "",
    ].filter(Boolean);
    this.emit({
      type: "warning",
      message: `not shown (over ${UDP_PEER_LINES_PER_SECOND} peer lines a second): ${counts.join(", ")}`,
    });
    this.#held = { connect: 0, disconnect: 0, refused: 0 };
    this.#lastAt = now;
  }
}

/**
 * Runs a UDP server until `signal` aborts: each datagram is echoed to its sender (or only counted, in
 * `discard` mode). A peer (an address and port) is reported connected on its first datagram and gone after
 * `idleTimeoutMs` of silence, in at most `UDP_PEER_LINES_PER_SECOND` lines a second; replies beyond
 * `ratePerSecond` per source IP (or IPv6 /64), whatever its ports, are dropped (a UDP echo can be made to
 * reflect traffic at a forged source) and logged at most once a second; a datagram over `maxDatagram` is
 * reported as truncated and not echoed.
 *
 * @example
 * ```ts
 * const ac = new AbortController();
 * const done = runUdpServer({ endpoint: { transport: "udp", hostname: "127.0.0.1", port: 0 } }, {
 *   signal: ac.signal,
 * });
 * ```
 */
export async function runUdpServer(
  opts: UdpServerOptions,
  ctx: UdpContext<ServerEvent> = {},
): Promise<ServerSummary> {
  const emit = ctx.onEvent ?? (() => {});
  const signal = ctx.signal ?? new AbortController().signal;
  const mode = opts.mode ?? "echo";
  if (!(UDP_MODES as readonly string[]).includes(mode)) {
    throw new UsageError(`--mode ${mode} does not work over UDP: use ${UDP_MODES.join(" or ")}`);
  }
  const ratePerSecond = opts.udp?.ratePerSecond ?? DEFAULT_UDP_RATE;
  const maxDatagram = opts.udp?.maxDatagram ?? UDP_MAX_PAYLOAD;
  const idleMs = opts.idleTimeoutMs ?? DEFAULT_UDP_IDLE_MS;
  const { hostname, port } = opts.endpoint;
  const startedAt = performance.now();

  const counters = new ServerCounters();
  const conn = openDatagram(hostname, port, formatHostPort(hostname, port));
  const address = listenerAddress(conn, opts.endpoint);
  let metrics: HttpListener | undefined;
  try {
    ({ metrics } = await startHttpListeners({ metrics: opts.metrics }, counters));
  } catch (err) {
    closeQuietly(conn);
    throw err;
  }
  emit({ type: "listening", address, mode, transport: "UDP" });
  if (metrics) emit({ type: "http", serves: "metrics", url: `${metrics.url}/metrics` });

  const lines = new PeerLines(emit);
  const peers = new PeerTable((event) => {
    if (event.type === "connect") counters.connected("udp");
    else if (event.type === "disconnect") counters.disconnected("udp");
    lines.line(event);
  });
  const limiter = ratePerSecond > 0 ? new TokenBuckets(ratePerSecond, MAX_UDP_SOURCES) : undefined;
  const drops = new DropReport(emit, ratePerSecond, counters);
  const warn = limitedLog(5, (message) => emit({ type: "warning", message }));
  const tick = () => {
    const now = performance.now();
    peers.expire(now, idleMs);
    limiter?.sweep(now);
    lines.flushIfDue(now);
    drops.flushIfDue(now);
  };
  const sweeper = setInterval(tick, Math.max(10, Math.min(1000, idleMs / 4)));
  const stop = () => closeQuietly(conn);
  signal.addEventListener("abort", stop, { once: true });
  if (signal.aborted) stop();

  const buf = new Uint8Array(maxDatagram + 1);
  const zone = zoneOf(opts.endpoint.hostname);
  try {
    while (!signal.aborted) {
      let data: Uint8Array;
      let from: Deno.Addr;
      try {
        [data, from] = await conn.receive(buf);
      } catch (err) {
        if (signal.aborted || isClosedError(err)) break;
        warn(`cannot receive: ${networkReason(err)}`);
        await sleep(10, signal);
        continue;
      }
      const now = performance.now();
      const refusal = accessRefusal(from, opts);
      if (refusal) {
        counters.refused.deny++;
        lines.line({ type: "refused", peer: formatAddr(from, zone), reason: refusal }, now);
        continue;
      }
      const peer = peers.touch(formatAddr(from, zone), now);
      if (data.length > maxDatagram) {
        warn(
          `dropped a datagram from ${peer.label} larger than ${maxDatagram} bytes (truncated on receive; ` +
            `raise --max-datagram to accept it)`,
        );
        continue;
      }
      peer.messages++;
      peer.bytes += data.length;
      counters.messagesReceived++;
      counters.receivedBytes += data.length;
      emit({ type: "message", id: peer.id, peer: peer.label, count: peer.messages, bytes: data.length });
      if (mode !== "echo") continue;
      const source = limiter && sourceNetwork((from as Deno.NetAddr).hostname);
      if (source && !limiter.take(source, now)) {
        drops.record(source, now);
        continue;
      }
      try {
        counters.sentBytes += await conn.send(data, from);
      } catch (err) {
        if (signal.aborted || isClosedError(err)) break;
        warn(`cannot reply to ${peer.label}: ${networkReason(err)}`);
      }
    }
  } finally {
    clearInterval(sweeper);
    signal.removeEventListener("abort", stop);
    closeQuietly(conn);
  }

  emit({ type: "stopping", active: 0 });
  const end = performance.now();
  peers.clear("server shutting down", end);
  lines.flush(end);
  drops.flush(end);
  await metrics?.shutdown();
  const summary: ServerSummary = {
    address,
    clients: counters.connectionsTotal,
    messages: counters.messagesReceived,
    bytes: counters.receivedBytes,
    refused: counters.refused.deny,
    uptimeMs: end - startedAt,
    dropped: counters.udpDropped,
  };
  emit({ type: "summary", ...summary });
  return summary;
}

/** What `runUdpClient` needs; `runClient` passes its options through. */
export interface UdpClientOptions {
  endpoint: UdpEndpoint;
  message?: Uint8Array;
  mode?: "once" | "repeat" | "pipe" | "interactive";
  count?: number;
  intervalMs?: number;
  timeoutMs?: number;
  udp?: UdpSettings;
}

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

  constructor(private readonly ep: UdpEndpoint, private readonly onSocket: (s: Deno.DatagramConn) => void) {
    this.socket = this.#open(ep.hostname.includes(":") ? "::" : "0.0.0.0");
  }

  #open(local: string): Deno.DatagramConn {
    const socket = openDatagram(local, 0, formatHostPort(local, 0));
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
  ctx: UdpContext<ClientEvent> = {},
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
  const sender = new UdpSender(opts.endpoint, (socket) => {
    receivers.push(receiveReplies(socket, opts.endpoint.port, maxDatagram, replies));
  });
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
  const repeat = opts.mode === "repeat";
  const count = repeat ? opts.count ?? Infinity : 1;
  const intervalMs = opts.intervalMs ?? 1000;
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
  const firstAt = performance.now();
  for (let seq = 1; seq <= count && !signal.aborted; seq++) {
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
    if (seq < count) await sleep(Math.max(0, firstAt + seq * intervalMs - performance.now()), signal);
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

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}
