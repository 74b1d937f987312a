/**
 * How many event loops a command runs (`--workers`): one Deno event loop serves about 100–128 busy
 * connections evenly and starves some past that (bench/NOTES.md), so the server and the relay spread their
 * clients over several, each a worker thread binding the same port with SO_REUSEPORT.
 * @module
 */
import { UsageError } from "../core/errors.ts";
import type { IoCore } from "../transports/dispatch.ts";
import type { Endpoint } from "../transports/dispatch.ts";
import { transportOf } from "../transports/mod.ts";

/** The most event loops a command runs. */
export const MAX_WORKERS = 64;

/** How many event loops a command runs, and why it runs fewer than it could (a warning line). */
export interface LoopPlan {
  count: number;
  warning?: string;
}

/** What decides the loops: the listen address, the I/O core, and what the command does by default. */
export interface LoopPlanInput {
  /** Where the command listens: only a transport that shares ports (TCP, TLS) can be served by several loops. */
  listen: Endpoint;
  io?: IoCore;
  /** Loops when `--workers` is not given. */
  defaultCount: number;
  /** What the warning says runs on one loop: `relaying`, `serving`. */
  doing: string;
  /** The module a worker loads, whose read access is checked. */
  workerUrl: URL;
}

/**
 * How many event loops to run: `asked` (`--workers`), or the default where the listen transport shares ports
 * and the default I/O core moves the bytes (`--io node` serves every connection evenly in one loop), else 1.
 * Asking for more than one where that cannot be, or without what workers need, is a usage error; by default,
 * without what they need, the command warns and uses one loop.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const input = { defaultCount: 2, doing: "relaying", workerUrl: new URL(import.meta.url) };
 * const tcp = { transport: "tcp", hostname: "127.0.0.1", port: 0 } as const;
 * assert.deepEqual(loopPlan(undefined, { ...input, listen: tcp }), { count: 2 });
 * assert.deepEqual(loopPlan(undefined, { ...input, listen: { transport: "unix", path: "/tmp/s" } }), { count: 1 });
 * ```
 */
export function loopPlan(asked: number | undefined, input: LoopPlanInput): LoopPlan {
  if (asked !== undefined && asked > MAX_WORKERS) {
    throw new UsageError(`--workers ${asked}: at most ${MAX_WORKERS} event loops`);
  }
  if (asked !== undefined && asked < 1) throw new UsageError(`--workers ${asked}: at least 1 event loop`);
  const transport = transportOf(input.listen);
  const oneLoop = !transport.capabilities.sharesPort
    ? `a ${transport.label} listen address is served by one event loop`
    : input.io === "node"
    ? "--io node serves every connection from one event loop"
    : undefined;
  if (oneLoop !== undefined) {
    if (asked !== undefined && asked > 1) {
      throw new UsageError(`--workers ${asked}: ${oneLoop} (leave --workers out)`);
    }
    return { count: 1 };
  }
  const count = asked ?? input.defaultCount;
  const need = count > 1 ? workersNeed(input.workerUrl) : undefined;
  if (need === undefined) return { count };
  if (asked !== undefined) throw new UsageError(`--workers ${asked} needs Deno's ${need}: add it`);
  return { count: 1, warning: `${input.doing} from one event loop: its workers need ${need}` };
}

/**
 * What this process lacks to start workers, as the flag that gives it, or undefined: from source a worker
 * needs read access to load its module, and SO_REUSEPORT is behind Deno's `--unstable-net`.
 */
function workersNeed(workerUrl: URL): string | undefined {
  if (Deno.permissions.querySync({ name: "read", path: workerUrl }).state !== "granted") {
    return "--allow-read";
  }
  if (typeof Deno.listenDatagram !== "function") return "--unstable-net";
  return undefined;
}
