/**
 * `sockkit relay LISTEN TARGET`: every client that connects to LISTEN gets its own connection to TARGET, and
 * bytes flow both ways (lib/relay/pair.ts) until both sides are done. Any stream listener (TCP, TLS, Unix)
 * with any stream target; UDP to UDP with a session per source (lib/relay/udp.ts).
 * @module
 */
import { RelayTotals } from "./lib/relay/totals.ts";
import { acceptLoop } from "./lib/server/accept.ts";
import { isStream } from "./lib/endpoints/addressspec.ts";
import type { Cidr } from "./lib/endpoints/cidr.ts";
import { networkReason, SockkitError, UsageError } from "./lib/core/errors.ts";
import type { EventSink, ServerEvent, ServerSummary } from "./lib/report/events.ts";
import { plural } from "./lib/core/format.ts";
import { accessRefusal, idleReason, IdleTimer } from "./lib/server/guards.ts";
import { closeQuietly, sleep } from "./lib/core/io.ts";
import { type PairResult, relayPair } from "./lib/relay/pair.ts";
import { runUdpRelay } from "./lib/relay/udp.ts";
import { PairSlots } from "./lib/relay/slots.ts";
import {
  connect,
  type Connection,
  type Endpoint,
  endpointZone,
  formatEndpoint,
  type IoCore,
  listen,
  listenerAddress,
  peerLabel,
  type StreamEndpoint,
  TRANSPORT_LABELS,
  transportNote,
} from "./lib/transports/dispatch.ts";
import { WireTap } from "./lib/server/wire.ts";

/** What `runRelay` needs; main.ts fills in the defaults. */
export interface RelayOptions {
  /** Where clients connect: TCP, TLS (terminated here), a Unix socket, or UDP. */
  listen: Endpoint;
  /** Where each client's own connection goes: TCP, TLS (originated here, verified), a Unix socket, or UDP. */
  target: Endpoint;
  /** On shutdown, how long pairs may finish (default 2000 ms). */
  graceMs?: number;
  /** Clients relayed at once; one more is closed at once (default: no limit; UDP: 1024 sessions). */
  maxConns?: number;
  /** A pair with no bytes either way for this long is closed (default: never; UDP sessions: 30 s). */
  idleTimeoutMs?: number;
  /** How long connecting to the target may take (default 5000 ms). */
  connectTimeoutMs?: number;
  allow?: readonly Cidr[];
  deny?: readonly Cidr[];
  /** TCP legs: which API moves the bytes (`--io`, default `deno`). */
  io?: IoCore;
  trace?: boolean;
  hex?: boolean;
}

/** How the relay is driven: stopped by `signal`, observed through `onEvent`. */
export interface RunRelayContext {
  signal?: AbortSignal;
  onEvent?: EventSink<ServerEvent>;
  /**
   * This run is one of several event loops of one relay (lib/relay/worker.ts): it binds its listen address
   * with SO_REUSEPORT beside the others and numbers and counts its pairs in these shared cells.
   */
  shared?: Int32Array;
  /** When the relay started, in milliseconds since the epoch (a worker times its trace from the main thread's start). */
  startedAt?: number;
}

/** Why the target could not be had, in one line: `cannot connect to 127.0.0.1:1: connection refused`. */
function targetFailure(err: unknown, target: string, connecting: AbortSignal): string {
  if (connecting.aborted) return `cannot connect to ${target}: no answer within the --connect-timeout`;
  // A connect error's advice is for a person typing a client command; the reason alone fits a log line.
  if (err instanceof SockkitError) return err.message.replace(/^(cannot connect to [^:]+:.*?) \(.*\)$/, "$1");
  return `cannot connect to ${target}: ${networkReason(err)}`;
}

/** The default limit for connecting to the target. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;

/**
 * Refuses the combinations a relay cannot carry faithfully: a stream to datagrams or back, since datagram
 * boundaries would be lost (or invented).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.throws(
 *   () =>
 *     checkRelayPair({ transport: "tcp", hostname: "0.0.0.0", port: 1 }, { transport: "udp", hostname: "::1", port: 2 }),
 *   /cannot relay TCP to UDP/,
 * );
 * ```
 */
export function checkRelayPair(listen: Endpoint, target: Endpoint): void {
  if (isStream(listen) !== isStream(target)) {
    throw new UsageError(
      `cannot relay ${TRANSPORT_LABELS[listen.transport]} to ${TRANSPORT_LABELS[target.transport]}: ` +
        "a byte stream has no datagram boundaries to keep (relay streams to streams, or UDP to UDP)",
    );
  }
}

/**
 * Runs a relay until `signal` aborts, then stops accepting, lets pairs finish for `graceMs`, closes the rest
 * and resolves to a summary (`bytes`: both directions together; `messages`: pairs relayed).
 *
 * @example
 * ```ts
 * const ac = new AbortController();
 * const done = runRelay({
 *   listen: { transport: "tcp", hostname: "127.0.0.1", port: 0 },
 *   target: { transport: "tcp", hostname: "127.0.0.1", port: 1234 },
 * }, { signal: ac.signal, onEvent: console.log });
 * ac.abort();
 * await done;
 * ```
 */
