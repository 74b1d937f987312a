import type { EventSink, HexEvent, TraceEvent, WireEvent } from "../report/events.ts";
import { networkReason } from "../core/errors.ts";
import { ForwardingConn } from "../core/io.ts";
import { siteOf, type SocketStep } from "../core/site.ts";
import type { Connection, Listener } from "../transports/types.ts";
import { formatAddr } from "../endpoints/address.ts";

/** What to show of the wire: the socket calls (`--trace`), the bytes (`--hex`), or both. */
export interface WireOptions {
  trace?: boolean;
  hex?: boolean;
  /** With `trace`: name the line of sockkit that made each call (`site`; `--trace=columns`, `sockkit demo`). */
  sites?: boolean;
  /** With `trace`: time calls from this `performance.now()` (one clock for a server and a client: the demo). */
  traceClock?: number;
}

type TraceFields = Omit<TraceEvent, "type" | "call" | "elapsedMs">;

/** The tap's own file: its frames are skipped when finding the line that made a call. */
const WIRE = "lib/server/wire.ts";

function toHex(bytes: Uint8Array): string {
  let hex = "";
  for (const b of bytes) hex += b.toString(16).padStart(2, "0");
  return hex;
}

/** Where and when a call was made, kept until it is reported. */
interface Made {
  where?: Error;
  /** The line, when it is already known (a transport's step). */
  site?: string;
  at: number;
}

/** The calls a transport made on `conn` before handing it up (TLS: connect, handshake). */
function stepsOf(conn: Connection): readonly SocketStep[] {
  return (conn as { steps?: readonly SocketStep[] }).steps ?? [];
}

/** `target` with some of its methods replaced, the rest (and its getters) reaching the object itself. */
function overriding<T extends object>(target: T, methods: Partial<T>): T {
  return new Proxy(target, {
    get(t, prop) {
      if (Object.hasOwn(methods, prop)) return (methods as Record<PropertyKey, unknown>)[prop];
      const value = Reflect.get(t, prop, t);
      return typeof value === "function" ? value.bind(t) : value;
    },
  });
}

/**
 * Reports socket calls and traffic as events. `wrap` returns a connection that narrates its own reads,
 * writes and closes; without `--trace` or `--hex` nothing is wrapped and nothing costs anything.
 *
 * @example
 * ```ts ignore
 * const tap = new WireTap({ trace: true }, console.log);
 * const conn = tap.wrap(await Deno.connect({ hostname: "127.0.0.1", port: 1234 }), "127.0.0.1:1234");
 * await conn.write(new TextEncoder().encode("Hi")); // { type: "trace", call: "send", size: 2, result: 2, … }
 * ```
 */
export class WireTap {
  readonly #startedAt: number;
  readonly #accepted = new WeakMap<Connection, Made>();
  #connecting?: Made;

  constructor(
    readonly opts: WireOptions,
    private readonly emit: EventSink<WireEvent>,
    startedAt: number = performance.now(),
  ) {
    this.#startedAt = opts.traceClock ?? startedAt;
  }

  /** True when there is something to report. */
  get enabled(): boolean {
    return Boolean(this.opts.trace || this.opts.hex);
  }

  /** True when each call is reported with the line that made it. */
  get sites(): boolean {
    return Boolean(this.opts.trace && this.opts.sites);
  }

  /** The stack now, to find the caller's line in later (only with `sites`). */
  here(): Error | undefined {
    return this.sites ? new Error() : undefined;
  }

