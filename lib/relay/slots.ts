/**
 * Pair numbers and the count of open pairs for one relay, kept in two integers that every event loop of the
 * relay can share (an `Int32Array` over a `SharedArrayBuffer`, changed with `Atomics`): ids stay unique and
 * `--max-conns` holds for the whole relay, however many workers serve it.
 * @module
 */

/**
 * The relay's pair ids and open-pair count.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const slots = new PairSlots();
 * assert.equal(slots.nextId(), 1);
 * assert.equal(slots.take(1), true);
 * assert.equal(slots.take(1), false); // full
 * slots.release();
 * assert.equal(slots.active, 0);
 * ```
 */
export class PairSlots {
  /** `cells`: [last id given, pairs open]; pass the same shared cells to every event loop of one relay. */
  constructor(readonly cells: Int32Array = new Int32Array(2)) {}

  /** Cells that several threads can share. */
  static shared(): Int32Array {
    return new Int32Array(new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT));
  }

  /** The next pair's number (1, 2, …), unique across every event loop sharing the cells. */
  nextId(): number {
    return Atomics.add(this.cells, 0, 1) + 1;
  }

  /** Takes a slot for a new pair: false (and nothing taken) when `max` pairs are already open. */
  take(max?: number): boolean {
    const open = Atomics.add(this.cells, 1, 1);
    if (max === undefined || open < max) return true;
    Atomics.sub(this.cells, 1, 1);
    return false;
  }

  /** Gives back the slot of a pair that ended. */
  release(): void {
    Atomics.sub(this.cells, 1, 1);
  }

  /** Pairs open now, in every event loop together. */
  get active(): number {
    return Atomics.load(this.cells, 1);
  }
}
