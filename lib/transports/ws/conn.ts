/**
 * One WebSocket connection as sockkit uses it: whole messages (`receive`/`send`, text or binary, byte-exact),
 * and the same connection as a `Deno.Conn` byte stream for what only knows streams (the relay, the load
 * generator, the server's guard rails): a read returns the bytes of the messages in order (a message larger
 * than the buffer over several reads), a write sends one binary message, `closeWrite` closes once the
 * connection has gone quiet (there is no half-close), and the end of stream is the peer's close.
 *
 * It wraps the runtime's WebSocket (`Deno.upgradeWebSocket`, `WebSocket`) or the npm `ws` client, which share
 * the browser's event API; no frame is built here. Limits, so that no peer can grow memory without bound:
 * - sending waits while more than `maxQueue` bytes are buffered for the peer (`bufferedAmount`), so a peer
 *   that does not read slows its sender down;
 * - the runtime delivers every message as it arrives and cannot be told to stop reading, so messages that
 *   wait to be read are capped too: more than 4 × `maxQueue` bytes of them (a peer that sends but does not
 *   read what it is sent, so that the server's sends to it wait) closes the connection with 1008;
 * - a message over `maxMessage` closes it with 1009.
 * @module
 */
import { formatBytes, isUtf8 } from "../../core/format.ts";
import type { Message } from "../types.ts";
import {
  CLOSE_NORMAL,
  CLOSE_POLICY,
  CLOSE_TOO_BIG,
  closeCodeFor,
  closeReasonText,
  describeClose,
  protocolFailure,
} from "./close.ts";

export type { Message };

/** The default `--max-message`: the largest message accepted. */
export const DEFAULT_MAX_MESSAGE = 1024 * 1024;
/** The default `--max-queue` of a WebSocket connection (as for the fan-out modes). */
export const DEFAULT_WS_MAX_QUEUE = 1024 * 1024;
/**
 * How long a close waits for the peer's close before the connection counts as closed anyway: a peer that
 * never reads never gets the close frame, and never answers it.
 */
export const CLOSE_WAIT_MS = 2000;
/**
 * `closeWrite` (the end of what this side sends) closes once nothing was sent or received for this long: a
 * WebSocket has no half-close, and a peer stops at the close frame, so replies still on their way would be
 * lost by closing at once.
 */
export const LINGER_QUIET_MS = 300;
/** The longest `closeWrite` lingers before it closes whatever still flows. */
export const LINGER_MAX_MS = 5000;
/** Unread messages may hold this many times `maxQueue` before their sender is cut off. */
export const INBOX_FACTOR = 4;
/** How often a blocked sender looks at `bufferedAmount` again (the API has no event for it). */
const DRAIN_POLL_MS = 5;
/** The longest gap between two looks, once a sender has waited a while. */
const DRAIN_POLL_MAX_MS = 50;

/** What the browser's WebSocket, Deno's and the npm `ws` package's have in common, as used here. */
export interface SocketLike {
  readonly readyState: number;
  readonly bufferedAmount: number;
  readonly protocol: string;
  binaryType: string;
  send(data: string | ArrayBuffer | Uint8Array): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: string, listener: (event: Event) => void): void;
  /** Drops the connection without a close handshake (the npm `ws` package's; the runtime's has none). */
  terminate?(): void;
  /** Stops reading from the peer (the npm `ws` package's). */
  pause?(): void;
}

/** How a connection ended: the close code and reason, and who closed it. */
export interface CloseInfo {
  code: number;
  reason: string;
  /** True when the peer sent the close first (or the connection was lost); false when this side closed it. */
  byPeer: boolean;
  /** False when the connection ended without a close handshake (lost, reset, no answer to a ping). */
  clean: boolean;
}

