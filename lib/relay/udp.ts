/**
 * UDP to UDP relaying: each source address gets a session with its own upstream socket, so the target's
 * replies go back to the source they answer. A session quiet for the idle timeout expires (its socket is
 * closed); sessions are capped so a flood of sources cannot hold every port.
 * @module
 */
import { RelayTotals } from "./totals.ts";
import { formatAddr } from "../endpoints/address.ts";
import type { EventSink, ServerEvent, ServerSummary } from "../report/events.ts";
import { networkReason, toNetworkError } from "../core/errors.ts";
import { formatDuration } from "../core/duration.ts";
import { accessRefusal, type AccessRules } from "../server/guards.ts";
import { closeQuietly, isClosedError } from "../core/io.ts";
import { limitedLog } from "../core/ratelimit.ts";
import { formatEndpoint, type UdpEndpoint } from "../transports/dispatch.ts";
import { DEFAULT_UDP_IDLE_MS, UDP_MAX_PAYLOAD } from "../transports/udp/client.ts";

/** Sessions at once when `--max-conns` is not given. */
export const DEFAULT_UDP_SESSIONS = 1024;
/** Refusal lines logged per second at most. */
const REFUSAL_LINES_PER_SECOND = 5;

/** What the UDP relay needs. */
export interface UdpRelayOptions extends AccessRules {
  listen: UdpEndpoint;
  target: UdpEndpoint;
  maxConns?: number;
  idleTimeoutMs?: number;
}

interface Session {
  id: number;
  peer: string;
  addr: Deno.NetAddr;
  upstream: Deno.DatagramConn;
  up: number;
  down: number;
  startedAt: number;
  lastAt: number;
}

/** The wildcard address of the family a target needs, for a session's upstream socket. */
function upstreamHost(target: UdpEndpoint): string {
  return target.hostname.includes(":") ? "::" : "0.0.0.0";
}

/** Runs the UDP relay until `signal` aborts; resolves to a summary of sessions and bytes each way. */
export async function runUdpRelay(
  opts: UdpRelayOptions,
  ctx: { signal?: AbortSignal; onEvent?: EventSink<ServerEvent> },
): Promise<ServerSummary> {
  const emit = ctx.onEvent ?? (() => {});
  const signal = ctx.signal ?? new AbortController().signal;
  const startedAt = performance.now();
  const idleMs = opts.idleTimeoutMs ?? DEFAULT_UDP_IDLE_MS;
  const maxSessions = opts.maxConns ?? DEFAULT_UDP_SESSIONS;
  const targetName = formatEndpoint(opts.target);
  const targetAddr: Deno.NetAddr = {
    transport: "udp",
    hostname: opts.target.hostname,
    port: opts.target.port,
  };
  let socket: Deno.DatagramConn;
  try {
    socket = Deno.listenDatagram({
      transport: "udp",
      hostname: opts.listen.hostname,
      port: opts.listen.port,
    });
  } catch (err) {
    throw toNetworkError(err, "listen", formatEndpoint(opts.listen));
  }
  const address = formatAddr(socket.addr);
  emit({ type: "listening", address, mode: `UDP relay to ${targetName}` });

  const sessions = new Map<string, Session>();
  const totals = new RelayTotals(startedAt);
  const { relayed } = totals;
  const refusedLine = limitedLog(REFUSAL_LINES_PER_SECOND, (message) => emit({ type: "warning", message }));

  const end = (s: Session, reason?: string) => {
    if (sessions.get(s.peer) !== s) return;
    sessions.delete(s.peer);
    closeQuietly(s.upstream);
    relayed.up += s.up;
    relayed.down += s.down;
    emit({
      type: "pair",
      id: s.id,
      peer: s.peer,
      target: targetName,
      up: s.up,
      down: s.down,
      durationMs: performance.now() - s.startedAt,
      active: sessions.size,
      reason,
    });
  };

  const replies = async (s: Session) => {
    try {
      for await (const [data, from] of s.upstream) {
        // Only the target's datagrams are relayed back: anything else reaching this port is ignored.
        const f = from as Deno.NetAddr;
        if (f.port !== targetAddr.port) continue;
        s.lastAt = performance.now();
        s.down += data.length;
        await socket.send(data, s.addr);
      }
    } catch (err) {
      if (!isClosedError(err)) end(s, networkReason(err));
    }
  };

  const sweep = setInterval(() => {
    const now = performance.now();
    for (const s of sessions.values()) {
      if (now - s.lastAt >= idleMs) end(s, `idle timeout: nothing either way for ${formatDuration(idleMs)}`);
    }
  }, Math.min(1000, Math.max(50, idleMs / 4)));
  const stop = () => closeQuietly(socket);
  signal.addEventListener("abort", stop, { once: true });
  if (signal.aborted) stop();

  try {
    for await (const [data, from] of socket) {
      const addr = from as Deno.NetAddr;
      const peer = formatAddr(addr);
      let s = sessions.get(peer);
      if (!s) {
        const refusal = accessRefusal(addr, opts) ??
          (sessions.size >= maxSessions ? `relay full (${maxSessions} sessions, --max-conns)` : undefined);
        if (refusal) {
          totals.refused++;
          refusedLine(`${peer} refused: ${refusal}`);
          continue;
        }
        let upstream: Deno.DatagramConn;
        try {
          upstream = Deno.listenDatagram({ transport: "udp", hostname: upstreamHost(opts.target), port: 0 });
        } catch (err) {
          refusedLine(`${peer}: no socket for its session: ${networkReason(err)}`);
          continue;
        }
        const now = performance.now();
        s = { id: ++totals.clients, peer, addr, upstream, up: 0, down: 0, startedAt: now, lastAt: now };
        sessions.set(peer, s);
        emit({ type: "connect", id: s.id, peer, active: sessions.size });
        void replies(s);
      }
      s.lastAt = performance.now();
      totals.messages++;
      try {
        await s.upstream.send(data.subarray(0, UDP_MAX_PAYLOAD), targetAddr);
        s.up += data.length;
      } catch (err) {
        end(s, `target ${targetName}: ${networkReason(err)}`);
      }
    }
  } catch (err) {
    if (!isClosedError(err)) throw err;
  } finally {
    clearInterval(sweep);
    signal.removeEventListener("abort", stop);
    closeQuietly(socket);
  }
  emit({ type: "stopping", active: sessions.size });
  for (const s of [...sessions.values()]) end(s, "relay shutting down");
  return totals.summarize(address, emit);
}
