import type { ByteReader } from "./io.ts";

/** The default `--max-line`: the longest line a line-based mode accepts. */
export const DEFAULT_MAX_LINE = 64 * 1024;

const LF = 0x0a;
const CR = 0x0d;
const NUL = 0x00;
const INITIAL_BUFFER = 4096;

/** One line read, without its terminator, or a line refused for being longer than the limit. */
export type LineResult =
  | { kind: "line"; line: Uint8Array; eol: "\n" | "\r\n" | "\r" | "" }
  | { kind: "tooLong"; maxLine: number };

/**
 * Splits a byte stream into lines ending in `\n`, `\r\n` or a lone `\r` (the telnet habit: a `\n` or NUL
 * right after a `\r` belongs to it), holding at most `maxLine` bytes of a line in memory. A longer line is
 * reported once as `tooLong` and its bytes are dropped up to its end; the next line is read normally.
 * The last line may end without a terminator (`eol: ""`) when the stream ends.
 *
 * @example
 * ```ts ignore
 * const lines = new LineReader(conn, 64 * 1024);
 * for (let r = await lines.next(); r; r = await lines.next()) {
 *   if (r.kind === "line") console.log(new TextDecoder().decode(r.line));
 * }
 * ```
 */
export class LineReader {
  #buf: Uint8Array;
  #start = 0;
  #end = 0;
  #scanned = 0;
  #skipping = false;
  #afterCR = false;
  #ended = false;

  constructor(private readonly source: ByteReader, readonly maxLine: number = DEFAULT_MAX_LINE) {
    this.#buf = new Uint8Array(Math.min(INITIAL_BUFFER, maxLine + 1));
  }

  /** The next line, a `tooLong` notice, or null at the end of the stream. */
  async next(): Promise<LineResult | null> {
    while (true) {
      const found = this.#takeLine();
      if (found) return found;
      if (this.#ended) return this.#takeRest();
      const pending = this.#end - this.#start;
      if (!this.#skipping && pending > this.maxLine) {
        this.#skipping = true;
        this.#start = this.#end = this.#scanned = 0;
        return { kind: "tooLong", maxLine: this.maxLine };
      }
      if (this.#skipping) this.#start = this.#end = this.#scanned = 0;
      this.#makeRoom();
      await this.#fill();
    }
  }

  #takeLine(): LineResult | undefined {
    const buf = this.#buf;
    for (let i = this.#scanned; i < this.#end; i++) {
      const b = buf[i];
      if (b !== LF && b !== CR) continue;
      const line = buf.slice(this.#start, i);
      let eol: "\n" | "\r\n" | "\r" = b === LF ? "\n" : "\r";
      this.#start = this.#scanned = i + 1;
      if (b === CR) {
        if (i + 1 < this.#end) {
          if (buf[i + 1] === LF) eol = "\r\n";
          if (buf[i + 1] === LF || buf[i + 1] === NUL) this.#start = this.#scanned = i + 2;
        } else {
          this.#afterCR = true;
        }
      }
      if (this.#skipping) {
        this.#skipping = false;
        return this.#takeLine();
      }
      return { kind: "line", line, eol };
    }
    this.#scanned = this.#end;
    return undefined;
  }

  #takeRest(): LineResult | null {
    if (this.#skipping || this.#end === this.#start) return null;
    const line = this.#buf.slice(this.#start, this.#end);
    this.#start = this.#end = this.#scanned = 0;
    return { kind: "line", line, eol: "" };
  }

  /** Moves the partial line to the front, growing the buffer (up to maxLine + 1) when it is full. */
  #makeRoom(): void {
    if (this.#start > 0) {
      this.#buf.copyWithin(0, this.#start, this.#end);
      this.#end -= this.#start;
      this.#scanned -= this.#start;
      this.#start = 0;
    }
    if (this.#end === this.#buf.length) {
      const bigger = new Uint8Array(Math.min(this.#buf.length * 2, this.maxLine + 1));
      bigger.set(this.#buf);
      this.#buf = bigger;
    } else if (this.#end === 0 && this.#buf.length > INITIAL_BUFFER) {
      this.#buf = new Uint8Array(INITIAL_BUFFER);
    }
  }

  async #fill(): Promise<void> {
    const n = await this.source.read(this.#buf.subarray(this.#end));
    if (n === null) {
      this.#ended = true;
      return;
    }
    let from = this.#end;
    if (this.#afterCR && n > 0) {
      this.#afterCR = false;
      const b = this.#buf[from];
      if (b === LF || b === NUL) {
        this.#buf.copyWithin(from, from + 1, from + n);
        from--;
      }
    }
    this.#end = from + n;
  }
}

/**
 * Lines from a message transport (WebSocket): each message is one line, whatever it holds (one trailing
 * `\n` or `\r\n` is dropped; line breaks inside stay in the line, for the mode to show escaped). A message
 * over `maxLine` bytes is refused as `tooLong`, as LineReader refuses a long line.
 */
export class MessageLines {
  constructor(
    private readonly source: { readMessage(): Promise<{ data: Uint8Array } | null> },
    readonly maxLine: number,
  ) {}

  /** The next line, or null when the connection ended. */
  async next(): Promise<LineResult | null> {
    const message = await this.source.readMessage();
    if (message === null) return null;
    let line = message.data;
    if (line.length > this.maxLine) return { kind: "tooLong", maxLine: this.maxLine };
    if (line.at(-1) === LF) line = line.subarray(0, line.at(-2) === CR ? -2 : -1);
    return { kind: "line", line, eol: "" };
  }
}