/** The limits and addresses of one connection. */
export interface WsConnOptions {
  localAddr: Deno.Addr;
  remoteAddr: Deno.Addr;
  /** The largest message accepted (default 1 MiB). */
  maxMessage?: number;
  /** Bytes buffered for the peer before `send` waits, and bytes of unread messages before the peer is cut off. */
  maxQueue?: number;
  /** The server's `--ping-interval` (seconds), named when a peer does not answer a ping. */
  pingIntervalS?: number;
  /** The subprotocol agreed on, when this side answered the handshake itself (the server). */
  protocol?: string;
}

const OPEN = 1;
const encoder = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** A WebSocket connection: messages, or a byte stream (see the module doc). */
export class WsConn implements Deno.Conn {
  readonly #socket: SocketLike;
  readonly #maxMessage: number;
  readonly #maxQueue: number;
  readonly #pingIntervalS?: number;
  #inbox: Message[] = [];
  #inboxBytes = 0;
  #waiter?: () => void;
  /** The rest of a message a byte read did not take. */
  #partial?: Uint8Array;
  #failure?: Error;
  #closing = false;
  #pendingClose?: { code: number; reason: string };
  #lastActivity = performance.now();
  #closeTimer?: ReturnType<typeof setTimeout>;
  #settle!: (info: CloseInfo) => void;
  /** How it ended, once it has. */
  closed?: CloseInfo;
  /** Resolves once the connection is closed, whoever closed it. */
  readonly done: Promise<CloseInfo>;
  /** Client with `--pin`: the fingerprint the server's certificate matched. */
  pinned?: string;
  /** Messages and bytes received (counted as they arrive). */
  received = { messages: 0, bytes: 0 };

