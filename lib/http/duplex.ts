/**
 * A `Connection` (a `Deno.Conn`) as a Node `Duplex` stream, for the npm `ws` package's server side (it frames a WebSocket over
 * any Node stream). Reads are pulled only while the stream wants more (`push` answering false stops them), so
 * a peer's bytes wait in the kernel, not in memory, while the WebSocket's reader is behind; `conn.write()`
 * short writes are finished here; `end()` is a half-close (`closeWrite`) and `destroy()` closes the socket.
 * @module
 */
import type { Connection } from "../transports/types.ts";
import { Buffer } from "node:buffer";
import { Duplex } from "node:stream";
import { writeAll } from "../core/io.ts";

/** The size of one read from the socket. */
const READ_SIZE = 16 * 1024;

/**
 * `conn` as a `Duplex`.
 *
 * @example
 * ```ts ignore
 * const stream = connDuplex(conn);
 * stream.on("data", (chunk) => console.log(chunk.length));
 * stream.end("bye");
 * ```
 */
export function connDuplex(conn: Connection): Duplex {
  return new ConnDuplex(conn);
}

class ConnDuplex extends Duplex {
  #reading = false;
  /** What each read fills; only one read is in flight at a time. */
  readonly #scratch = new Uint8Array(READ_SIZE);

  constructor(private readonly conn: Connection) {
    super({ allowHalfOpen: true });
  }

  override _read(): void {
    if (this.#reading) return;
    this.#reading = true;
    void this.#pump();
  }

  async #pump(): Promise<void> {
    const buf = this.#scratch;
    while (!this.destroyed) {
      let n: number | null;
      try {
        n = await this.conn.read(buf);
      } catch (err) {
        this.#reading = false;
        if (!this.destroyed) this.destroy(err as Error);
        return;
      }
      if (this.destroyed) return;
      if (n === null) {
        this.push(null);
        return;
      }
      // a copy of what was read (the stream keeps it until the WebSocket's reader takes it)
      if (!this.push(Buffer.from(buf.subarray(0, n)))) {
        this.#reading = false;
        return;
      }
    }
  }

  override _write(chunk: Uint8Array, _encoding: string, callback: (error?: Error | null) => void): void {
    writeAll(this.conn, chunk).then(() => callback(), (err) => callback(err as Error));
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.conn.closeWrite().then(() => callback(), () => callback());
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    try {
      this.conn.close();
    } catch {
      // already closed
    }
    callback(error);
  }

  /** `ws` turns Node's socket timeout off; a `Connection` has none. */
  setTimeout(): this {
    return this;
  }

  /** `ws` asks for no delay: small frames go out at once. */
  setNoDelay(): this {
    try {
      (this.conn as Deno.TcpConn).setNoDelay?.(true);
    } catch {
      // not TCP, or closed
    }
    return this;
  }
}
