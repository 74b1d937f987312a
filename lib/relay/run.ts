/**
 * `sockkit relay LISTEN TARGET`: every client that connects to LISTEN gets its own connection to TARGET, and
 * bytes flow both ways (lib/relay/pair.ts) until both sides are done. Any stream listener (TCP, TLS, Unix)
 * with any stream target; UDP to UDP with a session per source (lib/relay/udp.ts).
 * @module
 */
import { RelayTotals } from "../relay/totals.ts";
import { acceptLoop } from "../server/accept.ts";
import { isStream } from "../endpoints/addressspec.ts";
import type { Cidr } from "../endpoints/cidr.ts";
import { networkReason, SockkitError, UsageError } from "../core/errors.ts";
import type { EventSink, RelayEvent, ServerEvent, ServerSummary } from "../report/events.ts";
import { plural } from "../core/format.ts";
import { accessRefusal, idleReason, IdleTimer } from "../server/guards.ts";
import { closeQuietly, sleep } from "../core/io.ts";
import { type PairResult, relayPair } from "../relay/pair.ts";
import { runUdpRelay } from "../relay/udp.ts";
import { madeEnds, PairSlots } from "../relay/slots.ts";
import { checkRelayLoop, fromThisMachine, leadsBack } from "../relay/loops.ts";
import { heldBackNote, limited } from "../core/ratelimit.ts";
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
} from "../transports/dispatch.ts";
import { WireTap } from "../server/wire.ts";

/** What `runRelay` needs; main.ts fills in the defaults. */
export interface RelayOptions {
  /** Where clients connect: TCP, TLS (terminated here), a Unix socket, or UDP. */
  listen: Endpoint;
  /** Where each client's own connection goes: TCP, TLS (originated here, verified), a Unix socket, or UDP. */
  target: Endpoint;
  /** On shutdown, how long pairs may finish (default 2000 ms). */
  graceMs?: number;
  /** Clients relayed at once; one more is closed at once (default DEFAULT_RELAY_MAX_CONNS; UDP: 1024 sessions). */
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

/** Pairs a stream relay carries at once without `--max-conns`: one client can never make unbounded work. */
export const DEFAULT_RELAY_MAX_CONNS = 1024;

/** Lines a second for a recurring failure (refused clients, an unreachable target); the rest are counted. */
const FAILURE_LINES_PER_SECOND = 10;
/** A warning that the relay is full, or in a loop, is said at most once in this many seconds. */
const WARNING_EVERY_S = 10;
/**
 * How long a client from this machine may wait to be recognised as one of the relay's own connections to
 * its target, while such connections are under way (it can be accepted before the loop that made it knows).
 */
const OWN_CONNECTION_WAIT_MS = 25;

/**
 * Refuses the combinations a relay cannot carry faithfully: a stream to datagrams or back, since datagram
 * boundaries would be lost (or invented); and a target that is the relay's own listen address
 * (lib/relay/loops.ts).
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
  checkRelayLoop(listen, target);
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
  const maxConns = opts.maxConns ?? DEFAULT_RELAY_MAX_CONNS;
  /** Says a warning about the whole relay, at most once in WARNING_EVERY_S over all its event loops. */
  const warnRelay = (kind: "full" | "loop", message: string) => {
    if (slots.mayWarn(kind, WARNING_EVERY_S)) emit({ type: "warning", message });
  };
  const loopReason = `loop: the target ${targetName} leads back to this relay`;
  const loopAdvice = `${loopReason}: pairs to it are cut (give the address of another server as the target)`;
  /** The reason a full relay gives, and once in a while a warning that says what to do. */
  const fullReason = () => {
    warnRelay(
      "full",
      `relay full: ${plural(maxConns, "pair")} open (--max-conns${
        opts.maxConns === undefined ? `, default ${DEFAULT_RELAY_MAX_CONNS}` : ""
      }): new clients are turned away until pairs end (raise --max-conns for more; if one client made them, the ` +
        "target leads back to this relay through another relay or a port forward)",
    );
    return `relay full (${plural(maxConns, "client")}, --max-conns)`;
  };
  /** A recurring refusal is logged a few times a second; the rest are counted in the summary. */
  const refused = limited<{ peer: string; reason: string }>(
    FAILURE_LINES_PER_SECOND,
    ({ peer, reason }, heldBack) => emit({ type: "refused", peer, reason: reason + heldBackNote(heldBack) }),
  );
  /** Why the guard rails turn a client away, or undefined. */
  const refusalOf = (addr: Deno.Addr): string | undefined =>
    accessRefusal(addr, opts) ?? (slots.active >= maxConns ? fullReason() : undefined);

