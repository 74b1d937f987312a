/**
 * The server's running totals: what its summary line reports and what `/metrics` exposes, kept in one place
 * as plain numbers in a `Float64Array` row (the hot path only adds to them; `/metrics` reads them when it is
 * asked). A server on several event loops gives each loop its own row of one `SharedArrayBuffer`, so any
 * loop can read the whole server's totals at once (`SummedCounters`), without a message between loops.
 * @module
 */
import { TRANSPORTS } from "../transports/mod.ts";
import type { TransportName } from "../transports/types.ts";

import type { ServerSummary } from "../report/events.ts";

/** Why the server turned a connection away or cut it off, as `sockkit_refused_total` labels it. */
export type RefusalKind = "max-conns" | "deny" | "handshake" | "too-slow" | "idle";

/** Every refusal kind, in the order `/metrics` lists them. */
export const REFUSAL_KINDS: readonly RefusalKind[] = ["max-conns", "deny", "handshake", "too-slow", "idle"];

/** How a client reached the server, as `sockkit_connections_active` labels it: its transport's name. */
export type ConnectionTransport = TransportName;

/** Every way a client reaches the server, in the order `/metrics` lists them: the transport registry's. */
export const CONNECTION_TRANSPORTS: readonly ConnectionTransport[] = TRANSPORTS.map((t) => t.name);

/** What fan-out modes count: bytes waiting in their queues, and the clients cut off for falling behind. */
export interface FanOutCounters {
  /** Bytes queued for clients and not yet handed to the OS, over every client's queue. */
  queuedBytes: number;
  /** Clients disconnected because more than `--max-queue` waited for them. */
  slowConsumerDisconnects: number;
  /** Messages from the other instances of a shared room (`--hub`) dropped: malformed, or too large. */
  hubDropped: number;
}

/** What `/metrics` and the summary read: one loop's counters, or every loop's added up. */
export interface CounterReadings {
  /** Clients connected since start (UDP: peers seen). */
  readonly connectionsTotal: number;
  /** Reads that returned data (UDP: datagrams received). */
  readonly messagesReceived: number;
  /** Bytes received from clients. */
  readonly receivedBytes: number;
  /** Bytes handed to the OS for clients. */
  readonly sentBytes: number;
  /** Bytes waiting in fan-out queues. */
  readonly queuedBytes: number;
  /** Fan-out clients cut off for falling behind. */
  readonly slowConsumerDisconnects: number;
  /** UDP: replies not sent because a source went over `--udp-rate`. */
  readonly udpDropped: number;
  /** Messages from the other instances of a `--hub` room dropped: malformed, or too large. */
  readonly hubDropped: number;
  /** Clients connected now, by transport. */
  activeOf(transport: ConnectionTransport): number;
  /** Connections refused or cut off for `kind`, as `/metrics` reports them. */
  refusedOf(kind: RefusalKind): number;
  /** Connections the guard rails closed at once (max-conns, allow/deny): the summary's "refused". */
  readonly refusedAtAccept: number;
}

const SCALARS = [
  "connectionsTotal",
  "messagesReceived",
  "receivedBytes",
  "sentBytes",
  "queuedBytes",
  "slowConsumerDisconnects",
  "udpDropped",
  "hubDropped",
] as const;
const REFUSED_AT = SCALARS.length;
const ACTIVE_AT = REFUSED_AT + REFUSAL_KINDS.length;
/** The numbers in one row. */
const ROW = ACTIVE_AT + CONNECTION_TRANSPORTS.length;

/** A record whose keys read and write cells of `row` from `at` on (so `refused.idle++` works as on a plain object). */
function cellsRecord<K extends string>(row: Float64Array, at: number, keys: readonly K[]): Record<K, number> {
  const record = {} as Record<K, number>;
  keys.forEach((key, i) =>
    Object.defineProperty(record, key, {
      enumerable: true,
      get: () => row[at + i],
      set: (v: number) => {
        row[at + i] = v;
      },
    })
  );
  return record;
}

