import type { EventSink, ModeEvent } from "../report/events.ts";
import type { Hub } from "../hub/hub.ts";
import type { FanOutCounters } from "../metrics/counters.ts";

export type { Message } from "../transports/types.ts";
import type { Message } from "../transports/types.ts";

/**
 * What a mode may do with the connection it was given; the server counts and reports through it.
 *
 * Over a message transport (UDP, WebSocket) the session also has `readMessage`/`writeMessage`: modes that
 * care where a message ends use them (echo keeps each message whole and of its type, chat takes one message
 * as one line, broadcast and discard count messages), and the byte-stream `read`/`write` stay for the rest.
 * Over TCP, TLS and Unix sockets they are absent and nothing changes.
 */
export interface Session {
  /** The server-wide number of this client (1, 2, …). */
  readonly id: number;
  /** The peer's address as people write it: `127.0.0.1:53422`. */
  readonly peer: string;
  /** True once the server is shutting down: a mode returns at its next safe point. */
  readonly stopping: boolean;
  /** Why the server closed this connection (idle, too slow, …), once it has. */
  readonly closeReason?: string;
  /** Receives into `buf` (recv); null at end of stream. Counts one message per read that returns data. */
  read(buf: Uint8Array): Promise<number | null>;
  /** Sends all of `data` (send), resolving once every byte was handed to the OS. */
  write(data: Uint8Array): Promise<void>;
  /** Message transports only: the next whole message (counted as one message); null at the end. */
  readMessage?(): Promise<Message | null>;
  /** Message transports only: sends one whole message, waiting while the peer is `maxQueue` behind. */
  writeMessage?(message: Message): Promise<void>;
  /**
   * Closes the connection now; `reason` is logged when the client is reported gone. While the server is
   * stopping, the close is a goodbye: the sending side is shut down once nothing is being written, and the
   * socket is closed when the peer closes its side (or the grace period ends), so the peer is never reset.
   */
  close(reason?: string): void;
  /**
   * Set by a mode that holds output of its own (a queue): at shutdown the server calls it instead of
   * closing a client that waits in `read()`, so the mode can deliver what it queued and then close.
   */
  onStop?: () => void;
}

/** A server mode: what the server does with one accepted connection until it ends. */
export type Mode = (session: Session) => Promise<void>;

/** What a server run gives its mode: the limits it was started with and where to report. */
export interface ModeContext {
  /** The longest line a line-based mode accepts (`--max-line`, bytes). */
  maxLine: number;
  /** How many bytes may wait to be sent to one client before it is disconnected (`--max-queue`). */
  maxQueue: number;
  /** Reports transcript lines and notes about clients. */
  emit: EventSink<ModeEvent>;
  /** Where a fan-out room meets the same room on other server instances (`--hub`); default: nowhere. */
  hub?: Hub;
  /** Where fan-out modes count the bytes they queue and the clients they cut off (default: nowhere). */
  counters?: FanOutCounters;
}

/** Makes a mode once per server run; modes that share state between clients (a chat room) keep it here. */
export type ModeFactory = (ctx: ModeContext) => Mode;
