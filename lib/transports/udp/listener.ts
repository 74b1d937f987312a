/**
 * The UDP listener: one datagram socket whose datagrams are sorted by source into per-peer connections, so
 * the server serves UDP with the same accept loop, guard rails and modes (lib/modes/) as TCP. A peer is a
 * source address and port: it is accepted on its first datagram and ends after a silence (`idleMs`), or when
 * the table is full and it is the longest silent. Each read is one datagram; each write sends one. Replies
 * beyond `ratePerSecond` per source IP (or IPv6 /64), whatever its ports, are dropped and logged at most once
 * a second (a UDP echo can be made to reflect traffic at a forged source); a datagram over `maxDatagram` is
 * reported as truncated and not delivered; the lines about new and gone peers are rate-limited too (a spoofer
 * makes a new peer per source port it picks). Needs Deno's `--unstable-net`.
 * @module
 */
import { formatAddr, formatHostPort } from "../../endpoints/address.ts";
import { sourceNetwork } from "../../endpoints/cidr.ts";
import { formatDuration } from "../../core/duration.ts";
import { networkReason, SockkitError, toNetworkError } from "../../core/errors.ts";
import type { EventSink, ServerEvent, ServerSummary } from "../../report/events.ts";
import { plural } from "../../core/format.ts";
import { closeQuietly, isClosedError, sleep } from "../../core/io.ts";
import { limitedLog, TokenBucket, TokenBuckets } from "../../core/ratelimit.ts";
import type { Connection, Listener, ListenSettings, Message, UdpEndpoint } from "../types.ts";

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

