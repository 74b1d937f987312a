import { concatBytes } from "../core/io.ts";

/** The default `--max-queue`: how far a client may fall behind before it is disconnected. */
export const DEFAULT_MAX_QUEUE = 1024 * 1024;

/** Small queued chunks are joined into writes of up to this many bytes. */
const COALESCE_BYTES = 64 * 1024;

/**
 * A client's outbound queue, capped in bytes and drained by its own writer task, so that sending to one
 * client never waits for another. `push` refuses data that would put the client more than `maxBytes` behind
 * (a single chunk is always accepted by an empty queue); the owner then disconnects that client.
 *
 * @example
 * ```ts ignore
 * const queue = new OutboundQueue((data) => writeAll(conn, data), 1024 * 1024);
 * if (!queue.push(bytes)) conn.close(); // too slow
 * await queue.flush(); // everything queued was written
 * ```
 */
export class OutboundQueue {
  #chunks: Uint8Array[] = [];
  #head = 0;
  #bytes = 0;
  #closed = false;
  #writer: Promise<void> | undefined;

  /** `meter.queuedBytes` follows what waits here, summed with every other queue that shares the meter. */
  constructor(
    private readonly write: (data: Uint8Array) => Promise<void>,
    readonly maxBytes: number = DEFAULT_MAX_QUEUE,
    private readonly meter: { queuedBytes: number } = { queuedBytes: 0 },
    /** `coalesce: false` writes each chunk on its own (a message transport: one chunk, one message). */
    private readonly options: { coalesce?: boolean } = {},
  ) {}

  /** Bytes queued and not yet handed to the OS (including the write in progress). */
  get bytes(): number {
    return this.#bytes;
  }

  /** Queues `data` in order; false, with nothing queued, when it would go over `maxBytes`. */
  push(data: Uint8Array): boolean {
    if (this.#closed || data.length === 0) return true;
    if (this.#bytes > 0 && this.#bytes + data.length > this.maxBytes) return false;
    this.#chunks.push(data);
    this.#bytes += data.length;
    this.meter.queuedBytes += data.length;
    this.#writer ??= this.#drain();
    return true;
  }

  /** Resolves once everything queued so far was written, or writing stopped (closed or failed). */
  async flush(): Promise<void> {
    while (this.#writer) await this.#writer;
  }

  /** Drops what is still queued; the write in progress (if any) finishes or fails on its own. */
  close(): void {
    this.#closed = true;
    this.#chunks = [];
    this.#head = 0;
    this.meter.queuedBytes -= this.#bytes;
    this.#bytes = 0;
  }

  async #drain(): Promise<void> {
    try {
      while (!this.#closed && this.#head < this.#chunks.length) {
        const data = this.#take();
        await this.write(data);
        if (!this.#closed) {
          this.#bytes -= data.length;
          this.meter.queuedBytes -= data.length;
        }
      }
    } catch {
      this.close();
    } finally {
      this.#writer = undefined;
    }
  }

  /** The next chunk, joined with the small ones queued after it. */
  #take(): Uint8Array {
    const chunks = this.#chunks;
    let end = this.#head + 1;
    let size = chunks[this.#head].length;
    while (
      this.options.coalesce !== false && end < chunks.length && size + chunks[end].length <= COALESCE_BYTES
    ) size += chunks[end++].length;
    const data = end === this.#head + 1 ? chunks[this.#head] : concatBytes(...chunks.slice(this.#head, end));
    this.#head = end;
    if (this.#head === chunks.length) {
      this.#chunks = [];
      this.#head = 0;
    } else if (this.#head > 1024) {
      this.#chunks = chunks.slice(this.#head);
      this.#head = 0;
    }
    return data;
  }
}
