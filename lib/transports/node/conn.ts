/**
 * The `node:net` I/O core's connection (`--io node`): a `node:net` socket read and written as a `Deno.Conn`, so every
 * mode, the client and the load generator use it as they use any other connection.
 *
 * Why `node:net` moves the bytes: under saturation, loops of `Deno.Conn.read()` on many connections serve
 * them unevenly (in bench/NOTES.md, 500 busy connections: some got no round trip for seconds), while the same
 * runtime's `node:net`, served natively by its libuv-style layer, delivers data to every socket in turn. Reads
 * here take the chunks the socket delivers; at most `HIGH_WATER` bytes wait unread before the socket is
 * paused, so a peer that sends faster than the mode reads is slowed down by TCP, never buffered without bound.
 * A write resolves once the socket took every byte (a short write never happens), and not before, so the
 * caller may reuse its buffer and a peer that does not read holds up only its own writer.
 * @module
 */
import type { Socket } from "node:net";
import { Buffer } from "node:buffer";

/** Bytes received and not yet read by the mode before the socket stops reading from the kernel. */
export const HIGH_WATER = 64 * 1024;

/**
 * A node:net error as the `Deno.errors` class Deno's own sockets raise for it, so that error messages and
 * the checks on them (`isClosedError`, `networkReason`) are the same whichever API moved the bytes.
 *
 * @example
 * ```ts
 * const err = Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
 * denoError(err) instanceof Deno.errors.ConnectionReset; // true
 * ```
 */
export function denoError(err: unknown): Error {
  const e = err as NodeJS.ErrnoException;
  const message = e?.message ?? String(err);
  switch (e?.code) {
    case "ECONNREFUSED":
      return new Deno.errors.ConnectionRefused(message);
    case "ECONNRESET":
      return new Deno.errors.ConnectionReset(message);
    case "ECONNABORTED":
      return new Deno.errors.ConnectionAborted(message);
    case "ENOTFOUND":
    case "EAI_AGAIN":
    case "EAI_NONAME":
    case "EAI_NODATA":
      return new Deno.errors.NotFound(
        `failed to lookup address information: Name or service not known (${message})`,
      );
    case "ENOENT":
      return new Deno.errors.NotFound(message);
    case "ETIMEDOUT":
      return new Deno.errors.TimedOut(message);
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return new Deno.errors.NetworkUnreachable(message);
    case "EPIPE":
    case "ERR_STREAM_WRITE_AFTER_END":
      return new Deno.errors.BrokenPipe(message);
    case "EADDRINUSE":
      return new Deno.errors.AddrInUse(message);
    case "EADDRNOTAVAIL":
      return new Deno.errors.AddrNotAvailable(message);
    case "EACCES":
    case "EPERM":
      return new Deno.errors.PermissionDenied(message);
    case "ERR_STREAM_DESTROYED":
    case "ERR_SOCKET_CLOSED":
      return new Deno.errors.BadResource("the connection is closed");
    case "ERR_ACCESS_DENIED":
      return new Deno.errors.NotCapable(message);
  }
  if (err instanceof Deno.errors.NotCapable || /NotCapable|Requires (net|read|write) access/.test(message)) {
    return new Deno.errors.NotCapable(message);
  }
  return err instanceof Error ? err : new Error(message);
}

/** The address a node socket reports, as a `Deno.Addr`. */
function addrOf(address: string | undefined, port: number | undefined): Deno.Addr {
  return { transport: "tcp", hostname: address ?? "", port: port ?? 0 };
}

const closedError = () => new Deno.errors.BadResource("the connection is closed");

/**
 * A `node:net` TCP socket as a `Deno.Conn`.
 *
 * @example
 * ```ts ignore
 * import net from "node:net";
 * const socket = net.connect({ host: "127.0.0.1", port: 1234, allowHalfOpen: true });
 * await new Promise((resolve) => socket.once("connect", resolve));
 * const conn = new NodeConn(socket);
 * await conn.write(new TextEncoder().encode("hi\n"));
 * ```
 */
export class NodeConn implements Deno.Conn {
  #chunks: Uint8Array[] = [];
  #head = 0;
  #offset = 0;
  #buffered = 0;
  #paused = false;
  #ended = false;
  #error: Error | undefined;
  #closed = false;
  /** A read waiting for data: the caller's buffer and how to settle its promise. */
  #reader: { p: Uint8Array; resolve: (n: number | null) => void; reject: (e: Error) => void } | undefined;
  /** Writes handed to the socket, and how many of their callbacks came back. */
  #writesStarted = 0;
  #writesDone = 0;
  /** A write waiting for the socket to pass its bytes on: its number and how to settle its promise. */
  #writer: { seq: number; n: number; resolve: (n: number) => void; reject: (e: Error) => void } | undefined;
  readonly localAddr: Deno.Addr;
  readonly remoteAddr: Deno.Addr;

