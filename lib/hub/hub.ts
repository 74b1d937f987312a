/**
 * Where a fan-out room's messages meet. A chat or broadcast room hands what its own clients say to a `Hub`
 * and delivers what the hub brings from other server instances through the members' usual queues. The local
 * hub is a room of one instance; `RedisHub` (lib/hub/redis.ts) spans every instance on the same Redis and
 * room.
 * @module
 */

/** What a hub tells the mode that uses it. */
export interface HubListener {
  /** Bytes another instance published to this room, in the order that instance published them. */
  message(data: Uint8Array, instance: string): void;
  /** The other instances became unreachable: what is published now reaches this instance's clients only. */
  down?(): void;
  /** The other instances are reachable again (resubscribed, names registered again). */
  up?(): void;
}

/** A member's name as the hub holds it: `key` is what makes names equal, `name` what people see. */
export interface HeldName {
  key: string;
  name: string;
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
  /** Sends `data` to the other instances; dropped (at most once) while they are unreachable. */
  publish(data: Uint8Array): void;
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
  /** The names other instances hold, or undefined while they are unreachable. */
  remoteNames(): Promise<string[] | undefined>;
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
  remoteNames(): Promise<string[]> {
    return Promise.resolve([]);
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}
