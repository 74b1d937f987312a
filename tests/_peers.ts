/**
 * Test peers that load an echo server and check every byte: clients that stream and verify, clients that
 * exchange a fixed number of messages, clients that reset the connection, and clients that never read.
 * @module
 */
import { isClosedError, writeAll } from "../lib/core/io.ts";
import { EventLoopTurns, READS_PER_TURN } from "../lib/server/turns.ts";

/** A fixed block of random bytes; client `k` sends it cyclically from offset `k * 4099`, so every echo can be checked. */
export const PATTERN: Uint8Array = (() => {
  const block = new Uint8Array(1 << 20);
  for (let i = 0; i < block.length; i += 65536) crypto.getRandomValues(block.subarray(i, i + 65536));
  return block;
})();

/** The `length` bytes client `key` sends starting at stream position `position`. */
export function patternBytes(key: number, position: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let start = (key * 4099 + position) % PATTERN.length;
  let filled = 0;
  while (filled < length) {
    const take = Math.min(length - filled, PATTERN.length - start);
    out.set(PATTERN.subarray(start, start + take), filled);
    filled += take;
    start = 0;
  }
  return out;
}

/** True when `bytes` equal what client `key` sent at `position`. */
export function matchesPattern(key: number, position: number, bytes: Uint8Array): boolean {
  let start = (key * 4099 + position) % PATTERN.length;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] !== PATTERN[start]) return false;
    if (++start === PATTERN.length) start = 0;
  }
  return true;
}

/** How a connection ended, from the client's side. */
export type Ending = "eof" | "reset" | "closed" | string;

function describeEnding(err: unknown): Ending {
  if (err instanceof Deno.errors.ConnectionReset) return "reset";
  if (isClosedError(err)) return "closed";
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

/** What a streaming client saw. */
export interface StreamResult {
  sent: number;
  received: number;
  /** Stream position of the first byte that differed from what was sent, if any. */
  mismatchAt?: number;
  /** `eof` when the server closed cleanly; `reset` when it reset the connection. */
  ending: Ending;
}

/** A client streaming pattern bytes to an echo server while checking what comes back. */
export interface StreamingClient {
  /** Resolves once at least `flowingAfter` bytes have come back. */
  flowing: Promise<void>;
  /** Resolves when the server closed the connection (or `maxBytes` were echoed) and the client closed. */
  done: Promise<StreamResult>;
  /** Closes the connection now. */
  close(): void;
  /** The client's local port, once connected. */
  port?: number;
}

/**
 * Connects and streams `chunkSize`-byte writes, reading and checking the echo concurrently, with at most
 * `window` bytes sent but not yet echoed, until the server closes the connection or `maxBytes` came back.
 * The client closes only after reading to the end, so it never resets the connection itself. Like the server
 * and the bench, it takes turns on the event loop: the test process drives many such clients, and reads and
 * writes that complete at once would otherwise let busy clients starve the rest (even of their connect).
 */
export function streamingClient(
  port: number,
  key: number,
  opts: { chunkSize?: number; window?: number; maxBytes?: number; flowingAfter?: number } = {},
): StreamingClient {
  const chunkSize = opts.chunkSize ?? 4096;
  const window = opts.window ?? 256 * 1024;
  const maxBytes = opts.maxBytes ?? 256 * 1024 * 1024;
  const result: StreamResult = { sent: 0, received: 0, ending: "open" };
  let conn: Deno.Conn | undefined;
  let markFlowing = () => {};
  const flowing = new Promise<void>((resolve) => (markFlowing = resolve));
  const close = () => {
    try {
      conn?.close();
    } catch { /* already closed */ }
  };

  const turns = new EventLoopTurns();
  let callsInRow = 0;
  const takeTurn = () => {
    if (++callsInRow < READS_PER_TURN) return;
    callsInRow = 0;
    return turns.next();
  };

  let wakeWriter = () => {};
  const write = async (c: Deno.Conn) => {
    while (result.ending === "open" && result.sent < maxBytes) {
      if (result.sent - result.received >= window) {
        await new Promise<void>((resolve) => (wakeWriter = resolve));
        continue;
      }
      await takeTurn();
      const chunk = patternBytes(key, result.sent, chunkSize);
      await writeAll(c, chunk);
      result.sent += chunk.length;
    }
  };
  const read = async (c: Deno.Conn) => {
    const buf = new Uint8Array(64 * 1024);
    while (result.received < maxBytes) {
      await takeTurn();
      const n = await c.read(buf);
      if (n === null) return "eof";
      if (result.mismatchAt === undefined && !matchesPattern(key, result.received, buf.subarray(0, n))) {
        result.mismatchAt = result.received;
      }
      result.received += n;
      wakeWriter();
      if (result.received >= (opts.flowingAfter ?? 32 * 1024)) markFlowing();
    }
    return "eof";
  };

  const client: StreamingClient = { flowing, done: undefined as unknown as Promise<StreamResult>, close };
  client.done = (async () => {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
    client.port = (conn.localAddr as Deno.NetAddr).port;
    const writing = write(conn).catch((err) => err);
    try {
      result.ending = await read(conn);
    } catch (err) {
      result.ending = describeEnding(err);
    }
    wakeWriter();
    close();
    const writeError = await writing;
    if (result.ending === "eof" && writeError instanceof Deno.errors.ConnectionReset) result.ending = "reset";
    turns.close();
    markFlowing();
    return result;
  })();
  return client;
}

/**
 * Connects, sends `count` messages of `size` pattern bytes one after the other, and checks each echo before
 * sending the next. Resolves to the number of bytes verified; rejects on the first wrong or missing byte.
 */
export async function echoExchanges(
  port: number,
  key: number,
  count: number,
  size: number,
): Promise<number> {
  using conn = await Deno.connect({ hostname: "127.0.0.1", port });
  return await exchangeOn(conn, key, count, size);
}

/**
 * `echoExchanges` on a connection that is already open (left open afterwards); `from` is the stream position
 * of the first byte, for a connection that has exchanged messages before.
 */
export async function exchangeOn(
  conn: Deno.Conn,
  key: number,
  count: number,
  size: number,
  from = 0,
): Promise<number> {
  const buf = new Uint8Array(size);
  let verified = from;
  for (let i = 0; i < count; i++) {
    await writeAll(conn, patternBytes(key, verified, size));
    let got = 0;
    while (got < size) {
      const n = await conn.read(buf.subarray(got));
      if (n === null) throw new Error(`client ${key}: connection closed after ${verified + got} bytes`);
      got += n;
    }
    if (!matchesPattern(key, verified, buf)) throw new Error(`client ${key}: wrong echo in message ${i + 1}`);
    verified += size;
  }
  return verified - from;
}

/**
 * A peer that resets its connection mid-transfer: it sends `bytes`, reads one byte of the echo, then closes
 * while the rest of that segment is unread, which makes the kernel send RST instead of FIN (as SO_LINGER 0
 * does).
 */
export async function resettingClient(port: number, key: number, bytes: number): Promise<void> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const writing = writeAll(conn, patternBytes(key, 0, bytes)).catch(() => {});
  try {
    await conn.read(new Uint8Array(1));
  } finally {
    conn.close();
    await writing;
  }
}