  /** `highWater`: bytes received and not yet read before the socket is paused (default `HIGH_WATER`). */
  constructor(protected readonly socket: Socket, private readonly highWater = HIGH_WATER) {
    this.localAddr = addrOf(socket.localAddress, socket.localPort);
    this.remoteAddr = addrOf(socket.remoteAddress, socket.remotePort);
    socket.on("data", this.#onData);
    socket.on("end", this.#onEnd);
    socket.on("error", this.#onError);
    socket.on("close", this.#onEnd);
  }

  readonly #onData = (data: Buffer): void => {
    this.#chunks.push(data);
    this.#buffered += data.length;
    if (this.#buffered >= this.highWater && !this.#paused) {
      this.#paused = true;
      this.socket.pause();
    }
    this.#notify();
  };

  readonly #onEnd = (): void => {
    this.#ended = true;
    this.#notify();
  };

  readonly #onError = (err: Error): void => {
    this.#error ??= denoError(err);
    this.#notify();
  };

  /** Settles a waiting read with what arrived, the end of stream, or the error. */
  #notify(): void {
    const reader = this.#reader;
    if (!reader) return;
    if (this.#buffered > 0) {
      this.#reader = undefined;
      reader.resolve(this.#take(reader.p));
    } else if (this.#error) {
      this.#reader = undefined;
      reader.reject(this.#error);
    } else if (this.#ended || this.#closed) {
      this.#reader = undefined;
      if (this.#closed) reader.reject(closedError());
      else reader.resolve(null);
    }
  }

  /** Copies what was received into `p`; resumes the socket once little is left unread. */
  #take(p: Uint8Array): number {
    let n = 0;
    const chunks = this.#chunks;
    while (n < p.length && this.#head < chunks.length) {
      const chunk = chunks[this.#head];
      const k = Math.min(chunk.length - this.#offset, p.length - n);
      p.set(
        this.#offset === 0 && k === chunk.length ? chunk : chunk.subarray(this.#offset, this.#offset + k),
        n,
      );
      n += k;
      this.#offset += k;
      if (this.#offset === chunk.length) {
        this.#head++;
        this.#offset = 0;
      }
    }
    if (this.#head === chunks.length) {
      this.#chunks = [];
      this.#head = 0;
    }
    this.#buffered -= n;
    if (this.#paused && this.#buffered < this.highWater && !this.#closed) {
      this.#paused = false;
      this.socket.resume();
    }
    return n;
  }

  /** Reads into `p` what the peer sent; null at end of stream. Never more than `p.length` bytes. */
  read(p: Uint8Array): Promise<number | null> {
    if (this.#closed) return Promise.reject(closedError());
    if (this.#buffered > 0) return Promise.resolve(this.#take(p));
    if (this.#error) return Promise.reject(this.#error);
    if (this.#ended) return Promise.resolve(null);
    if (this.#reader) return Promise.reject(new Deno.errors.Busy("a read is already in progress"));
    return new Promise((resolve, reject) => (this.#reader = { p, resolve, reject }));
  }

  /** Sends all of `p`; resolves with `p.length` once the socket took it (then `p` may be reused). */
  write(p: Uint8Array): Promise<number> {
    if (this.#closed) return Promise.reject(closedError());
    if (this.#error) return Promise.reject(this.#error);
    if (p.length === 0) return Promise.resolve(0);
    const seq = ++this.#writesStarted;
    this.socket.write(p, this.#onWritten);
    // Passed to the kernel at once (the usual case), or its callback already came: done.
    if (this.socket.writableLength === 0 || this.#writesDone >= seq) return Promise.resolve(p.length);
    return new Promise((resolve, reject) => (this.#writer = { seq, n: p.length, resolve, reject }));
  }

  /** The write callback, shared by every write: they complete in order, so a count says which are done. */
  readonly #onWritten = (err?: Error | null): void => {
    this.#writesDone++;
    const writer = this.#writer;
    if (!writer) return;
    if (err) {
      this.#writer = undefined;
      writer.reject(this.#closed ? closedError() : this.#error ?? denoError(err));
    } else if (this.#writesDone >= writer.seq) {
      this.#writer = undefined;
      writer.resolve(writer.n);
    }
  };

  /** Shuts down the sending side (the peer reads end of stream); resolves once everything before it was sent. */
  closeWrite(): Promise<void> {
    if (this.#closed) return Promise.reject(closedError());
    return new Promise((resolve, reject) => {
      if (this.socket.writableFinished) return resolve();
      const done = (err?: Error | null) => {
        this.socket.off("close", onClose);
        if (err) reject(denoError(err));
        else resolve();
      };
      const onClose = () => done();
      this.socket.once("close", onClose);
      this.socket.end(done);
    });
  }

  /** Closes the socket now; a read waiting on it fails with `BadResource`, as a closed `Deno.Conn`'s does. */
  close(): void {
    if (this.#closed) throw closedError();
    this.#closed = true;
    this.#chunks = [];
    this.#buffered = 0;
    this.socket.destroy();
    this.#notify();
  }

  /** The bytes as a stream (reading it to its end does not close the connection, unlike `Deno.Conn`'s). */
  get readable(): ReadableStream<Uint8Array<ArrayBuffer>> {
    return new ReadableStream({
      type: "bytes",
      pull: async (controller) => {
        const buf = new Uint8Array(HIGH_WATER);
        const n = await this.read(buf);
        if (n === null) controller.close();
        else controller.enqueue(buf.subarray(0, n));
      },
    });
  }

  /** A stream that writes to the connection; closing it shuts down the sending side. */
  get writable(): WritableStream<Uint8Array<ArrayBufferLike>> {
    return new WritableStream({
      write: async (chunk) => void (await this.write(chunk)),
      close: () => this.closeWrite(),
    });
  }

  /** Keeps the process alive while the connection is open (the default). */
  ref(): void {
    this.socket.ref();
  }

  /** Lets the process exit while the connection is open. */
  unref(): void {
    this.socket.unref();
  }

  /** Disables (or enables) Nagle's algorithm; sockkit's connections send at once by default. */
  setNoDelay(noDelay = true): void {
    this.socket.setNoDelay(noDelay);
  }

  /** Turns TCP keep-alive probes on or off. */
  setKeepAlive(keepAlive = true): void {
    this.socket.setKeepAlive(keepAlive);
  }

  [Symbol.dispose](): void {
    if (!this.#closed) this.close();
  }
}
