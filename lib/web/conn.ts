/**
 * A WebSocket as the byte connection a server mode reads and writes: each text message in is one line
 * (its text and a `\n`), each line out is one text message (without its line ending). Writes wait while
 * more than `HIGH_WATER` bytes are buffered for the browser, so a mode's per-client queue fills, and its
 * `--max-queue` cut-off applies to a slow browser exactly as to a slow TCP client.
 * @module
 */
import { concatBytes, sleep } from "../core/io.ts";
import type { SocketLike } from "../transports/ws/conn.ts";
import { closeCodeFor, closeReasonText, protocolFailure } from "../transports/ws/close.ts";

/** A write returns once the WebSocket buffers no more than this many bytes for the peer. */
export const HIGH_WATER = 64 * 1024;
/** How often a blocked write looks at `bufferedAmount` again (a WebSocket has no "drained" event). */
const DRAIN_POLL_MS = 5;
/** An unfinished line (no `\n` yet) this long is sent as a message of its own instead of waiting. */
const MAX_PENDING_LINE = 64 * 1024;
/** How long a close waits for what was sent to reach the peer before it closes the socket anyway. */
const CLOSE_FLUSH_MS = 2000;

const encoder = new TextEncoder();
const NEWLINE = encoder.encode("\n");

/** What the peer's side of the connection looks like once it is gone. */
function goneError(): Error {
  return new Deno.errors.BrokenPipe("the browser closed the WebSocket");
}

/**
 * A `Deno.Conn` over a server-side WebSocket (lib/http/websocket.ts, or any with the browser's API). `closeWrite` starts the close
 * handshake (reads end once the peer answers it); `close` ends it at once, after what was sent is flushed.
 *
 * @example
 * ```ts ignore
 * return new WebSocketUpgrade(options, (socket) => serveClient(new WebSocketConn(socket, remoteAddr, addr)));
 * ```
 */
export class WebSocketConn implements Deno.Conn {
  #inbox: Uint8Array[] = [];
  /** For each inbox entry: true when it is a text message (its bytes end with the `\n` a byte read adds). */
  #isText: boolean[] = [];
  #inboxBytes = 0;
  #reader?: { buf: Uint8Array; resolve(n: number | null): void; reject(err: unknown): void };
  #pending: Uint8Array = new Uint8Array(0);
  #opened: Promise<boolean>;
  #peerGone = false;
  /** Why the peer was cut off when it broke the protocol: what reads then fail with. */
  #failure?: Error;
  #closed = false;