/** A client that writes as fast as it can and never reads. */
export interface Hog {
  /** Resolves with the bytes the kernel accepted once a write has waited `stallMs` (TCP pushed back). */
  stalled: Promise<number>;
  close(): void;
}

/**
 * Connects and writes `chunkSize` chunks, never reading, until a write stays pending for `stallMs` or
 * `maxBytes` were accepted (then `stalled` rejects: nothing pushed back).
 */
export function neverReadingClient(
  port: number,
  opts: { chunkSize?: number; maxBytes?: number; stallMs?: number } = {},
): Hog {
  const chunk = new Uint8Array(opts.chunkSize ?? 64 * 1024);
  const maxBytes = opts.maxBytes ?? 256 * 1024 * 1024;
  let conn: Deno.Conn | undefined;
  let closed = false;
  const close = () => {
    closed = true;
    try {
      conn?.close();
    } catch { /* already closed */ }
  };
  const stalled = (async () => {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
    if (closed) conn.close();
    let accepted = 0;
    while (accepted < maxBytes) {
      const write = writeAll(conn, chunk).then(() => true);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<false>((
        resolve,
      ) => (timer = setTimeout(resolve, opts.stallMs ?? 300, false)));
      const done = await Promise.race([write, timeout]);
      clearTimeout(timer);
      if (!done) {
        write.catch(() => {});
        return accepted;
      }
      accepted += chunk.length;
    }
    throw new Error(`${accepted} bytes were accepted without any push-back`);
  })();
  return { stalled, close };
}

/**
 * The `\n`-terminated lines a connection receives, one at a time, until the server closes it. A partial last
 * line is an error unless `partial` is `"drop"`.
 */
export async function* linesOf(
  conn: Deno.Conn,
  { partial = "throw" }: { partial?: "throw" | "drop" } = {},
): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  const buf = new Uint8Array(64 * 1024);
  let pending = "";
  for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
    pending += decoder.decode(buf.subarray(0, n), { stream: true });
    const lines = pending.split("\n");
    pending = lines.pop()!;
    yield* lines;
  }
  if (pending && partial === "throw") {
    throw new Error(`the server closed in the middle of a line: '${pending.slice(0, 40)}'`);
  }
}
