/**
 * A room that spans server instances over Redis pub/sub. Each instance publishes what its own clients send
 * on one channel per mode and room, tagged with its instance id, and delivers what the others publish;
 * names are keys claimed with an expiry and refreshed by a heartbeat, so a crashed instance's names (its
 * presence) vanish within `PRESENCE_TTL_MS`. While Redis is unreachable nothing is queued: what is published
 * is dropped (at most once), the instance reconnects with backoff, resubscribes and registers its names again.
 * @module
 */
import "./node_env.ts";
import { Buffer } from "node:buffer";
import { createClient } from "redis";
import { SockkitError } from "../core/errors.ts";
import type { EventSink, HubEvent } from "../report/events.ts";
import { formatDuration } from "../core/duration.ts";
import { formatBytes, plural } from "../core/format.ts";
import { limitedLog } from "../core/ratelimit.ts";
import { type HeldName, type Hub, type HubListener, MAX_HUB_MESSAGE } from "./hub.ts";
import type { HubSettings } from "./url.ts";

/** How long a name (a member's presence) outlives the last heartbeat of the instance holding it. */
export const PRESENCE_TTL_MS = 10_000;
/** How often an instance refreshes the names it holds. */
export const HEARTBEAT_MS = 3_000;
/** Bytes that may be on their way to Redis at once; past this, messages are dropped, not buffered. */
export const MAX_IN_FLIGHT_BYTES = 8 * 1024 * 1024;
/** The longest wait between two reconnection attempts. */
const MAX_BACKOFF_MS = 2_000;
/** How long connecting may take, at start and on every reconnection attempt. */
const CONNECT_TIMEOUT_MS = 3_000;

/** What an instance id looks like (see `RedisHub.instance`): anything else did not come from an instance. */
const INSTANCE_ID = /^[0-9a-f]{8}$/;

/** Deletes a key only while it still holds this instance's value (a name is never released for another). */
const RELEASE_SCRIPT =
  `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`;

/** What `connectRedisHub` needs. */
export interface RedisHubOptions {
  settings: HubSettings;
  /** The mode whose room this is: chat and broadcast rooms of the same name are kept apart. */
  mode: string;
  emit: EventSink<HubEvent | { type: "warning"; message: string }>;
  /** Presence expiry, for tests (default PRESENCE_TTL_MS; the heartbeat runs at a third of it). */
  ttlMs?: number;
}

/**
 * Connects to Redis and subscribes to the room; resolves once both connections are ready. Fails with a
 * one-line SockkitError when Redis cannot be reached or refuses the credentials.
 */
export async function connectRedisHub(opts: RedisHubOptions): Promise<Hub> {
  const hub = new RedisHub(opts);
  await hub.start();
  return hub;
}

type Client = ReturnType<typeof createClient>;

class RedisHub implements Hub {
  readonly instance = crypto.randomUUID().slice(0, 8);
  readonly shared = true;
  #reachable = false;
  #started = false;
  #closing = false;
  #listener?: HubListener;
  readonly #held = new Map<string, string>();
  readonly #pub: Client;
  readonly #sub: Client;
  readonly #channel: string;
  readonly #prefix: string;
  readonly #tag: Uint8Array;
  readonly #ttlMs: number;
  #heartbeat?: ReturnType<typeof setInterval>;
  #inFlight = 0;
  #dropped = 0;
  #downSince = 0;
  #lastError = "";
  #restoring = false;
  #localNumber = 0;
  readonly #tooLarge: (line: string) => void;

