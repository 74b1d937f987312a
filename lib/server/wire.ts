import type { EventSink, HexEvent, TraceEvent, WireEvent } from "../report/events.ts";
import { networkReason } from "../core/errors.ts";
import { ForwardingConn } from "../core/io.ts";

/** What to show of the wire: the socket calls (`--trace`), the bytes (`--hex`), or both. */
import type { Connection } from "../transports/types.ts";
export interface WireOptions {
  trace?: boolean;
  hex?: boolean;
}

type TraceFields = Omit<TraceEvent, "type" | "call" | "elapsedMs">;

function toHex(bytes: Uint8Array): string {
  let hex = "";
  for (const b of bytes) hex += b.toString(16).padStart(2, "0");
  return hex;
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

  constructor(
    readonly opts: WireOptions,
    private readonly emit: EventSink<WireEvent>,
    startedAt: number = performance.now(),
  ) {
    this.#startedAt = startedAt;
  }

  /** True when there is something to report. */
  get enabled(): boolean {
    return Boolean(this.opts.trace || this.opts.hex);
  }

  /** Reports one socket call (with `--trace`). */
  trace(call: TraceEvent["call"], fields: TraceFields = {}): void {
    if (this.opts.trace) {
      this.emit({ type: "trace", call, elapsedMs: performance.now() - this.#startedAt, ...fields });
    }
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
    try {
      const n = await this.inner.read(p);
      this.tap.trace("recv", { peer: this.peer, size: p.length, result: n ?? 0 });
      if (n) {
        this.tap.hex("recv", this.peer, this.#received, p.subarray(0, n));
        this.#received += n;
      }
      return n;
    } catch (err) {
      if (!this.#closed) {
        this.tap.trace("recv", { peer: this.peer, size: p.length, error: networkReason(err) });
      }
      throw err;
    }
  }

  override async write(p: Uint8Array): Promise<number> {
    try {
      const n = await this.inner.write(p);
      this.tap.trace("send", { peer: this.peer, size: p.length, result: n });
      this.tap.hex("send", this.peer, this.#sent, p.subarray(0, n));
      this.#sent += n;
      return n;
    } catch (err) {
      if (!this.#closed) {
        this.tap.trace("send", { peer: this.peer, size: p.length, error: networkReason(err) });
      }
      throw err;
    }
  }

  override async closeWrite(): Promise<void> {
    await this.inner.closeWrite();
    this.tap.trace("shutdown", { peer: this.peer });
  }

  override close(): void {
    this.inner.close();
    if (!this.#closed) this.tap.trace("close", { peer: this.peer });
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
    case "recv":
    case "send":
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
