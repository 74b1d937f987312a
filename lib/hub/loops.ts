/**
 * The hub between the event loops of one server (`sockkit server --workers N`): a chat or broadcast room is one
 * room whatever loop a client landed on. Each loop's room talks to a `LoopHub`, which passes what its members
 * say to the main thread; the main thread's `LoopHubHost` hands it to every other loop, in the order it was
 * said, keeps the names every loop holds, and, with `--hub redis://…`, is the process's one instance on Redis
 * (one connection per process, not one per loop). What waits to reach one loop is capped in bytes: a loop that
 * falls that far behind loses what does not fit (counted and warned about), as a Redis hub drops what Redis
 * cannot take, so memory stays bounded.
 * @module
 */
import type { EventSink, ServerEvent } from "../report/events.ts";
import { formatBytes } from "../core/format.ts";
import type { HeldName, Hub, HubListener, HubVia, RoomNames } from "./hub.ts";

/** Bytes forwarded to one loop and not yet delivered there; past this, what that loop would get is dropped. */
export const MAX_LOOP_BACKLOG_BYTES = 16 * 1024 * 1024;

/** What a loop's hub tells the main thread. */
export type FromLoopHub =
  | { hub: "publish"; batch: Uint8Array[]; instancesOnly?: boolean }
  | { hub: "settle" }
  | { hub: "members"; any: boolean }
  | { hub: "claim"; id: number; held: HeldName }
  | { hub: "release"; key: string }
  | { hub: "number"; id: number }
  | { hub: "names"; id: number }
  | { hub: "delivered"; bytes: number };

/** What the main thread tells a loop's hub. */
export type ToLoopHub =
  | { hub: "message"; batch: Uint8Array[]; instance: string; via?: HubVia }
  | { hub: "reply"; id: number; value: unknown }
  | { hub: "down" }
  | { hub: "up" }
  | { hub: "dropped"; why: string }
  | { hub: "held"; key: string; held: boolean }
  | { hub: "settled" };

function sizeOf(batch: Uint8Array[]): number {
  let bytes = 0;
  for (const data of batch) bytes += data.length;
  return bytes;
}

/**
 * One loop's side: a `Hub` whose other instances are the server's other loops (and, through the main
 * thread, the Redis hub's instances). What is published within one turn of the loop goes as one message.
 */
export class LoopHub implements Hub {
  readonly instance: string;
  readonly shared = true;
  #reachable: boolean;
  #listener?: HubListener;
  #batch: Uint8Array[] = [];
  #nextId = 0;
  readonly #waiting = new Map<number, (value: unknown) => void>();
  #closed = false;
  #settled?: PromiseWithResolvers<void>;
  #anyMembers = false;
  /** What the host says every loop's members hold, kept here so a line in one of their names is refused. */
  readonly heldHere = new Set<string>();

  /** `send`: to the main thread; `reachable`: whether the process's shared hub (Redis) is up now. */
  constructor(index: number, private readonly send: (message: FromLoopHub) => void, reachable = true) {
    this.instance = `loop ${index + 1}`;
    this.#reachable = reachable;
  }

  get reachable(): boolean {
    return this.#reachable;
  }

  /** What the main thread sent this loop's hub. */
  receive(message: ToLoopHub): void {
    switch (message.hub) {
      case "message": {
        for (const data of message.batch) this.#listener?.message(data, message.instance, message.via);
        this.send({ hub: "delivered", bytes: sizeOf(message.batch) });
        return;
      }
      case "reply": {
        const resolve = this.#waiting.get(message.id);
        this.#waiting.delete(message.id);
        return resolve?.(message.value);
      }
      case "down":
        this.#reachable = false;
        return this.#listener?.down?.();
      case "up":
        this.#reachable = true;
        return this.#listener?.up?.();
      case "dropped":
        return this.#listener?.dropped?.(message.why);
      case "held":
        return void (message.held ? this.heldHere.add(message.key) : this.heldHere.delete(message.key));
      case "settled":
        return this.#settled?.resolve();
    }
  }

  listen(listener: HubListener): void {
    this.#listener = listener;
  }