  constructor(socket: SocketLike, readonly options: WsConnOptions) {
    this.#socket = socket;
    this.#maxMessage = options.maxMessage ?? DEFAULT_MAX_MESSAGE;
    this.#maxQueue = options.maxQueue ?? DEFAULT_WS_MAX_QUEUE;
    this.#pingIntervalS = options.pingIntervalS;
    socket.binaryType = "arraybuffer";
    this.done = new Promise((resolve) => (this.#settle = resolve));
    let errorMessage: string | undefined;
    socket.addEventListener("message", (event) => this.#onMessage((event as MessageEvent).data));
    socket.addEventListener("error", (event) => {
      const { message } = event as ErrorEvent;
      // the npm `ws` framing's protocol errors: it has sent the close frame (with their code)
      const broke = protocolFailure(event, `--max-message (${this.#maxMessage} bytes)`);
      if (broke && !this.#failure) {
        this.#failure = new Error(broke.reason);
        this.#inbox = [];
        this.#inboxBytes = 0;
        this.#closing = true;
        this.#expire(broke.code, message);
        this.#wake();
      }
      errorMessage ??= message;
    });
    socket.addEventListener("close", (event) => {
      const e = event as CloseEvent;
      this.closed ??= { code: e.code, reason: e.reason, byPeer: !this.#closing, clean: e.wasClean };
      if (!e.wasClean && !this.#failure && !this.#closing) {
        this.#failure = new Error(this.#lostReason(errorMessage));
      }
      clearTimeout(this.#closeTimer);
      this.#settle(this.closed);
      this.#wake();
    });
  }

  /** The subprotocol agreed on in the handshake, or "" for none. */
  get protocol(): string {
    return this.options.protocol ?? this.#socket.protocol;
  }

  /** Bytes buffered for the peer, not yet handed to the OS. */
  get bufferedAmount(): number {
    return this.#socket.bufferedAmount;
  }

  #lostReason(errorMessage: string | undefined): string {
    if (errorMessage && /ping/i.test(errorMessage)) {
      const interval = this.#pingIntervalS;
      return `no answer to a ping${interval ? ` within ${interval} s (--ping-interval)` : ""}: peer is gone`;
    }
    if (errorMessage && /close_notify/.test(errorMessage)) {
      return "connection lost (closed without a TLS close_notify)";
    }
    const message = errorMessage?.replace(/:? *https?:\/\/\S+/g, "");
    return message ? `connection lost: ${message}` : "connection lost (no close handshake)";
  }

  #onMessage(data: unknown): void {
    if (this.#failure || this.closed) return;
    const message: Message = typeof data === "string"
      ? { data: encoder.encode(data), text: true }
      : { data: new Uint8Array(data as ArrayBuffer), text: false };
    const size = message.data.length;
    this.#lastActivity = performance.now();
    this.received.messages++;
    this.received.bytes += size;
    if (size > this.#maxMessage) {
      // closed once the messages before it are handled (their replies go out first); the rest is dropped
      return this.#fail(
        CLOSE_TOO_BIG,
        `a message of ${size} bytes is over --max-message (${this.#maxMessage} bytes)`,
      );
    }
    // the mode takes messages a few promise turns after they arrive, so a burst runs ahead of it: room for that
    const cap = Math.max(INBOX_FACTOR * this.#maxQueue, this.#maxMessage);
    if (this.#inboxBytes > 0 && this.#inboxBytes + size > cap) {
      return this.#fail(
        CLOSE_POLICY,
        `too slow: more than ${formatBytes(cap)} of its messages waiting (it does not read what it is sent)`,
        true,
      );
    }
    this.#inbox.push(message);
    this.#inboxBytes += size;
    this.#wake();
  }

  /**
   * Makes reads fail with `reason` (what the server log shows) and closes with `code`: at once and dropping
   * what is unread when `now`, else once the messages already received have been read.
   */
  #fail(code: number, reason: string, now = false): void {
    this.#failure = new Error(reason);
    if (now) {
      // what the peer still sends is not read: its writes back up into its own socket
      this.#socket.pause?.();
      this.#inbox = [];
      this.#inboxBytes = 0;
      this.#close(code, reason);
    } else {
      this.#pendingClose = { code, reason };
    }
    this.#wake();
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.();
  }

  /** The next whole message, or null once the connection is closed; throws when it was lost or cut off. */
  async receive(): Promise<Message | null> {
    for (;;) {
      const message = this.#inbox.shift();
      if (message) {
        this.#inboxBytes -= message.data.length;
        return message;
      }
      if (this.#failure) {
        if (this.#pendingClose) this.#close(this.#pendingClose.code, this.#pendingClose.reason);
        throw this.#failure;
      }
      if (this.closed) return null;
      await new Promise<void>((resolve) => (this.#waiter = resolve));
    }
  }

  /** Sends one message (text when asked and valid UTF-8), after waiting while `maxQueue` bytes are buffered. */
  async send(message: Message): Promise<void> {
    await this.#room(message.data.length);
    if (this.#socket.readyState !== OPEN) throw this.#notOpen();
    this.#lastActivity = performance.now();
    this.#socket.send(
      message.text && isUtf8(message.data) ? strictUtf8.decode(message.data) : message.data.slice(),
    );
  }

  /** Waits until `size` more bytes can be buffered without going over `maxQueue` (one message always can). */
  async #room(size: number): Promise<void> {
    let delay = DRAIN_POLL_MS;
    while (
      this.#socket.readyState === OPEN && this.#socket.bufferedAmount > 0 &&
      this.#socket.bufferedAmount + size > this.#maxQueue
    ) {
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, DRAIN_POLL_MAX_MS);
    }
  }

  #notOpen(): Error {
    if (this.#failure) return this.#failure;
    return new Deno.errors.BadResource("the WebSocket is closed");
  }

  get localAddr(): Deno.Addr {
    return this.options.localAddr;
  }

  get remoteAddr(): Deno.Addr {
    return this.options.remoteAddr;
  }

  /** Byte stream: the bytes of the next message(s); null at the peer's close. */
  async read(p: Uint8Array): Promise<number | null> {
    let data = this.#partial;
    this.#partial = undefined;
    if (!data) {
      do {
        const message = await this.receive();
        if (message === null) return null;
        data = message.data;
      } while (data.length === 0);
    }
    const n = Math.min(p.length, data.length);
    p.set(data.subarray(0, n));
    if (n < data.length) this.#partial = data.subarray(n);
    return n;
  }

  /** Byte stream: sends `p` as one binary message. */
  async write(p: Uint8Array): Promise<number> {
    await this.send({ data: p, text: false });
    return p.length;
  }

  /**
   * The end of what this side sends: closes with 1000 once nothing was sent or received for
   * LINGER_QUIET_MS (at most LINGER_MAX_MS), so the peer's replies still arrive; reads go on until then.
   */
  async closeWrite(): Promise<void> {
    const giveUpAt = performance.now() + LINGER_MAX_MS;
    while (!this.closed && !this.#closing && performance.now() < giveUpAt) {
      const quietFor = performance.now() - this.#lastActivity;
      if (quietFor >= LINGER_QUIET_MS && this.#socket.bufferedAmount === 0) break;
      await new Promise((resolve) => setTimeout(resolve, Math.max(10, LINGER_QUIET_MS - quietFor)));
    }
    this.#close(CLOSE_NORMAL, "");
  }

  /** Closes with the code and reason that fit why the server closes it (`closeCodeFor`). */
  closeFor(reason?: string): void {
    this.#close(closeCodeFor(reason), reason ?? "");
  }

  /** The next whole message (the Connection interface's message read): `receive`. */
  readMessage(): Promise<Message | null> {
    return this.receive();
  }

  /** Sends one whole message of its type: `send`. */
  writeMessage(message: Message): Promise<void> {
    return this.send(message);
  }

  /** Closes, telling the peer why with the close code that fits (lib/core/io.ts `closeWithReason`). */
  closeExplained(reason: string): void {
    this.closeFor(reason);
  }

  /** The goodbye that says why (at shutdown: 1001 going away): a WebSocket has no half-close. */
  closeWriteExplained(reason: string): Promise<void> {
    this.closeFor(reason);
    return Promise.resolve();
  }

  /** Closes now (1000); what the peer still sends is dropped. */
  close(): void {
    this.#close(CLOSE_NORMAL, "");
  }

  #close(code: number, reason: string): void {
    if (this.#closing || this.closed) return;
    this.#closing = true;
    try {
      this.#socket.close(code, closeReasonText(reason));
    } catch {
      // already closing
    }
    this.#expire(code, reason);
  }

  /**
   * The close frame goes out after what is buffered, and a peer that reads nothing never gets it (nor
   * answers it): past CLOSE_WAIT_MS the connection is over for sockkit, and the socket is dropped.
   */
  #expire(code: number, reason: string): void {
    const timer = setTimeout(() => {
      this.#socket.terminate?.();
      if (this.closed) return;
      this.closed = { code, reason, byPeer: false, clean: false };
      this.#settle(this.closed);
      this.#wake();
    }, CLOSE_WAIT_MS);
    Deno.unrefTimer(timer);
    this.#closeTimer = timer;
  }

  /** How the connection ended, in words: `closed by peer: 1008 policy violation (too slow)`. */
  describeEnd(): string | undefined {
    const c = this.closed;
    if (!c) return undefined;
    return `${c.byPeer ? "closed by peer" : "closed"}: ${describeClose(c.code, c.reason)}`;
  }

  get readable(): ReadableStream<Uint8Array<ArrayBuffer>> {
    const buf = new Uint8Array(64 * 1024);
    return new ReadableStream({
      pull: async (controller) => {
        const n = await this.read(buf);
        if (n === null) controller.close();
        else controller.enqueue(buf.slice(0, n));
      },
    });
  }

  get writable(): WritableStream<Uint8Array<ArrayBufferLike>> {
    return new WritableStream({ write: (chunk) => this.write(new Uint8Array(chunk)).then(() => {}) });
  }

  ref(): void {}
  unref(): void {}

  [Symbol.dispose](): void {
    this.close();
  }
}

/** True for a connection that carries WebSocket messages. */
export function isWsConn(conn: unknown): conn is WsConn {
  return conn instanceof WsConn;
}
