import { textForScreen } from "../core/format.ts";
import { concatBytes } from "../core/io.ts";

/** What the interactive client needs of a terminal: switching keystroke-at-a-time input on and off. */
export interface Terminal {
  setRaw(raw: boolean): void;
}

const PROMPT = "> ";
/** Erase the terminal's current line and go to its start. */
const CLEAR_LINE = "\r\x1b[K";
const MAX_INPUT = 64 * 1024;
const decoder = new TextDecoder();

/**
 * Shows received text on a terminal: line ends (`\n`, `\r\n`) as `\r\n`, and everything a terminal would
 * obey or hide escaped the way chat escapes relayed lines (textForScreen): control characters that could
 * move the cursor or recolour the screen as `\x1b`, bidi overrides and zero-width characters as `\u202e`,
 * bytes that are not UTF-8 as `\xff`.
 */
export function textForTerminal(bytes: Uint8Array): string {
  const lines: string[] = [];
  let start = 0;
  for (let nl = bytes.indexOf(0x0a); nl >= 0; nl = bytes.indexOf(0x0a, start)) {
    const end = nl > start && bytes[nl - 1] === 0x0d ? nl - 1 : nl;
    lines.push(textForScreen(bytes.subarray(start, end)));
    start = nl + 1;
  }
  lines.push(textForScreen(bytes.subarray(start)));
  return lines.join("\r\n");
}

/**
 * A one-line editor for a terminal in raw mode, so that lines arriving while the user types are printed
 * above the line being typed instead of through it. Keys: printable text, Backspace, Ctrl-U (erase the
 * line), Enter (send), Ctrl-D on an empty line (end); arrow keys and other escape sequences are ignored.
 *
 * @example
 * ```ts
 * const editor = new LineEditor();
 * const { send, echo } = editor.feed(new TextEncoder().encode("hi\r"));
 * // send: ["hi\n"] as bytes; echo: what to write to the terminal
 * ```
 */
export class LineEditor {
  #line: number[] = [];
  #escape: "none" | "esc" | "csi" = "none";
  #afterCR = false;

  /** The prompt and the line typed so far, redrawn from the start of the terminal line. */
  render(): string {
    return CLEAR_LINE + PROMPT + decoder.decode(new Uint8Array(this.#line));
  }

  /** Text received from the server, printed above the line being typed. */
  showAbove(text: string): string {
    return CLEAR_LINE + text + (text.endsWith("\n") ? "" : "\r\n") + this.render();
  }

  /** Takes keystrokes; returns the lines to send (each ending in `\n`), what to echo, and whether input ended. */
  feed(keys: Uint8Array): { send: Uint8Array[]; echo: string; eof: boolean } {
    const send: Uint8Array[] = [];
    for (const key of keys) {
      if (this.#skipEscape(key)) continue;
      const crlf = this.#afterCR && key === 0x0a;
      this.#afterCR = key === 0x0d;
      if (crlf) continue;
      if (key === 0x0d || key === 0x0a) {
        const line = new Uint8Array([...this.#line, 0x0a]);
        send.push(line);
        this.#line = [];
      } else if (key === 0x7f || key === 0x08) {
        this.#eraseLastChar();
      } else if (key === 0x15) {
        this.#line = [];
      } else if (key === 0x04) {
        if (this.#line.length === 0) return { send, echo: this.#echo(send) + CLEAR_LINE, eof: true };
      } else if (key === 0x1b) {
        this.#escape = "esc";
      } else if ((key >= 0x20 || key === 0x09) && this.#line.length < MAX_INPUT) {
        this.#line.push(key);
      }
    }
    return { send, echo: this.#echo(send), eof: false };
  }

  #echo(sent: Uint8Array[]): string {
    const kept = sent.map((line) => CLEAR_LINE + PROMPT + textForTerminal(line)).join("");
    return kept + this.render();
  }

  /** Swallows escape sequences (ESC x, ESC [ … final, ESC O x); true when `key` belonged to one. */
  #skipEscape(key: number): boolean {
    if (this.#escape === "esc") {
      this.#escape = key === 0x5b || key === 0x4f ? "csi" : "none";
      return true;
    }
    if (this.#escape === "csi") {
      if (key >= 0x40 && key <= 0x7e) this.#escape = "none";
      return true;
    }
    return false;
  }

  /** Removes the last UTF-8 character (its continuation bytes and its lead byte). */
  #eraseLastChar(): void {
    while (this.#line.length > 0 && (this.#line[this.#line.length - 1] & 0xc0) === 0x80) this.#line.pop();
    this.#line.pop();
  }
}

/**
 * Collects received bytes into whole lines, so that a line is never printed in pieces: `push` returns the
 * complete lines so far (with their line ends), and keeps the rest. A partial line longer than `maxHeld`
 * bytes is released as it is, so memory stays bounded.
 */
export class WholeLines {
  #held: Uint8Array = new Uint8Array(0);

  constructor(private readonly maxHeld: number = 64 * 1024) {}

  /** Adds received bytes; returns what can be printed now (maybe empty), valid until the next call. */
  push(chunk: Uint8Array): Uint8Array {
    const data = this.#held.length === 0 ? chunk : concatBytes(this.#held, chunk);
    const cut = data.lastIndexOf(0x0a) + 1;
    if (cut === 0 && data.length <= this.maxHeld) {
      this.#held = data.slice();
      return new Uint8Array(0);
    }
    const end = cut === 0 ? data.length : cut;
    this.#held = data.slice(end);
    return data.subarray(0, end);
  }

  /** What is left at the end (a last line without a line end). */
  rest(): Uint8Array {
    const rest = this.#held;
    this.#held = new Uint8Array(0);
    return rest;
  }
}