  constructor(private readonly opts: RedisHubOptions) {
    this.#ttlMs = opts.ttlMs ?? PRESENCE_TTL_MS;
    this.#channel = `sockkit:${opts.mode}:${opts.settings.room}`;
    this.#prefix = `${this.#channel}:`;
    this.#tag = new TextEncoder().encode(`${this.instance}\n`);
    this.#tooLarge = limitedLog(1, (message) => opts.emit({ type: "warning", message }));
    this.#pub = createClient({
      url: opts.settings.url,
      disableOfflineQueue: true,
      socket: {
        connectTimeout: CONNECT_TIMEOUT_MS,
        reconnectStrategy: (retries, cause) => this.#retryIn(retries, cause),
      },
    });
    this.#sub = this.#pub.duplicate();
    for (const client of [this.#pub, this.#sub]) {
      client.on("error", (err: Error) => {
        this.#lastError = describe(err);
      });
      client.on("reconnecting", () => this.#lost());
      client.on("ready", () => void this.#maybeBack());
    }
  }

  get reachable(): boolean {
    return this.#reachable;
  }

  async start(): Promise<void> {
    const where = `${this.opts.settings.label} (--hub)`;
    try {
      await this.#pub.connect();
      await this.#sub.connect();
      await this.#sub.subscribe(this.#channel, (message: Buffer) => this.#onMessage(message), true);
    } catch (err) {
      this.#destroy();
      const reason = this.#lastError || describe(err);
      throw new SockkitError(`cannot use the hub at ${where}: ${reason}: ${adviceFor(reason)}`);
    }
    this.#started = true;
    this.#reachable = true;
    this.#heartbeat = setInterval(() => this.#refresh(), Math.max(50, Math.floor(this.#ttlMs / 3)));
    this.opts.emit({
      type: "hub",
      state: "connected",
      hub: this.opts.settings.label,
      room: this.opts.settings.room,
      instance: this.instance,
      message:
        `room ${this.opts.settings.room} shared over ${this.opts.settings.label} as instance ${this.instance}`,
    });
  }

  listen(listener: HubListener): void {
    this.#listener = listener;
  }

  publish(data: Uint8Array): void {
    if (data.length > MAX_HUB_MESSAGE) {
      this.#tooLarge(
        `hub: a message of ${formatBytes(data.length)} reached this server's clients only: over the ` +
          `${formatBytes(MAX_HUB_MESSAGE)} a message may carry to the other instances`,
      );
      return;
    }
    if (!this.#reachable || this.#inFlight > MAX_IN_FLIGHT_BYTES) {
      this.#dropped++;
      return;
    }
    const message = Buffer.allocUnsafe(this.#tag.length + data.length);
    message.set(this.#tag, 0);
    message.set(data, this.#tag.length);
    this.#inFlight += message.length;
    this.#pub.publish(this.#channel, message).then(
      () => this.#inFlight -= message.length,
      () => {
        this.#inFlight -= message.length;
        this.#dropped++;
      },
    );
  }

  async claim(held: HeldName): Promise<boolean> {
    const value = `${this.instance} ${held.name}`;
    if (this.#reachable) {
      try {
        const key = this.#nameKey(held.key);
        if (this.#held.has(held.key)) {
          // held here already (a member changing the case of its name): only what is shown changes
          await this.#pub.set(key, value, { XX: true, PX: this.#ttlMs });
        } else {
          const set = await this.#pub.set(key, value, { NX: true, PX: this.#ttlMs });
          if (set === null && await this.#pub.get(key) !== value) return false;
        }
      } catch {
        // Redis went away meanwhile: held here, registered when it is back (see #maybeBack)
      }
    }
    this.#held.set(held.key, value);
    return true;
  }

  release(key: string): void {
    const value = this.#held.get(key);
    if (value === undefined) return;
    this.#held.delete(key);
    if (!this.#reachable) return;
    this.#pub.eval(RELEASE_SCRIPT, { keys: [this.#nameKey(key)], arguments: [value] }).catch(() => {});
  }

  async nextNumber(): Promise<number> {
    if (this.#reachable) {
      try {
        return await this.#pub.incr(`${this.#prefix}joined`);
      } catch {
        // unreachable: a local number, checked against the names held here
      }
    }
    return ++this.#localNumber;
  }

  async remoteNames(): Promise<HeldName[] | undefined> {
    if (!this.#reachable) return undefined;
    try {
      const names: HeldName[] = [];
      const keyAt = this.#nameKey("").length;
      for await (const keys of this.#pub.scanIterator({ MATCH: `${this.#prefix}name:*`, COUNT: 1000 })) {
        if (keys.length === 0) continue;
        const values = await this.#pub.mGet(keys);
        values.forEach((value, i) => {
          if (value === null) return;
          const space = value.indexOf(" ");
          const instance = value.slice(0, Math.max(0, space));
          if (instance === this.instance) return;
          if (!INSTANCE_ID.test(instance)) return this.#listener?.dropped?.("a name not held by an instance");
          names.push({ key: keys[i].slice(keyAt), name: value.slice(space + 1) });
        });
      }
      return names.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
    } catch {
      return undefined;
    }
  }

  async close(): Promise<void> {
    this.#closing = true;
    clearInterval(this.#heartbeat);
    if (this.#reachable) {
      const released = [...this.#held].map(([key, value]) =>
        this.#pub.eval(RELEASE_SCRIPT, { keys: [this.#nameKey(key)], arguments: [value] }).catch(() => {})
      );
      this.#held.clear();
      await withTimeout(Promise.all(released), 1000);
      await withTimeout(Promise.all([this.#sub.close(), this.#pub.close()]).catch(() => {}), 1000);
    }
    this.#destroy();
  }

  #destroy(): void {
    for (const client of [this.#sub, this.#pub]) {
      try {
        client.destroy();
      } catch {
        // already closed
      }
    }
  }

  #nameKey(key: string): string {
    return `${this.#prefix}name:${key}`;
  }

  /** Before the first connection: give up at once (Redis down at start is an error); then back off. */
  #retryIn(retries: number, cause: Error): number | Error {
    this.#lastError = describe(cause);
    if (!this.#started || this.#closing) return new Error(this.#lastError);
    const backoff = Math.min(100 * 2 ** Math.min(retries, 10), MAX_BACKOFF_MS);
    return Math.round(backoff / 2 + Math.random() * backoff / 2);
  }

  #onMessage(message: Buffer): void {
    const newline = message.indexOf(0x0a);
    const instance = newline < 0 ? "" : message.toString("latin1", 0, newline);
    if (instance === this.instance) return;
    if (!INSTANCE_ID.test(instance)) return this.#listener?.dropped?.("it is not tagged with an instance id");
    if (message.length - newline - 1 > MAX_HUB_MESSAGE) {
      return this.#listener?.dropped?.(
        `${formatBytes(message.length - newline - 1)}, over the ${
          formatBytes(MAX_HUB_MESSAGE)
        } a message may carry`,
      );
    }
    this.#listener?.message(
      new Uint8Array(message.buffer, message.byteOffset + newline + 1, message.length - newline - 1),
      instance,
    );
  }

  #lost(): void {
    if (!this.#started || this.#closing || !this.#reachable) return;
    this.#reachable = false;
    this.#downSince = performance.now();
    this.#dropped = 0;
    this.opts.emit({
      type: "hub",
      state: "down",
      hub: this.opts.settings.label,
      room: this.opts.settings.room,
      instance: this.instance,
      message:
        `lost Redis at ${this.opts.settings.label}${this.#lastError ? ` (${this.#lastError})` : ""}: ` +
        `this server's clients still hear each other, the other servers' do not; reconnecting with backoff`,
    });
    this.#listener?.down?.();
  }

  /** Once both connections are ready again: register the names held here, then say the room is whole. */
  async #maybeBack(): Promise<void> {
    if (!this.#started || this.#closing || this.#reachable || this.#restoring) return;
    if (!this.#pub.isReady || !this.#sub.isReady) return;
    this.#restoring = true;
    let registered = 0;
    const conflicts: string[] = [];
    try {
      for (const [key, value] of this.#held) {
        const set = await this.#pub.set(this.#nameKey(key), value, { NX: true, PX: this.#ttlMs });
        if (set !== null || await this.#pub.get(this.#nameKey(key)) === value) registered++;
        else conflicts.push(value.slice(value.indexOf(" ") + 1));
      }
    } catch {
      this.#restoring = false;
      return; // lost again: the next "ready" tries again
    }
    this.#restoring = false;
    if (!this.#pub.isReady || !this.#sub.isReady) return;
    this.#reachable = true;
    const away = formatDuration(performance.now() - this.#downSince);
    this.opts.emit({
      type: "hub",
      state: "up",
      hub: this.opts.settings.label,
      room: this.opts.settings.room,
      instance: this.instance,
      message: `Redis at ${this.opts.settings.label} is back after ${away}: resubscribed to room ` +
        `${this.opts.settings.room}${
          this.opts.mode === "chat" ? `, ${plural(registered, "name")} registered again` : ""
        }` +
        (this.#dropped
          ? `; ${plural(this.#dropped, "message")} sent meanwhile reached this server only`
          : "") +
        (conflicts.length ? `; also taken on another server meanwhile: ${conflicts.join(", ")}` : ""),
    });
    this.#listener?.up?.();
  }

  /** The heartbeat: every name held here gets its expiry pushed back (and is claimed again if it lapsed). */
  #refresh(): void {
    if (!this.#reachable) return;
    for (const [key, value] of this.#held) {
      const name = this.#nameKey(key);
      this.#pub.set(name, value, { XX: true, PX: this.#ttlMs })
        .then((set) => set === null ? this.#pub.set(name, value, { NX: true, PX: this.#ttlMs }) : set)
        .catch(() => {});
    }
  }
}

function describe(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  if (/ECONNREFUSED/.test(message)) return "connection refused";
  if (/ENOTFOUND|EAI_AGAIN|failed to lookup/i.test(message)) return "host name does not resolve";
  if (/timeout/i.test(message)) return "timed out";
  if (/WRONGPASS|NOAUTH|invalid username-password/i.test(message)) {
    return "Redis refused the user name or password";
  }
  if (/ECONNRESET|Socket closed unexpectedly|connection reset/i.test(message)) return "connection closed";
  return message.split("\n")[0];
}

/** What to do about a failed first connection. */
function adviceFor(reason: string): string {
  if (/certificate/i.test(reason)) return "rediss:// needs a certificate this machine trusts";
  if (/user name or password/.test(reason)) return "check the user and password in --hub";
  return "start Redis there or fix --hub";
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([promise, new Promise((resolve) => timer = setTimeout(resolve, ms))]);
  clearTimeout(timer);
}