/** Turns a missing `Deno.listenDatagram` (no `--unstable-net`) into a clear error. */
export function openDatagram(hostname: string, port: number, address: string): Deno.DatagramConn {
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

/** Bytes of datagrams received but not yet read, over all peers; past it, new datagrams are dropped. */
export const MAX_UDP_QUEUED_BYTES = 4 * 1024 * 1024;

/** One peer of a UDP listener: its datagrams, read one at a time, and its replies, sent one per write. */
class DatagramPeer implements Connection {
  readonly localAddr: Deno.Addr;
  /** When it was last heard from (`performance.now()`). */
  lastAt = performance.now();
  /** Why the listener ended it (gone silent, the table full), once it has. */
  endReason?: string;
  #queue: Uint8Array[] = [];
  #reader?: PromiseWithResolvers<Uint8Array | null>;
  #ended = false;

  constructor(
    private readonly listener: DatagramListener,
    readonly key: string,
    readonly remoteAddr: Deno.NetAddr,
  ) {
    this.localAddr = listener.addr;
  }

  /** Queues a datagram for the next read (the listener bounds what all peers hold together). */
  deliver(data: Uint8Array): void {
    if (this.#ended) return;
    const reader = this.#reader;
    if (reader) {
      this.#reader = undefined;
      return reader.resolve(data);
    }
    this.#queue.push(data);
    this.listener.queued += data.length;
  }

  /** The next datagram, as a (binary) message; null once the peer has ended. */
  readMessage(): Promise<Message | null> {
    return this.#nextDatagram().then((data) => data && { data, text: false });
  }

  /** Sends one datagram. */
  async writeMessage(message: Message): Promise<void> {
    await this.write(message.data);
  }

  #nextDatagram(): Promise<Uint8Array | null> {
    const next = this.#queue.shift();
    if (next) {
      this.listener.queued -= next.length;
      return Promise.resolve(next);
    }
    if (this.#ended) return Promise.resolve(null);
    this.#reader = Promise.withResolvers();
    return this.#reader.promise;
  }

  /** Copies the next datagram into `buf` (what does not fit is lost, as with `recv` on a UDP socket). */
  async read(buf: Uint8Array): Promise<number | null> {
    const data = await this.#nextDatagram();
    if (data === null) return null;
    const n = Math.min(data.length, buf.length);
    buf.set(data.subarray(0, n));
    return n;
  }

  /** Sends `data` as one datagram, unless the source's reply budget is spent (then it is dropped, and logged). */
  async write(data: Uint8Array): Promise<number> {
    if (this.#ended) throw new Deno.errors.BadResource("this UDP peer has ended");
    await this.listener.reply(this, data);
    return data.length;
  }

  /** A datagram peer cannot half-close: ending what it is sent ends it. */
  closeWrite(): Promise<void> {
    this.close();
    return Promise.resolve();
  }

  /** Ends the peer: a waiting read gets null; the listener forgets it. */
  close(): void {
    this.end();
  }

  /** Ends the peer with a reason the server reports (`gone after 30s of silence`). */
  end(reason?: string): void {
    if (this.#ended) return;
    this.#ended = true;
    this.endReason ??= reason;
    for (const data of this.#queue) this.listener.queued -= data.length;
    this.#queue = [];
    this.#reader?.resolve(null);
    this.#reader = undefined;
    this.listener.forget(this);
  }
}

/** A UDP socket serving its peers as connections (see the module doc). */
class DatagramListener implements Listener {
  readonly addr: Deno.NetAddr;
  /** Bytes waiting in all peers' queues. */
  queued = 0;
  readonly #socket: Deno.DatagramConn;
  readonly #peers = new Map<string, DatagramPeer>();
  readonly #accepting: DatagramPeer[] = [];
  #acceptor?: PromiseWithResolvers<Connection>;
  #closed = false;
  readonly #limiter?: TokenBuckets;
  readonly #drops: DropReport;
  readonly #lines: PeerLines;
  readonly #warn: (line: string) => void;
  readonly #sweeper: ReturnType<typeof setInterval>;

  constructor(
    socket: Deno.DatagramConn,
    private readonly emit: EventSink<ServerEvent>,
    private readonly settings: {
      ratePerSecond: number;
      maxDatagram: number;
      idleMs: number;
      counters: { udpDropped: number; sentBytes: number };
    },
  ) {
    this.#socket = socket;
    this.addr = socket.addr as Deno.NetAddr;
    const { ratePerSecond, idleMs } = settings;
    this.#limiter = ratePerSecond > 0 ? new TokenBuckets(ratePerSecond, MAX_UDP_SOURCES) : undefined;
    this.#drops = new DropReport(emit, ratePerSecond, settings.counters);
    this.#lines = new PeerLines(emit);
    this.#warn = limitedLog(5, (message) => emit({ type: "warning", message }));
    this.#sweeper = setInterval(() => this.#tick(), Math.max(10, Math.min(1000, idleMs / 4)));
    void this.#receive();
  }

  accept(): Promise<Connection> {
    const next = this.#accepting.shift();
    if (next) return Promise.resolve(next);
    if (this.#closed) return Promise.reject(new Deno.errors.BadResource("the UDP listener is closed"));
    this.#acceptor = Promise.withResolvers();
    return this.#acceptor.promise;
  }

  /** Stops receiving; the peers already accepted stay until the server ends them. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sweeper);
    closeQuietly(this.#socket);
    this.#acceptor?.reject(new Deno.errors.BadResource("the UDP listener is closed"));
    this.#acceptor = undefined;
  }

  /** Peer lines (connected, left, refused) go out at most `UDP_PEER_LINES_PER_SECOND` a second. */
  reporter(emit: EventSink<ServerEvent>): EventSink<ServerEvent> {
    return (event) => {
      if (event.type === "connect" || event.type === "disconnect" || event.type === "refused") {
        this.#lines.line(event);
      } else {
        emit(event);
      }
    };
  }

  /** At the end: the lines and drops held back are reported, and the drops counted in the summary. */
  finish(): Partial<ServerSummary> {
    const now = performance.now();
    this.#lines.flush(now);
    this.#drops.flush(now);
    return { dropped: this.settings.counters.udpDropped };
  }

  /** Sends a reply to `peer`, within its source's budget. A failed send is logged; the peer stays. */
  async reply(peer: DatagramPeer, data: Uint8Array): Promise<void> {
    const now = performance.now();
    const source = this.#limiter && sourceNetwork(peer.remoteAddr.hostname);
    if (source && !this.#limiter!.take(source, now)) {
      this.settings.counters.sentBytes -= data.length; // the server counts what its modes write: not this one
      return this.#drops.record(source, now);
    }
    try {
      await this.#socket.send(data, peer.remoteAddr);
    } catch (err) {
      if (this.#closed || isClosedError(err)) throw err;
      this.#warn(`cannot reply to ${formatAddr(peer.remoteAddr)}: ${networkReason(err)}`);
    }
  }

  /** Takes an ended peer out of the table. */
  forget(peer: DatagramPeer): void {
    if (this.#peers.get(peer.key) === peer) this.#peers.delete(peer.key);
  }

  async #receive(): Promise<void> {
    const { maxDatagram } = this.settings;
    const buf = new Uint8Array(maxDatagram + 1);
    while (!this.#closed) {
      let data: Uint8Array;
      let from: Deno.Addr;
      try {
        [data, from] = await this.#socket.receive(buf);
      } catch (err) {
        if (this.#closed || isClosedError(err)) break;
        this.#warn(`cannot receive: ${networkReason(err)}`);
        await sleep(10);
        continue;
      }
      const addr = from as Deno.NetAddr;
      const key = formatAddr(addr);
      let peer = this.#peers.get(key);
      if (data.length > maxDatagram) {
        this.#warn(
          `dropped a datagram from ${key} larger than ${maxDatagram} bytes (truncated on receive; ` +
            `raise --max-datagram to accept it)`,
        );
        continue;
      }
      if (this.queued + data.length > MAX_UDP_QUEUED_BYTES) continue; // a full receive buffer drops, as the OS does
      if (peer) {
        this.#peers.delete(key); // kept in order of activity: the longest silent first
      } else {
        if (this.#peers.size >= MAX_UDP_PEERS) {
          this.#peers.values().next().value?.end("too many peers at once");
        }
        peer = new DatagramPeer(this, key, addr);
        this.#offer(peer);
      }
      peer.lastAt = performance.now();
      this.#peers.set(key, peer);
      peer.deliver(data.slice());
    }
  }

  #offer(peer: DatagramPeer): void {
    const acceptor = this.#acceptor;
    if (acceptor) {
      this.#acceptor = undefined;
      acceptor.resolve(peer);
    } else {
      this.#accepting.push(peer);
    }
  }

  #tick(): void {
    const now = performance.now();
    const { idleMs } = this.settings;
    for (const peer of this.#peers.values()) {
      if (now - peer.lastAt < idleMs) break;
      peer.end(`gone after ${formatDuration(idleMs)} of silence`);
    }
    this.#limiter?.sweep(now);
    this.#lines.flushIfDue(now);
    this.#drops.flushIfDue(now);
  }
}

/**
 * Binds a UDP socket and serves its peers as connections (see the module doc). Throws a `SockkitError` that
 * says why it cannot bind.
 *
 * @example
 * ```ts ignore
 * const listener = listenUdp({ transport: "udp", hostname: "127.0.0.1", port: 0 }, console.log);
 * const peer = await listener.accept(); // on the first datagram from a new source
 * ```
 */
export function listenUdp(
  ep: UdpEndpoint,
  emit: EventSink<ServerEvent>,
  settings: ListenSettings = {},
): Listener {
  const opened = openDatagram(ep.hostname, ep.port, formatHostPort(ep.hostname, ep.port));
  const socket = settings.tap?.datagram(opened) ?? opened;
  return new DatagramListener(socket, emit, {
    ratePerSecond: settings.udp?.ratePerSecond ?? DEFAULT_UDP_RATE,
    maxDatagram: settings.udp?.maxDatagram ?? UDP_MAX_PAYLOAD,
    idleMs: settings.idleTimeoutMs ?? DEFAULT_UDP_IDLE_MS,
    counters: settings.counters ?? { udpDropped: 0, sentBytes: 0 },
  });
}