  // a WebSocket listener refuses what the guard rails refuse with an HTTP status, before the upgrade
  const admission = {
    check: (addr: Deno.Addr) => {
      const reason = refusalOf(addr);
      return reason === undefined ? undefined : { reason, status: /full/.test(reason) ? 503 : 403 };
    },
    refused: (addr: Deno.Addr, reason: string) => {
      totals.refused++;
      refused({ peer: peerLabel(addr, totals.clients + 1, endpointZone(listenEp)), reason });
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
  const proxy = "proxy" in targetEp && targetEp.proxy ? ` through ${targetEp.proxy.shown}` : "";
  const mode = `${listenNote ? `${listenNote} ` : ""}relay to ${targetName}${targetNote}${proxy}`;
  emit({ type: "listening", address, mode });

  const totals = new RelayTotals(startedAt);
  const { relayed } = totals;
  const pairs = new Set<{ closeWith?: (reason: string) => void }>();
  const running = new Set<Promise<void>>();
  const stopAccepting = () => closeQuietly(listener);
  signal.addEventListener("abort", stopAccepting, { once: true });
  if (signal.aborted) stopAccepting();

  /** A pair that could not reach its target is logged a few times a second, like a refusal. */
  const unreachedPair = limited<RelayEvent & { type: "pair" }>(
    FAILURE_LINES_PER_SECOND,
    (event, heldBack) => emit({ ...event, reason: event.reason + heldBackNote(heldBack) }),
  );

  /** Connects to the target for one pair, entering the connection among the relay's own (see `isOwn`). */
  const connectTarget = async (connecting: AbortSignal): Promise<Connection> => {
    slots.connecting();
    let made: Connection | undefined;
    try {
      made = await connect(targetEp, connecting, opts.io);
      return made;
    } finally {
      slots.connected(made);
    }
  };

  const servePair = async (accepted: Connection, id: number, peer: string) => {
    const begun = performance.now();
    const control: { closeWith?: (reason: string) => void } = {};
    pairs.add(control);
    const client = tap.wrap(accepted, `client ${peer}`);
    let result: PairResult = { up: 0, down: 0 };
    let unreached = false;
    let made: Connection | undefined;
    try {
      const connecting = AbortSignal.any([
        AbortSignal.timeout(opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS),
        signal,
      ]);
      control.closeWith = () => closeQuietly(client);
      try {
        made = await connectTarget(connecting);
      } catch (err) {
        closeQuietly(client);
        unreached = !signal.aborted;
        result.reason = signal.aborted ? "relay shutting down" : targetFailure(err, targetName, connecting);
        return;
      }
      if (leadsBack(listener.addr, made)) {
        // what connected back is refused where it arrives (`isOwn`); this pair ends here
        slots.looped(made);
        closeQuietly(made);
        closeQuietly(client);
        warnRelay("loop", loopAdvice);
        unreached = true;
        result.reason = loopReason;
        return;
      }
      const upstream = tap.wrap(made, `target ${targetName}`);
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
      if (slots.hasLooped(made)) result.reason = loopReason;
    } finally {
      if (made) slots.forget(made);
      pairs.delete(control);
      const active = slots.release();
      totals.messages++;
      relayed.up += result.up;
      relayed.down += result.down;
      (unreached ? unreachedPair : emit)({
        type: "pair",
        id,
        peer,
        target: targetName,
        up: result.up,
        down: result.down,
        durationMs: performance.now() - begun,
        active,
        reason: result.reason,
      });
    }
  };

  /**
   * Relays a client that has its slot, unless it is one of this relay's own connections to its target come
   * back (a loop: then it is refused, and the pair that made it reports the loop).
   */
  const admit = async (accepted: Connection, id: number, peer: string, active: number) => {
    if (fromThisMachine(accepted) && await slots.isOwn(accepted, OWN_CONNECTION_WAIT_MS)) {
      slots.looped(madeEnds(accepted));
      slots.release();
      totals.refused++;
      closeQuietly(accepted);
      warnRelay("loop", loopAdvice);
      return refused({ peer, reason: loopReason });
    }
    totals.clients++;
    emit({ type: "connect", id, peer, active });
    await servePair(accepted, id, peer);
  };

  await acceptLoop(listener, signal, emit, (accepted) => {
    const id = slots.nextId();
    const peer = peerLabel(accepted.remoteAddr, id, endpointZone(listenEp));
    tap.trace("accept", { address, peer });
    const denied = accessRefusal(accepted.remoteAddr, opts);
    // the slot is taken at once, so two loops cannot both let in the last client; `active` counts it
    const active = denied ? 0 : slots.take(maxConns);
    if (!active) {
      totals.refused++;
      refused({ peer, reason: denied ?? fullReason() });
      return closeQuietly(accepted);
    }
    const task = admit(accepted, id, peer, active).finally(() => running.delete(task));
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
