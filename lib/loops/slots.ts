/**
 * Client numbers and the count of open clients (a relay's pairs, a server's clients) for one command spread
 * over event loops, kept in two integers that every loop can share (an `Int32Array` over a
 * `SharedArrayBuffer`, changed with `Atomics`): ids stay unique and `--max-conns` holds for the whole
 * command, however many workers serve it.
 * @module
 */

/**
 * A command's client ids and open-client count.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const slots = new SharedSlots();
 * assert.equal(slots.nextId(), 1);
 * assert.equal(slots.take(1), 1); // one open, this one
 * assert.equal(slots.take(1), 0); // full
 * slots.release();
 * assert.equal(slots.active, 0);
 * ```
 */
export class SharedSlots {
  /** `cells`: [last id given, pairs open]; pass the same shared cells to every event loop of one command. */
  constructor(readonly cells: Int32Array = new Int32Array(2)) {}

  /** Cells that several threads can share. */
  static shared(): Int32Array {
    return new Int32Array(new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT));
  }

  /** The next client's number (1, 2, …), unique across every event loop sharing the cells. */
  nextId(): number {
    return Atomics.add(this.cells, 0, 1) + 1;
  }

  /** How many numbers were handed out (the last client's number). */
  get issued(): number {
    return Atomics.load(this.cells, 0);
  }

  /**
   * Takes a slot for a new client: how many are open with it (1, 2, …), or 0 (and nothing taken) when `max`
   * are already open. The count is this client's own, even when other loops take slots at the same moment.
   */
  take(max?: number): number {
    for (;;) {
      const open = Atomics.load(this.cells, 1);
      if (max !== undefined && open >= max) return 0;
      if (Atomics.compareExchange(this.cells, 1, open, open + 1) === open) return open + 1;
    }
  }

  /** Gives back the slot of a client that left: how many are still open. */
  release(): number {
    return Atomics.sub(this.cells, 1, 1) - 1;
  }

  /** Clients open now, in every event loop together. */
  get active(): number {
    return Atomics.load(this.cells, 1);
  }
}
