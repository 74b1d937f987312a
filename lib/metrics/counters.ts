/**
 * The server's running totals: what its summary line reports and what `/metrics` exposes, kept in one place
 * as plain numbers (the hot path only adds to them; `/metrics` reads them when it is asked).
 * @module
 */

/** Why the server turned a connection away or cut it off, as `sockkit_refused_total` labels it. */
export type RefusalKind = "max-conns" | "deny" | "handshake" | "too-slow" | "idle";

/** Every refusal kind, in the order `/metrics` lists them. */
export const REFUSAL_KINDS: readonly RefusalKind[] = ["max-conns", "deny", "handshake", "too-slow", "idle"];

/** How a client reached the server, as `sockkit_connections_active` labels it. */
export type ConnectionTransport = "tcp" | "tls" | "unix" | "udp" | "ws";

/** What fan-out modes count: bytes waiting in their queues, and the clients cut off for falling behind. */
export interface FanOutCounters {
  /** Bytes queued for clients and not yet handed to the OS, over every client's queue. */
  queuedBytes: number;
  /** Clients disconnected because more than `--max-queue` waited for them. */
  slowConsumerDisconnects: number;
}

/**
 * One server run's counters. The summary line is built from them, so it and `/metrics` always agree.
 *
 * @example
 * ```ts
 * const counters = new ServerCounters();
 * counters.connected("tcp");
 * counters.receivedBytes += 5;
 * counters.disconnected("tcp");
 * counters.connectionsTotal; // 1
 * ```
 */
export class ServerCounters implements FanOutCounters {
  /** Clients connected since start (UDP: peers seen). */
  connectionsTotal = 0;
  /** Reads that returned data (UDP: datagrams received). */
  messagesReceived = 0;
  /** Bytes received from clients. */
  receivedBytes = 0;
  /** Bytes handed to the OS for clients. */
  sentBytes = 0;
  queuedBytes = 0;
  slowConsumerDisconnects = 0;
  /** UDP: replies not sent because a source went over `--udp-rate`. */
  udpDropped = 0;
  /**
   * Connections turned away or cut off, by why, as counted where it happens; `refusedOf` adds what is
   * counted elsewhere (failed TLS handshakes, fan-out clients cut off for being too slow).
   */
  readonly refused: Record<RefusalKind, number> = {
    "max-conns": 0,
    deny: 0,
    handshake: 0,
    "too-slow": 0,
    idle: 0,
  };
  /** Clients connected now, by transport. */
  readonly active: Record<ConnectionTransport, number> = { tcp: 0, tls: 0, unix: 0, udp: 0, ws: 0 };
  /** Where failed TLS handshakes are counted (the listener counts them itself). */
  #handshakeSource: { readonly failedHandshakes?: number } = {};

  /** A client connected over `transport`. */
  connected(transport: ConnectionTransport): void {
    this.connectionsTotal++;
    this.active[transport]++;
  }

  /** A client that connected over `transport` is gone. */
  disconnected(transport: ConnectionTransport): void {
    this.active[transport]--;
  }

  /** Connections the guard rails closed at once (max-conns, allow/deny): the summary's "refused". */
  get refusedAtAccept(): number {
    return this.refused["max-conns"] + this.refused.deny;
  }

  /** Counts `listener`'s failed handshakes (a TLS listener) as refused, reason `handshake`. */
  countHandshakesOf(listener: { readonly failedHandshakes?: number }): void {
    this.#handshakeSource = listener;
  }

  /** Connections refused or cut off for `kind`, as `/metrics` reports them. */
  refusedOf(kind: RefusalKind): number {
    if (kind === "handshake") return this.refused.handshake + (this.#handshakeSource.failedHandshakes ?? 0);
    if (kind === "too-slow") return this.refused["too-slow"] + this.slowConsumerDisconnects;
    return this.refused[kind];
  }
}
