/**
 * The registry of hubs (`--hub URL`): where a room meets the same room on other server instances, keyed by
 * the URL's scheme. Adding a hub (NATS, say) is one module in this folder exporting a `HubKind`, and one line
 * of `HUBS`; the server asks this registry and never names a hub. A hub's client library is loaded only when
 * `--hub` names it.
 * @module
 */
import { UsageError } from "../core/errors.ts";
import type { EventSink, HubEvent } from "../report/events.ts";
import type { Hub } from "./hub.ts";
import { type HubSettings, parseHubUrl } from "./url.ts";

/** What a hub is connected with: its settings, the mode whose room it carries, and where it reports. */
export interface HubConnectOptions {
  settings: HubSettings;
  mode: string;
  emit: EventSink<HubEvent | { type: "warning"; message: string }>;
}

/** One kind of hub: the URL schemes it takes, how its URL is written, and how to connect it. */
export interface HubKind {
  readonly schemes: readonly string[];
  /** How its URLs are written, in usage errors. */
  readonly form: string;
  /** Parses `--hub URL` (and `--room`); throws a `UsageError` saying what is wrong. */
  parse(url: string, room?: string): HubSettings;
  connect(opts: HubConnectOptions): Promise<Hub>;
}

/** Every kind of hub. */
export const HUBS: readonly HubKind[] = [
  {
    schemes: ["redis:", "rediss:"],
    form: "redis://[user:password@]HOST:PORT[/DB] or rediss://",
    parse: parseHubUrl,
    connect: async (opts) => (await import("./redis.ts")).connectRedisHub(opts),
  },
];

function schemeOf(url: string): string {
  return /^[a-z][a-z0-9+.-]*:/i.exec(url)?.[0].toLowerCase() ?? "";
}

/**
 * Parses `--hub URL` with the hub its scheme names. A scheme no hub takes is a `UsageError` listing them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(parseHub("redis://127.0.0.1:6379").room, "lobby");
 * assert.throws(() => parseHub("nats://127.0.0.1:4222"), /--hub takes redis:\/\//);
 * ```
 */
export function parseHub(url: string, room?: string): HubSettings {
  const kind = HUBS.find((h) => h.schemes.includes(schemeOf(url)));
  if (!kind) {
    const shown = url.replace(/\/\/[^@/]*@/, "//***@");
    const forms = HUBS.map((h) => h.form).join(", ");
    if (!schemeOf(url)) throw new UsageError(`--hub is not a URL: --hub takes ${forms}`);
    throw new UsageError(`--hub '${shown}': unsupported scheme '${schemeOf(url)}': --hub takes ${forms}`);
  }
  return kind.parse(url, room);
}

/** The hub kind of parsed settings. */
export function hubFor(settings: HubSettings): HubKind {
  return HUBS.find((h) => h.schemes.includes(schemeOf(settings.url)))!;
}