  /** `maxInbox`: bytes received and not yet read past which the peer is cut off (it sends too fast). */
  constructor(
    private readonly socket: SocketLike,
    readonly remoteAddr: Deno.NetAddr,
    readonly localAddr: Deno.NetAddr,
    private readonly maxInbox: number = 1024 * 1024,
    /** True (chat): whole messages too (`readMessage`, `writeMessage`), so one message is one line. */
    messages = false,
  ) {
    if (messages) {
      this.readMessage = () => this.#readMessage();
      this.writeMessage = (message) => this.#writeMessage(message);
    }
    socket.binaryType = "arraybuffer";
    this.#opened = socket.readyState === WebSocket.OPEN ? Promise.resolve(true) : new Promise((resolve) => {
      socket.addEventListener("open", () => resolve(true));
      socket.addEventListener("close", () => resolve(false));
    });
    socket.addEventListener("message", (e) => this.#receive((e as MessageEvent).data));
    socket.addEventListener("error", (e) => {
      const broke = protocolFailure(e, `the page's limit (${maxInbox} bytes)`);
      if (!broke || this.#failure) return;
      this.#failure = new Error(broke.reason);
      this.#peerGone = true;
      this.#wake();
    });
    socket.addEventListener("close", () => {
      this.#peerGone = true;
      this.#wake();
    });
  }

  #receive(data: string | ArrayBuffer): void {
    if (this.#closed) return;
    const bytes = typeof data === "string" ? encoder.encode(data + "\n") : new Uint8Array(data);
    if (bytes.length === 0) return;
    this.#inbox.push(bytes);
    this.#isText.push(typeof data === "string");
    this.#inboxBytes += bytes.length;
    if (this.#inboxBytes > this.maxInbox) {
      this.#inbox = [];
      this.#isText = [];
      this.#inboxBytes = 0;
      this.#closeSocket(1008, "sending faster than the server reads");
      this.#peerGone = true;
    }
    this.#wake();
  }

  /** Hands the reader waiting in `read` what arrived, or the end of the stream. */
  #wake(): void {
    const waiter = this.#messageWaiter;
    this.#messageWaiter = undefined;
    waiter?.();
    const reader = this.#reader;
    if (!reader) return;
    if (this.#inbox.length > 0) {
      this.#reader = undefined;
      reader.resolve(this.#take(reader.buf));
    } else if (this.#peerGone) {
      this.#reader = undefined;
      if (this.#failure) reader.reject(this.#failure);
      else reader.resolve(null);
    }
  }

  /** Copies the oldest message (or as much of it as fits) into `buf`. */
  #take(buf: Uint8Array): number {
    const first = this.#inbox[0];
    const n = Math.min(buf.length, first.length);
    buf.set(first.subarray(0, n));
    if (n === first.length) {
      this.#inbox.shift();
      this.#isText.shift();
    } else this.#inbox[0] = first.subarray(n);
    this.#inboxBytes -= n;
    return n;
  }

  /** One message (or the part of one that fits in `buf`) per read; null once the peer closed. */
  read(buf: Uint8Array): Promise<number | null> {
    if (this.#closed) return Promise.reject(new Deno.errors.BadResource("the WebSocket is closed"));
    if (this.#inbox.length > 0) return Promise.resolve(this.#take(buf));
    if (this.#peerGone) return this.#failure ? Promise.reject(this.#failure) : Promise.resolve(null);
    return new Promise((resolve, reject) => {
      this.#reader = { buf, resolve, reject };
    });
  }

  /**
   * The next whole message (the rest of it, after a byte read took part), without the `\n` a byte read adds
   * to a text message: with it the server's modes treat the page as a message transport, so a chat line
   * with a line break inside is one line, shown escaped, as a ws:// client's is.
   */
  async #readMessage(): Promise<{ data: Uint8Array; text: boolean } | null> {
    for (;;) {
      if (this.#closed) throw new Deno.errors.BadResource("the WebSocket is closed");
      const bytes = this.#inbox.shift();
      if (bytes) {
        const text = this.#isText.shift()!;
        this.#inboxBytes -= bytes.length;
        return { data: text ? bytes.subarray(0, -1) : bytes, text };
      }
      if (this.#peerGone) {
        if (this.#failure) throw this.#failure;
        return null;
      }
      await new Promise<void>((resolve) => (this.#messageWaiter = resolve));
    }
  }
  #messageWaiter?: () => void;
  /** Chat (see the constructor): the next whole message; the server then reads whole messages. */
  readMessage?: () => Promise<{ data: Uint8Array; text: boolean } | null>;
  /** Chat: sends one line as one text message. */
  writeMessage?: (message: { data: Uint8Array }) => Promise<void>;

  /** Sends one message as a text message (the room's lines), then waits while the peer is behind. */
  async #writeMessage(message: { data: Uint8Array }): Promise<void> {
    await this.#ready();
    this.#send(message.data);
    await this.#drain();
  }

  async #ready(): Promise<void> {
    if (this.#closed) throw new Deno.errors.BadResource("the WebSocket is closed");
    if (!await this.#opened || this.#peerGone) throw goneError();
  }

  async #drain(): Promise<void> {
    while (this.socket.bufferedAmount > HIGH_WATER) {
      await sleep(DRAIN_POLL_MS);
      if (this.#closed) throw new Deno.errors.BadResource("the WebSocket is closed");
      if (this.#peerGone) throw goneError();
    }
  }

  /** Sends each complete line of `data` as a text message, then waits while the peer is behind. */
  async write(data: Uint8Array): Promise<number> {
    await this.#ready();
    const bytes = this.#pending.length > 0 ? concatBytes(this.#pending, data) : data;
    let start = 0;
    for (let i = bytes.indexOf(NEWLINE[0]); i !== -1; i = bytes.indexOf(NEWLINE[0], start)) {
      const end = i > start && bytes[i - 1] === 0x0d ? i - 1 : i;
      this.#send(bytes.subarray(start, end));
      start = i + 1;
    }
    this.#pending = bytes.slice(start);
    if (this.#pending.length >= MAX_PENDING_LINE) {
      this.#send(this.#pending);
      this.#pending = new Uint8Array(0);
    }
    await this.#drain();
    return data.length;
  }

  #send(line: Uint8Array): void {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(new TextDecoder().decode(line));
  }

  /** Starts the close handshake; what the peer still sends can be read until it answers. */
  closeWrite(): Promise<void> {
    return this.closeWriteExplained("");
  }

  /**
   * Starts the close handshake with `reason`, its code by the rule every WebSocket of the server follows
   * (lib/transports/ws/close.ts: 1000 for none, 1001 at shutdown, 1013 server full, 1008 the guard rails).
   */
  closeWriteExplained(reason: string): Promise<void> {
    if (this.#pending.length > 0) this.#send(this.#pending);
    this.#pending = new Uint8Array(0);
    this.#closeSocket(closeCodeFor(reason || undefined), reason);
    return Promise.resolve();
  }

  /** Closes now (after flushing what was sent), with close code 1000. */
  close(): void {
    this.closeExplained("");
  }

  /** Closes now, sending `reason` as the close reason (its code by the same rule as `closeWriteExplained`). */
  closeExplained(reason: string): void {
    if (this.#closed) throw new Deno.errors.BadResource("the WebSocket is closed");
    this.#closed = true;
    this.#inbox = [];
    this.#isText = [];
    this.#wake();
    const reader = this.#reader;
    this.#reader = undefined;
    reader?.reject(new Deno.errors.BadResource("the WebSocket is closed"));
    this.#closeSocket(closeCodeFor(reason || undefined), reason);
  }

  /** Sends the close frame once what was sent before it is on its way (within CLOSE_FLUSH_MS). */
  #closeSocket(code: number, reason: string): void {
    const socket = this.socket;
    if (socket.readyState === WebSocket.CLOSING || socket.readyState === WebSocket.CLOSED) return;
    if (socket.readyState === WebSocket.CONNECTING) {
      void this.#opened.then((open) => open && socket.close(code, closeReasonText(reason)));
      return;
    }
    const giveUpAt = performance.now() + CLOSE_FLUSH_MS;
    const attempt = () => {
      if (socket.readyState !== WebSocket.OPEN) return;
      if (socket.bufferedAmount > 0 && performance.now() < giveUpAt) {
        return void setTimeout(attempt, DRAIN_POLL_MS);
      }
      socket.close(code, closeReasonText(reason));
    };
    attempt();
  }

  /** A WebSocket is always readable through `read`; the stream views are not offered. */
  get readable(): ReadableStream<Uint8Array<ArrayBuffer>> {
    throw new Deno.errors.NotSupported("read a WebSocketConn with read()");
  }
  /** See `readable`. */
  get writable(): WritableStream<Uint8Array<ArrayBufferLike>> {
    throw new Deno.errors.NotSupported("write a WebSocketConn with write()");
  }
  /** Nothing to do: the HTTP server keeps the process alive. */
  ref(): void {}
  /** Nothing to do: the HTTP server keeps the process alive. */
  unref(): void {}
  /** Closes it (see close), once. */
  [Symbol.dispose](): void {
    if (!this.#closed) this.close();
  }
}