  /** Reports one socket call (with `--trace`), made at `where` and completed at `at` (default: now). */
  trace(call: TraceEvent["call"], fields: TraceFields = {}, made?: Made): void {
    if (!this.opts.trace) return;
    const at = made?.at ?? performance.now();
    const site = !this.sites ? undefined : made?.site ?? (made?.where && siteOf(made.where, [WIRE]));
    this.emit({ type: "trace", call, elapsedMs: at - this.#startedAt, ...fields, ...(site && { site }) });
  }

  /** Reports bytes that went over the wire (with `--hex`). */
  hex(direction: "recv" | "send", peer: string, offset: number, bytes: Uint8Array): void {
    if (this.opts.hex && bytes.length > 0) {
      this.emit({ type: "hex", direction, peer, offset, hex: toHex(bytes) });
    }
  }

  /** The connection itself when nothing is reported, else one that reports what happens on it. */
  wrap(conn: Connection, peer: string): Connection {
    return this.enabled ? new TappedConn(conn, peer, this) : conn;
  }

  /** Awaits a listen and reports it as bind and listen, made on the line that called this. */
  async listening<L extends Listener>(op: Promise<L>, addressOf: (listener: L) => string): Promise<L> {
    const where = this.here();
    const listener = await op;
    const made = { where, at: performance.now() };
    const address = addressOf(listener);
    this.trace("bind", { address }, made);
    // a datagram socket is bound, and that is all: it has no listen (and no accept, no connection)
    if (listener.addr.transport !== "udp") this.trace("listen", { address }, made);
    return listener;
  }

  /** Reports a datagram socket just bound, on the line that called this. */
  bound(socket: Deno.DatagramConn): Deno.DatagramConn {
    this.trace("bind", { address: formatAddr(socket.addr) }, { where: this.here(), at: performance.now() });
    return socket;
  }

  /** Awaits a connect made on the line that called this; `connected` reports it. */
  async connecting<C extends Connection>(op: Promise<C>): Promise<C> {
    const where = this.here();
    const conn = await op;
    this.#connecting = { where, at: performance.now() };
    return conn;
  }

  /** Reports the connect `connecting` awaited, and the steps its transport took after (a TLS handshake). */
  connected(conn: Connection, fields: TraceFields): void {
    const made = this.#connecting;
    this.#connecting = undefined;
    const steps = stepsOf(conn);
    if (!steps.some((s) => s.call === "connect")) this.trace("connect", fields, made);
    this.#reportSteps(steps, fields);
  }

  /** The listener, or with `sites` one that remembers where and when each connection was accepted. */
  listener<L extends Listener>(listener: L): L {
    if (!this.sites) return listener;
    const accepted = this.#accepted;
    const accept = async () => {
      const where = new Error();
      const conn = await listener.accept();
      accepted.set(conn, { where, at: performance.now() });
      return conn;
    };
    return overriding<Listener>(listener, { accept }) as L;
  }

  /** Reports an accepted connection: its transport's steps (a TLS handshake), then the accept. */
  accepted(conn: Connection, fields: TraceFields): void {
    this.#reportSteps(stepsOf(conn), { peer: fields.peer });
    this.trace("accept", fields, this.#accepted.get(conn));
  }

  #reportSteps(steps: readonly SocketStep[], fields: TraceFields): void {
    for (const s of steps) {
      const made = { at: s.at, site: this.sites ? s.site : undefined };
      this.trace(s.call, s.call === "connect" ? fields : { peer: fields.peer }, made);
    }
  }

  /** A datagram socket that reports each sendto and recvfrom (with `--trace`), else the socket itself. */
  datagram(socket: Deno.DatagramConn, label: (addr: Deno.Addr) => string = formatAddr): Deno.DatagramConn {
    if (!this.opts.trace) return socket;
    const receive = async (p?: Uint8Array): Promise<[Uint8Array<ArrayBuffer>, Deno.Addr]> => {
      const where = this.here();
      const [data, from] = await socket.receive(p);
      const fields = { peer: label(from), size: p?.length, result: data.length };
      this.trace("recvfrom", fields, { where, at: performance.now() });
      return [data, from];
    };
    const send = async (p: Uint8Array, to: Deno.Addr): Promise<number> => {
      const where = this.here();
      const n = await socket.send(p, to);
      this.trace("sendto", { peer: label(to), size: p.length, result: n }, { where, at: performance.now() });
      return n;
    };
    return overriding(socket, { receive, send });
  }
}

/** A connection that reports its reads, writes, shutdowns and close to a WireTap. */
class TappedConn extends ForwardingConn {
  #received = 0;
  #sent = 0;
  #closed = false;

  constructor(
    inner: Connection,
    private readonly peer: string,
    private readonly tap: WireTap,
  ) {
    super(inner);
  }

  override async read(p: Uint8Array): Promise<number | null> {
    const where = this.tap.here();
    try {
      const n = await this.inner.read(p);
      this.tap.trace("recv", { peer: this.peer, size: p.length, result: n ?? 0 }, {
        where,
        at: performance.now(),
      });
      if (n) {
        this.tap.hex("recv", this.peer, this.#received, p.subarray(0, n));
        this.#received += n;
      }
      return n;
    } catch (err) {
      if (!this.#closed) {
        const fields = { peer: this.peer, size: p.length, error: networkReason(err) };
        this.tap.trace("recv", fields, { where, at: performance.now() });
      }
      throw err;
    }
  }

  override async write(p: Uint8Array): Promise<number> {
    const where = this.tap.here();
    try {
      const n = await this.inner.write(p);
      this.tap.trace("send", { peer: this.peer, size: p.length, result: n }, {
        where,
        at: performance.now(),
      });
      this.tap.hex("send", this.peer, this.#sent, p.subarray(0, n));
      this.#sent += n;
      return n;
    } catch (err) {
      if (!this.#closed) {
        const fields = { peer: this.peer, size: p.length, error: networkReason(err) };
        this.tap.trace("send", fields, { where, at: performance.now() });
      }
      throw err;
    }
  }

  override async closeWrite(): Promise<void> {
    const where = this.tap.here();
    await this.inner.closeWrite();
    this.tap.trace("shutdown", { peer: this.peer }, { where, at: performance.now() });
  }

  override close(): void {
    this.inner.close();
    if (!this.#closed) {
      this.tap.trace("close", { peer: this.peer }, { where: this.tap.here(), at: performance.now() });
    }
    this.#closed = true;
  }

  override [Symbol.dispose](): void {
    if (!this.#closed) this.close();
  }
}

/**
 * A trace event as one line, in the style of strace: time since start, the call, its arguments and result.
 *
 * @example
 * ```ts
 * formatTrace({ type: "trace", call: "recv", elapsedMs: 12.5, peer: "127.0.0.1:53422", size: 512, result: 6 });
 * // "[+0.012500s] recv(127.0.0.1:53422, 512) = 6"
 * ```
 */
export function formatTrace(e: TraceEvent): string {
  const time = `[+${(e.elapsedMs / 1000).toFixed(6)}s]`;
  let call: string;
  switch (e.call) {
    case "bind":
    case "listen":
      call = `${e.call}(${e.address})`;
      break;
    case "accept":
      call = `accept(${e.address ?? ""}) = ${e.peer}`;
      break;
    case "connect":
      call = `connect(${e.peer})${e.address ? ` from ${e.address}` : ""}`;
      break;
    case "handshake":
      call = `handshake(${e.peer ?? ""})`;
      break;
    case "recv":
    case "send":
    case "recvfrom":
    case "sendto":
      call = `${e.call}(${e.peer}, ${e.size})`;
      if (e.result !== undefined) {
        call += ` = ${e.result}${e.call === "recv" && e.result === 0 ? " (end of stream)" : ""}`;
      }
      break;
    case "shutdown":
      call = `shutdown(${e.peer}, write)`;
      break;
    case "close":
      call = `close(${e.peer})`;
      break;
  }
  const loop = e.loop === undefined ? "" : ` [loop ${e.loop}]`;
  return `${time}${loop} ${call}${e.error ? ` = error: ${e.error}` : ""}`;
}

const HEX_ROW = 16;

/**
 * A hex event as a header line and a dump like `ncat --hex-dump`: stream offset, 16 bytes in hex, the same
 * bytes as ASCII (`.` for the rest).
 *
 * @example
 * ```ts
 * formatHex({ type: "hex", direction: "recv", peer: "127.0.0.1:53422", offset: 0, hex: "48690a" });
 * // ["< recv 3 bytes from 127.0.0.1:53422", "[0000]   48 69 0A  …  Hi."]
 * ```
 */
export function formatHex(e: HexEvent): string[] {
  const bytes = e.hex.match(/../g)?.map((h) => parseInt(h, 16)) ?? [];
  const loop = e.loop === undefined ? "" : ` [loop ${e.loop}]`;
  const lines = [
    e.direction === "recv"
      ? `< recv ${bytes.length} bytes from ${e.peer}${loop}`
      : `> send ${bytes.length} bytes to ${e.peer}${loop}`,
  ];
  for (let i = 0; i < bytes.length; i += HEX_ROW) {
    const row = bytes.slice(i, i + HEX_ROW);
    const hex = row.map((b) => b.toString(16).toUpperCase().padStart(2, "0") + " ").join("");
    const ascii = row.map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".")).join("");
    lines.push(`[${(e.offset + i).toString(16).padStart(4, "0")}]   ${hex.padEnd(50)}  ${ascii}`);
  }
  return lines;
}
