import { networkReason } from "../core/errors.ts";
import { formatBytes } from "../core/format.ts";
import { OutboundQueue } from "../server/queue.ts";
import type { FanOutCounters } from "../metrics/counters.ts";
import { isUtf8 } from "../core/format.ts";
import type { Session } from "./mode.ts";

/** One client in a room: its session, its outbound queue, and what chat knows about it. */
export class Member {
  /** Everything sent to this member goes through here, in order, written by the member's own writer task. */
  readonly queue: OutboundQueue;
  /** The chat name (`user1`, or what `/nick` set). */
  name = "";
  /** The line ending this member uses, used for what it is sent (chat); none for a message session. */
  eol: "\n" | "\r\n" | "" = "\n";
  /** False until the member is to hear the room (chat: once it was welcomed); `send` passes it by till then. */
  hearing = true;

  constructor(readonly session: Session, maxQueue: number, counters?: FanOutCounters) {
    // A message session (WebSocket) gets each queued chunk as one message: chunks are not joined.
    const writeMessage = session.writeMessage?.bind(session);
    this.queue = writeMessage
      ? new OutboundQueue((data) => writeMessage({ data, text: isUtf8(data) }), maxQueue, counters, {
        coalesce: false,
      })
      : new OutboundQueue((data) => session.write(data), maxQueue, counters);
    if (writeMessage) this.eol = "";
  }
}

/** What a mode built on a room wants to hear about. */
export interface RoomHooks {
  /** A member left (`reason` when the server or the network ended it); not called at shutdown. */
  onLeave?(member: Member, reason?: string): void;
  /** The server is shutting down: last words to queue for this member before its queue is flushed. */
  onShutdown?(member: Member): void;
  /** The room's size changed (a member joined or left). */
  onSize?(size: number): void;
}

/**
 * The clients of a fan-out mode (chat, broadcast), created once per server run. Sending queues the same
 * bytes for every member in the order the server received them; a member whose queue would go over the cap
 * is disconnected with a logged reason after everyone else got the data, so a slow client never holds the
 * others back and memory stays bounded (members × cap).
 *
 * @example
 * ```ts ignore
 * const room = new Room(1024 * 1024);
 * const mode = (session: Session) => room.serve(session, async (member) => {
 *   const buf = new Uint8Array(16 * 1024);
 *   for (let n = await session.read(buf); n !== null; n = await session.read(buf)) {
 *     room.send(buf.slice(0, n), member);
 *   }
 * });
 * ```
 */
export class Room {
  readonly #members = new Set<Member>();

  /** `counters`: where the bytes queued and the clients cut off for being too slow are counted. */
  constructor(
    readonly maxQueue: number,
    private readonly hooks: RoomHooks = {},
    private readonly counters?: FanOutCounters,
  ) {}

  /** The members, in the order they joined. */
  get members(): Iterable<Member> {
    return this.#members;
  }

  /** True while `member` is in the room. */
  has(member: Member): boolean {
    return this.#members.has(member);
  }

  /** How many are here. */
  get size(): number {
    return this.#members.size;
  }

  /**
   * Runs `loop` for a session as a member of the room: joins, runs, leaves, then waits until what was
   * queued for the member is written. At shutdown the member's queue is flushed before it is closed.
   */
  async serve(session: Session, loop: (member: Member) => Promise<void>): Promise<void> {
    const member = new Member(session, this.maxQueue, this.counters);
    this.#members.add(member);
    this.hooks.onSize?.(this.#members.size);
    let closing: Promise<void> | undefined;
    session.onStop = () => {
      if (closing) return;
      if (this.#members.delete(member)) this.hooks.onSize?.(this.#members.size);
      this.hooks.onShutdown?.(member);
      closing = member.queue.flush().then(() => session.close());
    };
    let reason: string | undefined;
    try {
      await loop(member);
    } catch (err) {
      if (!session.stopping) reason = session.closeReason ?? networkReason(err);
      throw err;
    } finally {
      this.leave(member, reason);
      await member.queue.flush();
      await closing;
    }
  }

  /** Takes a member out of the room (once); the others hear of it unless the server is shutting down. */
  leave(member: Member, reason?: string): void {
    if (!this.#members.delete(member)) return;
    this.hooks.onSize?.(this.#members.size);
    if (!member.session.stopping) this.hooks.onLeave?.(member, reason);
  }

  /**
   * Queues `data` (or the bytes `data` makes for each member) for every member but `except`. Members that
   * cannot take it are disconnected once everyone else has it, which keeps the order the same for all.
   */
  send(data: Uint8Array | ((member: Member) => Uint8Array), except?: Member): void {
    let tooSlow: Member[] | undefined;
    for (const member of this.#members) {
      if (member === except || !member.hearing) continue;
      const bytes = typeof data === "function" ? data(member) : data;
      if (!member.queue.push(bytes)) (tooSlow ??= []).push(member);
    }
    if (tooSlow) { for (const member of tooSlow) this.#dropSlow(member); }
  }

  /** Queues `data` for one member (disconnecting it if it cannot take it). */
  sendTo(member: Member, data: Uint8Array): void {
    if (!member.queue.push(data)) this.#dropSlow(member);
  }

  #dropSlow(member: Member): void {
    const reason = `too slow: more than ${formatBytes(this.maxQueue)} waiting to be sent`;
    member.queue.close();
    if (this.counters) this.counters.slowConsumerDisconnects++;
    member.session.close(reason);
    this.leave(member, reason);
  }
}
