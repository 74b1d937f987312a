/**
 * What every event loop of one relay shares besides the pair numbers and the open-pair count of
 * lib/loops/slots.ts: when a relay-wide warning was last said, and the local addresses of the relay's own
 * connections to its target, so a loop tells one of them arriving at the relay's own listener
 * (lib/relay/loops.ts). All of it in integers over one `SharedArrayBuffer`, changed with `Atomics`.
 * @module
 */
import { SharedSlots } from "../loops/slots.ts";
import { normalHost } from "./loops.ts";

/** The cells after SharedSlots' two (the last pair number and the pairs open). */
/** Connections to the target under way, not yet in the table below. */
const CONNECTING = 2;
/** When each warning was last said, in seconds of the clock (`WARNINGS` cells, one per kind). */
const WARNED = 3;
/** The warnings said once for the whole relay, however many event loops see their cause. */
const WARNINGS = ["full", "loop"] as const;
/**
 * One cell per local port: a hash of the addresses of the relay's own connection from that port (its local
 * address and where it goes: a port can serve connections to different places), or 0.
 */
const PORTS = WARNED + WARNINGS.length;
const CELLS = PORTS + 65536;

/** What a cell of the port table says besides the address: a connection open, or found to loop. */
const OWN = 1;
const LOOPED = 2;

/** The two ends of a connection the relay made: from `localAddr` to `remoteAddr`. */
export interface Ends {
  localAddr: Deno.Addr;
  remoteAddr: Deno.Addr;
}

/** The ends of the connection the relay made that arrived as `accepted`, seen from the relay's side. */
export function madeEnds(accepted: Ends): Ends {
  return { localAddr: accepted.remoteAddr, remoteAddr: accepted.localAddr };
}

/** FNV-1a of text, in 30 bits (two bits of each cell say OWN or LOOPED). */
function hash30(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h & 0x3fffffff;
}

/** The cell and cell value of an IP connection, or undefined (a Unix socket). */
function keyOf(
  { localAddr: l, remoteAddr: r }: Ends,
  state: number,
): { port: number; value: number } | undefined {
  if (!("hostname" in l) || !("hostname" in r)) return undefined;
  return {
    port: l.port,
    value: (hash30(`${normalHost(l.hostname)} ${normalHost(r.hostname)} ${r.port}`) << 2) | state,
  };
}

/**
 * The relay's pair ids, open-pair count and own target connections.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const slots = new PairSlots();
 * assert.equal(slots.nextId(), 1);
 * assert.equal(slots.take(1), 1); // one open, this one
 * assert.equal(slots.take(1), 0); // full
 * slots.release();
 * assert.equal(slots.active, 0);
 * ```
 */
export class PairSlots extends SharedSlots {
  /** Pass the same shared cells (`PairSlots.shared()`) to every event loop of one relay. */
  constructor(cells: Int32Array = PairSlots.shared()) {
    super(cells);
  }

  /** Cells that several threads can share, sized for the port table. */
  static override shared(): Int32Array {
    return new Int32Array(new SharedArrayBuffer(CELLS * Int32Array.BYTES_PER_ELEMENT));
  }

  /**
   * True when the warning `kind` may be said now: it was not said, by any event loop of the relay, within
   * `everyS` seconds.
   */
  mayWarn(kind: (typeof WARNINGS)[number], everyS: number): boolean {
    const cell = WARNED + WARNINGS.indexOf(kind);
    const now = Math.floor(Date.now() / 1000) | 0;
    const last = Atomics.load(this.cells, cell);
    if (last !== 0 && now - last < everyS) return false;
    return Atomics.compareExchange(this.cells, cell, last, now) === last;
  }

  /** A connection to the target is being made (`connected` follows, whatever the outcome). */
  connecting(): void {
    Atomics.add(this.cells, CONNECTING, 1);
  }

  /**
   * The connection `connecting` announced is made (`made`), or failed (undefined): it is in the table
   * until `forget`, and whoever waits in `isOwn` looks again.
   */
  connected(made?: Ends): void {
    const key = made && keyOf(made, OWN);
    if (key) Atomics.store(this.cells, PORTS + key.port, key.value);
    Atomics.sub(this.cells, CONNECTING, 1);
    Atomics.notify(this.cells, CONNECTING);
  }

  /** Marks the own connection `made` as one that came back to this relay. */
  looped(made: Ends): void {
    const key = keyOf(made, LOOPED);
    if (key) Atomics.store(this.cells, PORTS + key.port, key.value);
  }

  /** True when the own connection `made` was found to come back to this relay. */
  hasLooped(made: Ends): boolean {
    const key = keyOf(made, LOOPED);
    return key !== undefined && Atomics.load(this.cells, PORTS + key.port) === key.value;
  }

  /**
   * The own connection `made` is closed. One found to loop stays marked: the connection it made arrive may
   * not be accepted yet, and only a loop can come from the same port to the same place again.
   */
  forget(made: Ends): void {
    const key = keyOf(made, OWN);
    if (key) Atomics.compareExchange(this.cells, PORTS + key.port, key.value, 0);
  }

  /**
   * True when the client `accepted` is one of this relay's own connections to its target. A connection may
   * be accepted before the event loop that made it has entered it: while connections are under way, this
   * waits (up to `waitMs`) for them to be entered.
   */
  async isOwn(accepted: Ends, waitMs: number): Promise<boolean> {
    const key = keyOf(madeEnds(accepted), OWN);
    if (!key) return false;
    const found = () => ((Atomics.load(this.cells, PORTS + key.port) >>> 2) === (key.value >>> 2));
    const deadline = performance.now() + waitMs;
    for (;;) {
      if (found()) return true;
      const under = Atomics.load(this.cells, CONNECTING);
      const left = deadline - performance.now();
      if (under <= 0 || left <= 0) return false;
      const waiting = Atomics.waitAsync(this.cells, CONNECTING, under, left);
      if (!waiting.async) continue;
      // a timer of our own keeps the event loop alive while V8 waits
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([waiting.value, new Promise((resolve) => timer = setTimeout(resolve, left))]);
      clearTimeout(timer);
    }
  }
}