/**
 * One event loop's counters (a server on one loop: the server's). The summary line is built from them, so it
 * and `/metrics` always agree.
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
export class ServerCounters implements FanOutCounters, CounterReadings {
  /** Rows for `loops` event loops in one buffer they all can read: loop i's counters are `rowOf(cells, i)`. */
  static shared(loops: number): Float64Array {
    return new Float64Array(new SharedArrayBuffer(loops * ROW * Float64Array.BYTES_PER_ELEMENT));
  }

  /** Loop `index`'s row of `cells`. */
  static rowOf(cells: Float64Array, index: number): Float64Array {
    return cells.subarray(index * ROW, (index + 1) * ROW);
  }

  /** The row's cells, one per counter. */
  readonly row: Float64Array;
  /**
   * Connections turned away or cut off, by why, as counted where it happens; `refusedOf` adds the fan-out
   * clients cut off for being too slow.
   */
  readonly refused: Record<RefusalKind, number>;
  /** Clients connected now, by transport. */
  readonly active: Record<ConnectionTransport, number>;

  /** `row`: this loop's cells (default: a row of its own). */
  constructor(row: Float64Array = new Float64Array(ROW)) {
    this.row = row;
    this.refused = cellsRecord(row, REFUSED_AT, REFUSAL_KINDS);
    this.active = cellsRecord(row, ACTIVE_AT, CONNECTION_TRANSPORTS);
  }

  /** Clients connected since start (UDP: peers seen). */
  get connectionsTotal(): number {
    return this.row[0];
  }
  set connectionsTotal(v: number) {
    this.row[0] = v;
  }
  /** Reads that returned data (UDP: datagrams received). */
  get messagesReceived(): number {
    return this.row[1];
  }
  set messagesReceived(v: number) {
    this.row[1] = v;
  }
  /** Bytes received from clients. */
  get receivedBytes(): number {
    return this.row[2];
  }
  set receivedBytes(v: number) {
    this.row[2] = v;
  }
  /** Bytes handed to the OS for clients. */
  get sentBytes(): number {
    return this.row[3];
  }
  set sentBytes(v: number) {
    this.row[3] = v;
  }
  /** Bytes waiting in fan-out queues. */
  get queuedBytes(): number {
    return this.row[4];
  }
  set queuedBytes(v: number) {
    this.row[4] = v;
  }
  /** Fan-out clients cut off for falling behind. */
  get slowConsumerDisconnects(): number {
    return this.row[5];
  }
  set slowConsumerDisconnects(v: number) {
    this.row[5] = v;
  }
  /** UDP: replies not sent because a source went over `--udp-rate`. */
  get udpDropped(): number {
    return this.row[6];
  }
  set udpDropped(v: number) {
    this.row[6] = v;
  }
  /** Messages from the other instances of a `--hub` room dropped. */
  get hubDropped(): number {
    return this.row[7];
  }
  set hubDropped(v: number) {
    this.row[7] = v;
  }

  /** A client connected over `transport`. */
  connected(transport: ConnectionTransport): void {
    this.connectionsTotal++;
    this.active[transport]++;
  }

  /** A client that connected over `transport` is gone. */
  disconnected(transport: ConnectionTransport): void {
    this.active[transport]--;
  }

  activeOf(transport: ConnectionTransport): number {
    return this.active[transport];
  }

  get refusedAtAccept(): number {
    return this.refused["max-conns"] + this.refused.deny;
  }

  refusedOf(kind: RefusalKind): number {
    if (kind === "too-slow") return this.refused["too-slow"] + this.slowConsumerDisconnects;
    return this.refused[kind];
  }
}

/**
 * Every loop's counters added up, read from the rows of `ServerCounters.shared(loops)` as they are now.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const cells = ServerCounters.shared(2);
 * new ServerCounters(ServerCounters.rowOf(cells, 0)).connected("tcp");
 * new ServerCounters(ServerCounters.rowOf(cells, 1)).connected("tls");
 * const total = new SummedCounters(cells, 2);
 * assert.equal(total.connectionsTotal, 2);
 * assert.equal(total.activeOf("tls"), 1);
 * ```
 */
export class SummedCounters implements CounterReadings {
  readonly #loops: ServerCounters[];

  constructor(cells: Float64Array, loops: number) {
    this.#loops = Array.from({ length: loops }, (_, i) => new ServerCounters(ServerCounters.rowOf(cells, i)));
  }

  #sum(read: (c: ServerCounters) => number): number {
    let total = 0;
    for (const c of this.#loops) total += read(c);
    return total;
  }

  get connectionsTotal(): number {
    return this.#sum((c) => c.connectionsTotal);
  }
  get messagesReceived(): number {
    return this.#sum((c) => c.messagesReceived);
  }
  get receivedBytes(): number {
    return this.#sum((c) => c.receivedBytes);
  }
  get sentBytes(): number {
    return this.#sum((c) => c.sentBytes);
  }
  get queuedBytes(): number {
    return this.#sum((c) => c.queuedBytes);
  }
  get slowConsumerDisconnects(): number {
    return this.#sum((c) => c.slowConsumerDisconnects);
  }
  get udpDropped(): number {
    return this.#sum((c) => c.udpDropped);
  }
  get hubDropped(): number {
    return this.#sum((c) => c.hubDropped);
  }
  get refusedAtAccept(): number {
    return this.#sum((c) => c.refusedAtAccept);
  }
  activeOf(transport: ConnectionTransport): number {
    return this.#sum((c) => c.activeOf(transport));
  }
  refusedOf(kind: RefusalKind): number {
    return this.#sum((c) => c.refusedOf(kind));
  }
}

/**
 * A server's summary from its counters: clients served, messages and bytes received, refused at once.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const counters = new ServerCounters();
 * counters.connected("tcp");
 * assert.equal(summaryOf(counters, "127.0.0.1:1234", 5).clients, 1);
 * ```
 */
export function summaryOf(counters: CounterReadings, address: string, uptimeMs: number): ServerSummary {
  return {
    address,
    clients: counters.connectionsTotal,
    messages: counters.messagesReceived,
    bytes: counters.receivedBytes,
    refused: counters.refusedAtAccept,
    uptimeMs,
  };
}
