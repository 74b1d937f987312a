/**
 * `--hub` and `--room`: what they accept, and how a hub address is shown (never with its password).
 * @module
 */
import { UsageError } from "../core/errors.ts";

/** Where the room's instances meet and which room it is. */
export interface HubSettings {
  /** The `redis://` or `rediss://` URL as given (with credentials: only handed to the Redis client). */
  url: string;
  /** The URL as logs show it: the password replaced by `***`. */
  label: string;
  /** The room's name (`--room`, default `lobby`). */
  room: string;
  /** True for `rediss://` (TLS). */
  tls: boolean;
}

/** The room every instance joins unless `--room` names another. */
export const DEFAULT_ROOM = "lobby";
const ROOM_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/** Parses `--hub redis://[user:password@]HOST:PORT[/DB]` (or `rediss://`); a bad one is a UsageError. */
export function parseHubUrl(value: string, room: string = DEFAULT_ROOM): HubSettings {
  const usage = "--hub takes redis://[user:password@]HOST:PORT[/DB] or rediss://… (TLS)";
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`--hub is not a URL: ${usage}`);
  }
  if (url.protocol !== "redis:" && url.protocol !== "rediss:") {
    throw new UsageError(`--hub '${redact(url)}': unsupported scheme '${url.protocol}': ${usage}`);
  }
  if (!url.hostname) throw new UsageError(`--hub '${redact(url)}' names no host: ${usage}`);
  if (!url.port) {
    throw new UsageError(`--hub '${redact(url)}' names no port (Redis listens on 6379): ${usage}`);
  }
  const db = url.pathname.replace(/^\//, "");
  if (db !== "" && !/^\d{1,5}$/.test(db)) {
    throw new UsageError(`--hub '${redact(url)}': database '${db}' is not a number: ${usage}`);
  }
  if (url.search || url.hash) {
    throw new UsageError(`--hub '${redact(url)}' has a query or fragment: ${usage}`);
  }
  return { url: value, label: redact(url), room: parseRoom(room), tls: url.protocol === "rediss:" };
}

/** Checks a `--room` name: 1 to 64 letters, digits, `.`, `_` or `-`. */
export function parseRoom(value: string): string {
  if (!ROOM_PATTERN.test(value)) {
    throw new UsageError(`--room '${value}': a room name is 1 to 64 letters, digits, '.', '_' or '-'`);
  }
  return value;
}

function redact(url: URL): string {
  const copy = new URL(url.href);
  if (copy.password) copy.password = "***";
  return copy.href.replace(/\/$/, "");
}
