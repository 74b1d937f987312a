/**
 * Where a fan-out room's messages meet. A chat or broadcast room hands what its own clients say to a `Hub`
 * and delivers what the hub brings from other server instances through the members' usual queues. The local
 * hub is a room of one instance; `RedisHub` (lib/hub/redis.ts) spans every instance on the same Redis and
 * room.
 * @module
 */

import type { FanOutCounters } from "../metrics/counters.ts";
import { limitedLog } from "../core/ratelimit.ts";

/**
 * The most bytes one message may carry through a shared hub, either way: an instance publishes nothing
 * larger and drops anything larger it receives (a chat line of the default `--max-line`, escaped, and a
 * WebSocket message of the default `--max-message` fit).
 */
export const MAX_HUB_MESSAGE = 1024 * 1024;

/** How a message came to one event loop of a server on several (`HubListener.message`). */
export type HubVia = "loop" | "logged";

/** What a hub tells the mode that uses it. */
export interface HubListener {
  /**
   * Bytes another instance published to this room, in the order that instance published them. `via`: "loop",
   * another event loop of this server said them (its own members' words, checked and logged there);
   * "logged", another instance's, which another event loop of this server checks, logs and counts.
   */
  message(data: Uint8Array, instance: string, via?: HubVia): void;
  /** What came through the hub was dropped, and why (malformed, too large): the mode counts and logs it. */
  dropped?(why: string): void;
  /** The other instances became unreachable: what is published now reaches this instance's clients only. */
  down?(): void;
  /** The other instances are reachable again (resubscribed, names registered again). */
  up?(): void;
}

/** A member's name as the hub holds it: `key` is what makes names equal, `name` what people see. */
export interface HeldName {
  key: string;
  name: string;
  /** Its holder's client number (numbers grow in the order clients came), to list names in join order. */
  since?: number;
}

/** Everyone in a room as a hub that knows every member sees it (`Hub.roomNames`). */
export interface RoomNames {
  /** This process's members, in the order they joined. */
  here: string[];
  /** The names other instances hold, as they are stored (unchecked, as `Hub.remoteNames` gives them). */
  elsewhere: HeldName[];
  /** The other instances could not be asked: `elsewhere` is empty. */
  unreachable: boolean;
}

/** The seam between a room and the other server instances it spans. */
export interface Hub {
  /** This instance's id, with which what it publishes is tagged. */
  readonly instance: string;
  /** True when other instances share the room (a Redis hub), false for a room of one server. */
  readonly shared: boolean;
  /** True while the other instances can be reached (always true for the local hub). */
  readonly reachable: boolean;
  /** Sets who hears what other instances publish (one listener: the mode). */
  listen(listener: HubListener): void;
  /**
   * Sends `data` to the other instances; dropped (at most once) while they are unreachable. `instancesOnly`:
   * not to the other event loops of this server (a goodbye at shutdown, which each loop says itself).
   */
  publish(data: Uint8Array, instancesOnly?: boolean): void;
  /**
   * At shutdown, on a server of several event loops: resolves once what the other loops said before it has
   * been delivered here (within `maxMs`).
   */
  settle?(maxMs: number): Promise<void>;
  /**
   * The name keys this server's members hold on every one of its event loops (a loop's hub); undefined on a
   * hub of one loop, where the room's own members are all of them. No other instance may speak for them.
   */
  readonly heldHere?: ReadonlySet<string>;
  /**
   * How many members this instance's room has now, told as it changes: the hub between event loops brings
   * the others' messages only to loops whose room has members.
   */
  members?(count: number): void;
  /**
   * Claims a name for as long as it is held here (refreshed with a heartbeat): false when another instance
   * holds it. While the others are unreachable only this instance is checked, and the claim is registered
   * once they are back.
   */
  claim(held: HeldName): Promise<boolean>;
  /** Gives a claimed name up. */
  release(key: string): void;
  /** A number no other instance hands out for the same room (default names: `user7`). */
  nextNumber(): Promise<number>;
  /**
   * The names other instances hold, as they are stored (the mode checks them: anyone who can write to the
   * hub can write a name), or undefined while they are unreachable.
   */
  remoteNames(): Promise<HeldName[] | undefined>;
  /**
   * Every name in the room, for a hub that also holds this instance's own (the hub between event loops,
   * whose members are on other loops too); without it the room lists its own members and then `remoteNames`.
   */
  roomNames?(): Promise<RoomNames>;
  /** Releases every name, leaves the room and disconnects. */
  close(): Promise<void>;
}

/** The hub of a room that is one server instance: nothing to publish to, every name free. */
export class LocalHub implements Hub {
  readonly instance = "local";
  readonly shared = false;
  readonly reachable = true;
  #number = 0;

  listen(): void {}
  publish(): void {}
  claim(): Promise<boolean> {
    return Promise.resolve(true);
  }
  release(): void {}
  nextNumber(): Promise<number> {
    return Promise.resolve(++this.#number);
  }
  remoteNames(): Promise<HeldName[]> {
    return Promise.resolve([]);
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Warnings about dropped hub messages, at most this many a second (the rest are counted). */
const DROPPED_LINES_PER_SECOND = 10;

/**
 * What a mode does with a message from the hub it drops: counts it (`sockkit_hub_dropped_total`) and says
 * why in a warning, a few lines a second.
 */
export function hubDropper(
  emit: (event: { type: "warning"; message: string }) => void,
  counters?: FanOutCounters,
): (why: string) => void {
  const warn = limitedLog(DROPPED_LINES_PER_SECOND, (message) => emit({ type: "warning", message }));
  return (why) => {
    if (counters) counters.hubDropped++;
    warn(`hub: dropped a message from another instance: ${why}`);
  };
}
