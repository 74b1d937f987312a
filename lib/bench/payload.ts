/**
 * The bytes `sockkit bench` sends: one endless pseudo-random stream per connection (every byte value
 * occurs, newlines and NULs included), so any byte an echo server drops, adds, reorders or takes from
 * another connection shows up when the echo is compared with what was sent.
 * @module
 */
import { Buffer } from "node:buffer";

/** The stream repeats every PERIOD bytes; a prime, so message boundaries drift across it. */
const PERIOD = 257;

/** Every byte value once, shuffled, then a newline: 257 bytes. */
function periodBytes(): Uint8Array {
  const out = new Uint8Array(PERIOD);
  for (let i = 0; i < 256; i++) out[i] = i;
  let x = 0x9e3779b9;
  for (let i = 255; i > 0; i--) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const j = (x >>> 0) % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  out[256] = 0x0a;
  return out;
}

const repeated = new Map<number, Uint8Array>();

/** The period repeated to `length` bytes; shared by every stream that needs the same length. */
function repeatedPeriod(length: number): Uint8Array {
  let bytes = repeated.get(length);
  if (!bytes) {
    bytes = new Uint8Array(length);
    const period = periodBytes();
    for (let i = 0; i < length; i += PERIOD) bytes.set(period.subarray(0, Math.min(PERIOD, length - i)), i);
    repeated.set(length, bytes);
  }
  return bytes;
}

/**
 * The payload stream of one connection: byte `offset` of the stream is the same whenever it is asked for,
 * and connections with different seeds see the stream shifted against each other.
 *
 * @example
 * ```ts
 * const p = new PayloadStream(7, 1024);
 * const first = p.slice(0, 64);     // the first message
 * p.matches(0, first);              // true
 * ```
 */
export class PayloadStream {
  readonly #bytes: Uint8Array;
  readonly #seed: number;
  /** The longest slice that can be asked for at once. */
  readonly maxChunk: number;

  constructor(seed: number, maxChunk: number) {
    this.#seed = ((seed % PERIOD) + PERIOD) % PERIOD;
    this.maxChunk = maxChunk;
    this.#bytes = repeatedPeriod(PERIOD + maxChunk);
  }

  /** The `length` bytes of the stream starting at `offset` (a view: do not modify). */
  slice(offset: number, length: number): Uint8Array {
    if (length > this.maxChunk) throw new RangeError(`slice of ${length} bytes exceeds ${this.maxChunk}`);
    const start = (offset + this.#seed) % PERIOD;
    return this.#bytes.subarray(start, start + length);
  }

  /** True when `chunk` is exactly the stream's bytes from `offset` on. */
  matches(offset: number, chunk: Uint8Array): boolean {
    const expected = this.slice(offset, chunk.length);
    return Buffer.compare(chunk, expected) === 0;
  }
}
