/**
 * A relay spread over several event loops (`sockkit relay --workers N`, the default for a TCP or TLS listen address).
 *
 * One Deno event loop serves up to about 128 busy connections evenly and starves some past that (bench/NOTES.md:
 * a 200-client ping-pong through one loop had pairs with no round trip for seconds); a relay pair is two
 * connections. Here N workers each bind the listen address with SO_REUSEPORT, the kernel spreads new clients
 * over them, and each runs relay.ts on its share (lib/relay/worker.ts). The main thread only reports: it
 * binds the address once first (so an address in use, or port 0, is handled as without workers), says
 * "Listening" once every worker is bound, passes on their events, tells them of Ctrl-C, and adds up their
 * summaries. Pair numbers and `--max-conns` live in cells the workers share (lib/relay/slots.ts).
 * @module
 */
import type { RelayOptions, RunRelayContext } from "../../relay.ts";
import type { ServerEvent, ServerSummary } from "../report/events.ts";
import { SockkitError, UsageError } from "../core/errors.ts";
import { closeQuietly } from "../core/io.ts";
import { listen, listenerAddress } from "../transports/dispatch.ts";
import { transportOf } from "../transports/mod.ts";
import type { FromRelayWorker, ToRelayWorker } from "./worker.ts";
import { PairSlots } from "./slots.ts";
import { RelayTotals } from "./totals.ts";

/** Event loops a relay spreads its pairs over when `--workers` is not given and it can (see below). */
export const DEFAULT_RELAY_WORKERS = 2;

/** The most event loops a relay runs. */
export const MAX_RELAY_WORKERS = 64;

const WORKER_URL = new URL("./worker.ts", import.meta.url);

/** How many event loops a relay runs, and why it runs fewer than it could (a warning line). */
export interface RelayLoops {
  count: number;
  warning?: string;
}

/**
 * How many event loops a relay runs: `asked` (`--workers`), or the default where the listen transport shares
 * ports and the default I/O core moves the bytes (`--io node` serves every connection evenly in one loop),
 * else 1. Asking for more than one where that cannot be, or without what workers need, is a usage error; by
 * default, without what they need, the relay warns and uses one loop.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const tcp = { transport: "tcp", hostname: "127.0.0.1", port: 0 } as const;
 * assert.deepEqual(relayLoops(undefined, { listen: tcp, target: tcp }), { count: 2 });
 * assert.deepEqual(relayLoops(undefined, { listen: { transport: "unix", path: "/tmp/s" }, target: tcp }), { count: 1 });
 * ```
 */
export function relayLoops(
  asked: number | undefined,
  opts: Pick<RelayOptions, "listen" | "target" | "io">,
): RelayLoops {
  if (asked !== undefined && asked > MAX_RELAY_WORKERS) {
    throw new UsageError(`--workers ${asked}: at most ${MAX_RELAY_WORKERS} event loops`);
  }
  const transport = transportOf(opts.listen);
  const oneLoop = !transport.capabilities.sharesPort
    ? `a ${transport.label} listen address is served by one event loop`
    : opts.io === "node"
    ? "--io node serves every connection from one event loop"
    : undefined;
  if (oneLoop !== undefined) {
    if (asked !== undefined && asked > 1) {
      throw new UsageError(`--workers ${asked}: ${oneLoop} (leave --workers out)`);
    }
    return { count: 1 };
  }
  const count = asked ?? DEFAULT_RELAY_WORKERS;
  const need = count > 1 ? workersNeed() : undefined;
  if (need === undefined) return { count };
  if (asked !== undefined) throw new UsageError(`--workers ${asked} needs Deno's ${need}: add it`);
  return { count: 1, warning: `relaying from one event loop: its workers need ${need}` };
}

/**
 * What this process lacks to start relay workers, as the flag that gives it, or undefined: from source a
 * worker needs read access to load its module, and SO_REUSEPORT is behind Deno's `--unstable-net`.
 */
function workersNeed(): string | undefined {
  if (Deno.permissions.querySync({ name: "read", path: WORKER_URL }).state !== "granted") {
    return "--allow-read";
  }
  if (typeof Deno.listenDatagram !== "function") return "--unstable-net";
  return undefined;
}

/** One worker thread and what it reports. */
interface RelayWorker {
  worker: Worker;
  listening: Promise<ServerEvent & { type: "listening" }>;
  done: Promise<ServerSummary>;
}

