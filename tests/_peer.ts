/** A line-oriented test client for the chat and guard-rail tests: send text, wait for lines, see the close. */
import { writeAll } from "../lib/core/io.ts";

const READ_LIMIT_MS = 10_000;

/** A raw TCP client that reads the server's output line by line, never waiting more than 10 s for one. */
export class LinePeer {
  readonly lines: string[] = [];
  #pending = "";
  #ended = false;
  readonly #decoder = new TextDecoder();
  readonly #buf = new Uint8Array(64 * 1024);

  private constructor(readonly conn: Deno.Conn) {}

  /** A peer over a connection made elsewhere (TLS, a Unix socket). */
  static over(conn: Deno.Conn): LinePeer {
    return new LinePeer(conn);
  }

  /** Connects to the test server (IPv4 loopback unless `hostname` says otherwise). */
  static async connect(port: number, hostname = "127.0.0.1"): Promise<LinePeer> {
    return new LinePeer(await Deno.connect({ hostname, port }));
  }

  /** Sends text as it is (add the line end yourself). */
  send(text: string | Uint8Array): Promise<void> {
    return writeAll(this.conn, typeof text === "string" ? new TextEncoder().encode(text) : text);
  }

  /** The next line with its line end (`\n` or `\r\n`) kept, or null once the server closed. */
  async rawLine(): Promise<string | null> {
    while (true) {
      const nl = this.#pending.indexOf("\n");
      if (nl >= 0) {
        const line = this.#pending.slice(0, nl + 1);
        this.#pending = this.#pending.slice(nl + 1);
        this.lines.push(line);
        return line;
      }
      if (this.#ended) return null;
      const n = await this.#read();
      if (n === null) this.#ended = true;
      else this.#pending += this.#decoder.decode(this.#buf.subarray(0, n), { stream: true });
    }
  }

  /** The next line without its line end; throws if the server closed instead. */
  async line(): Promise<string> {
    const line = await this.rawLine();
    if (line === null) throw new Error(`connection closed; lines so far:\n${this.lines.join("")}`);
    return line.replace(/\r?\n$/, "");
  }

  /** Skips lines until one matches, and returns it. */
  async until(re: RegExp): Promise<string> {
    while (true) {
      const line = await this.line();
      if (re.test(line)) return line;
    }
  }

  /** Every line left until the server closes the connection. */
  async rest(): Promise<string[]> {
    const out: string[] = [];
    for (let line = await this.rawLine(); line !== null; line = await this.rawLine()) {
      out.push(line.replace(/\r?\n$/, ""));
    }
    if (this.#pending) out.push(this.#pending);
    return out;
  }

  close(): void {
    try {
      this.conn.close();
    } catch { /* already closed */ }
  }

  async #read(): Promise<number | null> {
    const timer = setTimeout(() => this.close(), READ_LIMIT_MS);
    try {
      return await this.conn.read(this.#buf);
    } catch (err) {
      if (err instanceof Deno.errors.ConnectionReset) return null;
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** A stdin for `runClient` that the test feeds as it goes; `read` waits for the next push or the end. */
export class ScriptedInput {
  #chunks: Uint8Array[] = [];
  #ended = false;
  #wake: (() => void) | undefined;

  /** Makes `text` (or bytes) the next thing read. */
  push(text: string | Uint8Array): void {
    this.#chunks.push(typeof text === "string" ? new TextEncoder().encode(text) : text);
    this.#wake?.();
  }

  /** Ends the input (as Ctrl-D or the end of a pipe does). */
  end(): void {
    this.#ended = true;
    this.#wake?.();
  }

  async read(p: Uint8Array): Promise<number | null> {
    while (this.#chunks.length === 0 && !this.#ended) {
      await new Promise<void>((resolve) => (this.#wake = resolve));
      this.#wake = undefined;
    }
    const chunk = this.#chunks.shift();
    if (!chunk) return null;
    const n = Math.min(p.length, chunk.length);
    p.set(chunk.subarray(0, n));
    if (n < chunk.length) this.#chunks.unshift(chunk.subarray(n));
    return n;
  }
}

/** A stdout for `runClient` that keeps what was written and lets a test wait for it. */
export class CapturedOutput {
  text = "";
  #waiters: { done: (text: string) => boolean; resolve: () => void }[] = [];

  write(p: Uint8Array): Promise<number> {
    this.text += new TextDecoder().decode(p);
    for (const w of [...this.#waiters]) {
      if (w.done(this.text)) {
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        w.resolve();
      }
    }
    return Promise.resolve(p.length);
  }

  /** Resolves once everything written so far matches `re`. */
  waitFor(re: RegExp): Promise<void> {
    return this.#until((text) => re.test(text));
  }

  /** Resolves once the text written so far ends with `suffix`. */
  waitForEnd(suffix: string): Promise<void> {
    return this.#until((text) => text.endsWith(suffix));
  }

  #until(done: (text: string) => boolean): Promise<void> {
    if (done(this.text)) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ done, resolve }));
  }
}