export async function runRelay(opts: RelayOptions, ctx: RunRelayContext = {}): Promise<ServerSummary> {
  checkRelayPair(opts.listen, opts.target);
  if (opts.listen.transport === "udp" && opts.target.transport === "udp") {
    return await runUdpRelay({ ...opts, listen: opts.listen, target: opts.target }, ctx);
  }
  const listenEp = opts.listen as StreamEndpoint;
  const targetEp = opts.target as StreamEndpoint;
  const emit = ctx.onEvent ?? (() => {});
  const signal = ctx.signal ?? new AbortController().signal;
  const startedAt = ctx.startedAt === undefined ? performance.now() : ctx.startedAt - performance.timeOrigin;
  const tap = new WireTap(opts, emit, startedAt);
  const targetName = formatEndpoint(targetEp);
  const targetNote = transportNote(targetEp) ? ` over ${transportNote(targetEp)}` : "";
  const slots = new PairSlots(ctx.shared);
  const fullReason = () => `relay full (${plural(opts.maxConns ?? 0, "client")}, --max-conns)`;
  /** Why the guard rails turn a client away, or undefined. */
  const refusalOf = (addr: Deno.Addr): string | undefined =>
    accessRefusal(addr, opts) ??
      (opts.maxConns !== undefined && slots.active >= opts.maxConns ? fullReason() : undefined);

  // a WebSocket listener refuses what the guard rails refuse with an HTTP status, before the upgrade
  const admission = {
    check: (addr: Deno.Addr) => {
      const reason = refusalOf(addr);
      return reason === undefined ? undefined : { reason, status: /full/.test(reason) ? 503 : 403 };
    },
    refused: (addr: Deno.Addr, reason: string) => {
      totals.refused++;
      emit({ type: "refused", peer: peerLabel(addr, totals.clients + 1, endpointZone(listenEp)), reason });
    },
  };
  const listener = await listen(listenEp, emit, {
    admission,
    io: opts.io,
    reusePort: ctx.shared !== undefined,
  });
  const address = listenerAddress(listener, listenEp);
  tap.trace("bind", { address });
  tap.trace("listen", { address });
  const listenNote = transportNote(listenEp);
  const mode = `${listenNote ? `${listenNote} ` : ""}relay to ${targetName}${targetNote}`;
  emit({ type: "listening", address, mode });

  const totals = new RelayTotals(startedAt);
  const { relayed } = totals;
  const pairs = new Set<{ closeWith?: (reason: string) => void }>();
  const running = new Set<Promise<void>>();
  const stopAccepting = () => closeQuietly(listener);
  signal.addEventListener("abort", stopAccepting, { once: true });
  if (signal.aborted) stopAccepting();

  const servePair = async (accepted: Connection, id: number, peer: string) => {
    const begun = performance.now();
    const control: { closeWith?: (reason: string) => void } = {};
    pairs.add(control);
    const client = tap.wrap(accepted, `client ${peer}`);
    let result: PairResult = { up: 0, down: 0 };
    try {
      let upstream: Connection;
      const connecting = AbortSignal.any([
        AbortSignal.timeout(opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS),
        signal,
      ]);
      control.closeWith = () => closeQuietly(client);
      try {
        upstream = tap.wrap(await connect(targetEp, connecting, opts.io), `target ${targetName}`);
      } catch (err) {
        closeQuietly(client);
        result.reason = signal.aborted ? "relay shutting down" : targetFailure(err, targetName, connecting);
        return;
      }
      tap.trace("connect", { peer: `target ${targetName}` });
      emit({ type: "target", id, peer, target: targetName, connectMs: performance.now() - begun });
      const idle = opts.idleTimeoutMs
        ? new IdleTimer(opts.idleTimeoutMs, () => control.closeWith?.(idleReason(opts.idleTimeoutMs!)))
        : undefined;
      try {
        result = await relayPair(client, upstream, () => idle?.touch(), control);
      } finally {
        idle?.stop();
      }
    } finally {
      pairs.delete(control);
      slots.release();
      totals.messages++;
      relayed.up += result.up;
      relayed.down += result.down;
      emit({
        type: "pair",
        id,
        peer,
        target: targetName,
        up: result.up,
        down: result.down,
        durationMs: performance.now() - begun,
        active: slots.active,
        reason: result.reason,
      });
    }
  };

  await acceptLoop(listener, signal, emit, (accepted) => {
    const id = slots.nextId();
    const peer = peerLabel(accepted.remoteAddr, id, endpointZone(listenEp));
    tap.trace("accept", { address, peer });
    const refusal = accessRefusal(accepted.remoteAddr, opts) ??
      (slots.take(opts.maxConns) ? undefined : fullReason());
    if (refusal) {
      totals.refused++;
      emit({ type: "refused", peer, reason: refusal });
      return closeQuietly(accepted);
    }
    totals.clients++;
    emit({ type: "connect", id, peer, active: slots.active });
    const task = servePair(accepted, id, peer).finally(() => running.delete(task));
    running.add(task);
  });
  signal.removeEventListener("abort", stopAccepting);

  emit({ type: "stopping", active: pairs.size });
  const grace = new AbortController();
  const allDone = Promise.all(running).then(() => grace.abort());
  await sleep(opts.graceMs ?? 2000, grace.signal);
  for (const pair of pairs) pair.closeWith?.("relay shutting down");
  await allDone;

  return totals.summarize(address, emit);
}