function startWorker(
  opts: RelayOptions,
  shared: Int32Array,
  startedAt: number,
  emit: (event: ServerEvent) => void,
): RelayWorker {
  const worker = new Worker(WORKER_URL, { type: "module" });
  const listening = Promise.withResolvers<ServerEvent & { type: "listening" }>();
  const done = Promise.withResolvers<ServerSummary>();
  const fail = (err: Error) => {
    listening.reject(err);
    done.reject(err);
  };
  listening.promise.catch(() => {});
  worker.onmessage = ({ data: m }: MessageEvent<FromRelayWorker>) => {
    if (m.type === "done") return done.resolve(m.summary);
    if (m.type === "failed") return fail(new SockkitError(m.message, m.exitCode));
    const event = m.event;
    // said once for the whole relay by the main thread
    if (event.type === "listening") listening.resolve(event);
    else if (event.type !== "stopping" && event.type !== "summary") emit(event);
  };
  worker.onerror = (event) => {
    event.preventDefault();
    fail(new Error(`relay worker failed: ${event.message}`));
  };
  const start: ToRelayWorker = { type: "start", opts, shared, startedAt };
  worker.postMessage(start);
  return { worker, listening: listening.promise, done: done.promise };
}

function tell(workers: RelayWorker[], message: ToRelayWorker): void {
  for (const w of workers) w.worker.postMessage(message);
}

/**
 * Runs a stream relay on `count` worker threads until `signal` aborts; events and the summary are those of
 * a relay on one event loop (relay.ts), said once for the whole relay.
 *
 * @example
 * ```ts ignore
 * const ac = new AbortController();
 * const done = runRelayWorkers({
 *   listen: { transport: "tcp", hostname: "127.0.0.1", port: 0 },
 *   target: { transport: "tcp", hostname: "127.0.0.1", port: 1234 },
 * }, 2, { signal: ac.signal, onEvent: console.log });
 * ac.abort();
 * await done;
 * ```
 */
export async function runRelayWorkers(
  opts: RelayOptions,
  count: number,
  ctx: RunRelayContext = {},
): Promise<ServerSummary> {
  const emit = ctx.onEvent ?? (() => {});
  const signal = ctx.signal ?? new AbortController().signal;
  const startedAt = performance.now();
  const transport = transportOf(opts.listen);
  const listenEp = await transport.shareListen?.(opts.listen, emit) ?? opts.listen;
  // One bind without SO_REUSEPORT: an address in use fails here as it would without workers, and port 0
  // becomes the port every worker binds.
  const probe = await listen(listenEp, emit, {});
  const address = listenerAddress(probe, listenEp);
  const port = (probe.addr as Deno.NetAddr).port;
  closeQuietly(probe);

  const shared = PairSlots.shared();
  const slots = new PairSlots(shared);
  const shareOpts: RelayOptions = { ...opts, listen: { ...listenEp, port } as RelayOptions["listen"] };
  const workers = Array.from(
    { length: count },
    () => startWorker(shareOpts, shared, performance.timeOrigin + startedAt, emit),
  );
  const settled = Promise.allSettled(workers.map((w) => w.done));
  try {
    const [first] = await Promise.all(workers.map((w) => w.listening));
    emit({ ...first, address });
    // The main thread drops its file access once listening (cli/common.ts): the workers follow it.
    const names = (["read", "write"] as const).filter((name) =>
      Deno.permissions.querySync({ name }).state !== "granted"
    );
    if (names.length) tell(workers, { type: "revoke", names });
    // until Ctrl-C, or a worker that ends or fails on its own (which stops the others)
    const aborted = new Promise<void>((resolve) => {
      if (signal.aborted) return resolve();
      signal.addEventListener("abort", () => resolve(), { once: true });
    });
    await Promise.race([aborted, ...workers.map((w) => w.done)]);
    emit({ type: "stopping", active: slots.active });
  } finally {
    tell(workers, { type: "stop" });
    await settled;
    for (const w of workers) w.worker.terminate();
  }
  const totals = new RelayTotals(startedAt);
  for (const result of await settled) {
    if (result.status === "rejected") throw result.reason;
    totals.add(result.value);
  }
  return totals.summarize(address, emit);
}