  publish(data: Uint8Array, instancesOnly = false): void {
    if (this.#closed) return;
    if (instancesOnly) {
      this.#flush();
      return this.send({ hub: "publish", batch: [data.slice()], instancesOnly });
    }
    // posting a view copies its whole buffer: send a view into a larger one as a copy of its own
    if (data.byteLength !== data.buffer.byteLength) data = data.slice();
    if (this.#batch.push(data) === 1) queueMicrotask(() => this.#flush());
  }

  #flush(): void {
    const batch = this.#batch;
    this.#batch = [];
    if (batch.length) this.send({ hub: "publish", batch });
  }

  members(count: number): void {
    if (this.#closed || (count > 0) === this.#anyMembers) return;
    this.#anyMembers = count > 0;
    this.send({ hub: "members", any: this.#anyMembers });
  }

  settle(maxMs: number): Promise<void> {
    this.#flush();
    this.#settled = Promise.withResolvers<void>();
    this.send({ hub: "settle" });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, maxMs)));
    return Promise.race([this.#settled.promise, late]).finally(() => clearTimeout(timer));
  }

  #ask<T>(message: (id: number) => FromLoopHub, closed: T): Promise<T> {
    if (this.#closed) return Promise.resolve(closed);
    const id = ++this.#nextId;
    const { promise, resolve } = Promise.withResolvers<T>();
    this.#waiting.set(id, resolve as (value: unknown) => void);
    this.send(message(id));
    return promise;
  }

  claim(held: HeldName): Promise<boolean> {
    return this.#ask((id) => ({ hub: "claim", id, held }), false);
  }

  release(key: string): void {
    if (!this.#closed) this.send({ hub: "release", key });
  }

  nextNumber(): Promise<number> {
    return this.#ask((id) => ({ hub: "number", id }), 0);
  }

  /** The names of the other instances alone: the room asks `roomNames`. */
  async remoteNames(): Promise<HeldName[] | undefined> {
    const { elsewhere, unreachable } = await this.roomNames();
    return unreachable ? undefined : elsewhere;
  }

  roomNames(): Promise<RoomNames> {
    return this.#ask((id) => ({ hub: "names", id }), { here: [], elsewhere: [], unreachable: false });
  }

  close(): Promise<void> {
    this.#flush();
    this.#closed = true;
    return Promise.resolve();
  }
}

/** What the host needs: how to reach loop `index`, and where its warnings go. */
export interface LoopHubHostOptions {
  loops: number;
  send(index: number, message: ToLoopHub): void;
  emit: EventSink<ServerEvent>;
  /** The process's hub to the other server instances (`--hub redis://…`), if any. */
  upstream?: Hub;
}

/**
 * The main thread's side: carries each loop's messages to the others (and to `upstream`), and what `upstream`
 * brings to every loop; holds which loop has which name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const sent: unknown[][] = [[], []];
 * const host = new LoopHubHost({ loops: 2, send: (i, m) => sent[i].push(m), emit: () => {} });
 * host.receive(1, { hub: "members", any: true }); // loop 2's room has members
 * host.receive(0, { hub: "publish", batch: [new Uint8Array([1])] });
 * assert.equal(sent[1].length, 1); // loop 2 hears loop 1
 * assert.equal(sent[0].length, 0); // not loop 1 itself
 * ```
 */
export class LoopHubHost {
  readonly #names = new Map<string, { loop: number; name: string; since: number }>();
  readonly #claiming = new Set<string>();
  readonly #backlog: number[];
  readonly #dropped: number[];
  #number = 0;
  #settling = 0;
  /** Which loops' rooms have members: only they are brought the others' messages. */
  readonly #hearing: boolean[];

  constructor(private readonly o: LoopHubHostOptions) {
    this.#backlog = new Array(o.loops).fill(0);
    this.#dropped = new Array(o.loops).fill(0);
    this.#hearing = new Array(o.loops).fill(false);
    o.upstream?.listen({
      // another instance's line is logged once, by the first loop, as on a server with one loop
      // a copy: the hub's bytes may be a view into a much larger buffer, which posting would copy whole
      message: (data, instance) => this.#forward([new Uint8Array(data)], instance, -1),
      // what the hub refused (malformed, too large) is counted and said once, by the first loop
      dropped: (why) => this.o.send(0, { hub: "dropped", why }),
      down: () => this.#tellAll({ hub: "down" }),
      up: () => this.#tellAll({ hub: "up" }),
    });
  }

  /** Whether the shared hub can be reached now (true without one). */
  get reachable(): boolean {
    return this.o.upstream?.reachable ?? true;
  }

  /** What loop `from` sent (its `LoopHub`). */
  receive(from: number, message: FromLoopHub): void {
    switch (message.hub) {
      case "publish":
        if (!message.instancesOnly) this.#forward(message.batch, `loop ${from + 1}`, from);
        for (const data of message.batch) this.o.upstream?.publish(data);
        return;
      case "members":
        this.#hearing[from] = message.any;
        return;
      case "settle":
        // every loop's messages before its "settle" were forwarded before its "settle" came: once all have
        // come, what each loop is told "settled" after reaches it after all of them
        if (++this.#settling === this.o.loops) this.#tellAll({ hub: "settled" });
        return;
      case "delivered":
        this.#backlog[from] -= message.bytes;
        return;
      case "claim":
        return void this.#claim(from, message.held).then((value) => this.#reply(from, message.id, value));
      case "release":
        return this.#release(from, message.key);
      case "number":
        return void this.#nextNumber().then((value) => this.#reply(from, message.id, value));
      case "names":
        return void this.#roomNames().then((value) => this.#reply(from, message.id, value));
    }
  }

  #reply(to: number, id: number, value: unknown): void {
    this.o.send(to, { hub: "reply", id, value });
  }

  #tellAll(message: ToLoopHub): void {
    for (let i = 0; i < this.o.loops; i++) this.o.send(i, message);
  }

  /** To every loop but `from` (-1: from another instance, logged by loop 1 only), within each one's backlog. */
  #forward(batch: Uint8Array[], instance: string, from: number): void {
    const bytes = sizeOf(batch);
    for (let i = 0; i < this.o.loops; i++) {
      // loop 1 hears another instance's lines even with no members: it is the one that logs them
      if (i === from || (!this.#hearing[i] && !(from < 0 && i === 0))) continue;
      if (this.#backlog[i] + bytes > MAX_LOOP_BACKLOG_BYTES) {
        if (this.#dropped[i]++ === 0) {
          this.o.emit({
            type: "warning",
            message: `event loop ${i + 1} is more than ${
              formatBytes(MAX_LOOP_BACKLOG_BYTES)
            } behind the room: what it cannot take now is dropped, not buffered`,
          });
        }
        continue;
      }
      if (this.#dropped[i] > 0) this.#caughtUp(i);
      this.#backlog[i] += bytes;
      const via = from >= 0 ? "loop" : i > 0 ? "logged" : undefined;
      this.o.send(i, { hub: "message", batch, instance, via });
    }
  }

  #caughtUp(i: number): void {
    this.o.emit({
      type: "warning",
      message: `event loop ${i + 1} caught up with the room (${
        this.#dropped[i]
      } dropped while it was behind)`,
    });
    this.#dropped[i] = 0;
  }

  async #claim(loop: number, wanted: HeldName): Promise<boolean> {
    const { key, name } = wanted;
    const held = this.#names.get(key);
    if (held && held.loop !== loop) return false;
    if (this.#claiming.has(key)) return false;
    this.#claiming.add(key);
    try {
      const ok = this.o.upstream ? await this.o.upstream.claim(wanted) : true;
      if (ok) {
        this.#names.set(key, { loop, name, since: wanted.since ?? 0 });
        // before the reply: every loop knows the name is held here before its holder can speak
        this.#tellAll({ hub: "held", key, held: true });
      }
      return ok;
    } finally {
      this.#claiming.delete(key);
    }
  }

  #release(loop: number, key: string): void {
    if (this.#names.get(key)?.loop !== loop) return;
    this.#names.delete(key);
    this.#tellAll({ hub: "held", key, held: false });
    this.o.upstream?.release(key);
  }

  #nextNumber(): Promise<number> {
    return this.o.upstream ? this.o.upstream.nextNumber() : Promise.resolve(++this.#number);
  }

  /** This process's names in the order their holders joined, then the other instances'. */
  async #roomNames(): Promise<RoomNames> {
    const here = [...this.#names.values()].sort((a, b) => a.since - b.since).map((held) => held.name);
    const elsewhere = this.o.upstream ? await this.o.upstream.remoteNames() : [];
    if (elsewhere === undefined) return { here, elsewhere: [], unreachable: true };
    return { here, elsewhere, unreachable: false };
  }
}
