/**
 * The main thread of a command spread over event loops (`--workers N`, the server's and the relay's default
 * for a TCP or TLS listen address). Each loop is a worker thread (lib/loops/loop.ts) that binds the listen
 * address with SO_REUSEPORT, so the kernel spreads new clients over them, and runs the command on its share.
 * The main thread binds the address once first (so an address in use, or port 0, is handled as on one loop),
 * says "Listening" once every loop is bound, passes on their events, tells them of Ctrl-C and of file access
 * it dropped, carries what the command's loops say to each other (a room's messages), and returns their
 * summaries for the command to add up.
 * @module
 */
import type { ServerEvent, ServerSummary } from "../report/events.ts";
import { SockkitError } from "../core/errors.ts";
import { closeQuietly } from "../core/io.ts";
import { type Endpoint, listen, listenerAddress } from "../transports/dispatch.ts";
import { transportOf } from "../transports/mod.ts";

/** What the main thread tells a loop. */
export type ToLoop<Start> =
  | { type: "start"; index: number; start: Start }
  | { type: "revoke"; names: ("read" | "write")[] }
  | { type: "stop" }
  | { type: "channel"; data: unknown };

/** What a loop tells the main thread. */
export type FromLoop =
  | { type: "event"; event: ServerEvent }
  | { type: "done"; summary: ServerSummary }
  | { type: "failed"; message: string; exitCode: number }
  | { type: "channel"; data: unknown };

/** A listen address every loop can bind: its certificate made once, its port picked once. */
export interface SharedAddress<E extends Endpoint> {
  /** The endpoint each loop binds (port 0 replaced by the port picked). */
  endpoint: E;
  /** The address as people write it: `0.0.0.0:1234`. */
  address: string;
}

/**
 * Prepares `listen` for several loops: a TLS certificate is read or made (and reported) once, and one bind
 * without SO_REUSEPORT makes an address in use fail here as on one loop, and turns port 0 into the port
 * every loop binds.
 */
export async function shareAddress<E extends Endpoint>(
  ep: E,
  emit: (event: ServerEvent) => void,
): Promise<SharedAddress<E>> {
  // what making the certificate reports waits for the bind: an address in use is then the only line
  const said: ServerEvent[] = [];
  const endpoint = (await transportOf(ep).shareListen?.(ep, (e) => said.push(e)) ?? ep) as E;
  const probe = await listen(endpoint, emit, {});
  for (const event of said) emit(event);
  const address = listenerAddress(probe, endpoint);
  const port = (probe.addr as Deno.NetAddr).port;
  closeQuietly(probe);
  return { endpoint: { ...endpoint, port } as E, address };
}

/** How a command runs its loops. */
export interface LoopPoolOptions<Start> {
  /** The worker module: one that calls `runAsLoop` (lib/loops/loop.ts). */
  url: URL;
  count: number;
  /** What loop `index` (0, 1, …) is started with. */
  start(index: number): Start;
  signal: AbortSignal;
  /** Where the loops' events go, but for `listening`, `stopping` and `summary`: the command says those once. */
  emit(event: ServerEvent): void;
  /** Once every loop is bound: the first loop's `listening` event. */
  onListening(event: ServerEvent & { type: "listening" }): void;
  /** Ctrl-C, or a loop that ended on its own: before the loops are told to stop. */
  onStopping(): void;
  /** What a loop sent with `LoopContext.send`. */
  onChannel?(index: number, data: unknown): void;
}

/** A running pool: `send` reaches one loop's `onChannel`; `done` settles with every loop's summary. */
export interface LoopPool {
  send(index: number, data: unknown, transfer?: Transferable[]): void;
  readonly count: number;
  done: Promise<ServerSummary[]>;
}

interface Loop {
  worker: Worker;
  listening: Promise<ServerEvent & { type: "listening" }>;
  done: Promise<ServerSummary>;
}

/** Events loops tell before every loop is bound, held until the command has said it is listening. */
interface Held {
  said: boolean;
  events: ServerEvent[];
}

function startLoop<Start>(index: number, o: LoopPoolOptions<Start>, held: Held): Loop {
  const worker = new Worker(o.url, { type: "module" });
  const listening = Promise.withResolvers<ServerEvent & { type: "listening" }>();
  const done = Promise.withResolvers<ServerSummary>();
  const fail = (err: Error) => {
    listening.reject(err);
    done.reject(err);
  };
  listening.promise.catch(() => {});
  worker.onmessage = ({ data: m }: MessageEvent<FromLoop>) => {
    switch (m.type) {
      case "done":
        return done.resolve(m.summary);
      case "failed":
        return fail(new SockkitError(m.message, m.exitCode));
      case "channel":
        return o.onChannel?.(index, m.data);
      case "event": {
        const event = m.event;
        // said once for the whole command by the main thread
        if (event.type === "listening") listening.resolve(event);
        else if (event.type === "stopping" || event.type === "summary") return;
        // a client of the first loop bound, or its web page's address, comes after "Listening"
        else if (!held.said && event.type !== "trace" && event.type !== "hex") held.events.push(event);
        else o.emit(event);
      }
    }
  };
  worker.onerror = (event) => {
    event.preventDefault();
    fail(new Error(`event loop ${index + 1} failed: ${event.message}`));
  };
  const start: ToLoop<Start> = { type: "start", index, start: o.start(index) };
  worker.postMessage(start);
  return { worker, listening: listening.promise, done: done.promise };
}

/**
 * Starts `count` loops and runs them until `signal` aborts or one ends on its own (which stops the others);
 * `done` resolves to their summaries, or rejects with the first loop's failure.
 *
 * @example
 * ```ts ignore
 * const pool = startLoops({ url, count: 2, start: (i) => ({ opts, i }), signal, emit, onListening, onStopping });
 * const summaries = await pool.done;
 * ```
 */
export function startLoops<Start>(o: LoopPoolOptions<Start>): LoopPool {
  const held: Held = { said: false, events: [] };
  const loops = Array.from({ length: o.count }, (_, i) => startLoop(i, o, held));
  const tell = (message: ToLoop<Start>) => {
    for (const loop of loops) loop.worker.postMessage(message);
  };
  const settled = Promise.allSettled(loops.map((loop) => loop.done));
  const run = async (): Promise<ServerSummary[]> => {
    try {
      const [first] = await Promise.all(loops.map((loop) => loop.listening));
      o.onListening(first);
      held.said = true;
      for (const event of held.events.splice(0)) o.emit(event);
      // The main thread drops its file access once listening (cli/common.ts): the loops follow it.
      const names = (["read", "write"] as const).filter((name) =>
        Deno.permissions.querySync({ name }).state !== "granted"
      );
      if (names.length) tell({ type: "revoke", names });
      // until Ctrl-C, or a loop that ends or fails on its own
      const aborted = new Promise<void>((resolve) => {
        if (o.signal.aborted) return resolve();
        o.signal.addEventListener("abort", () => resolve(), { once: true });
      });
      await Promise.race([aborted, ...loops.map((loop) => loop.done)]);
      o.onStopping();
    } finally {
      tell({ type: "stop" });
      await settled;
      for (const loop of loops) loop.worker.terminate();
    }
    return (await settled).map((result) => {
      if (result.status === "rejected") throw result.reason;
      return result.value;
    });
  };
  return {
    count: o.count,
    send: (index, data, transfer) =>
      loops[index].worker.postMessage({ type: "channel", data } satisfies ToLoop<Start>, transfer ?? []),
    done: run(),
  };
}
