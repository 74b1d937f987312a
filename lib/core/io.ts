import type { Connection } from "../transports/types.ts";

/** Anything bytes can be written to, a few at a time (a `Deno.Conn`, `Deno.stdout`, …). */
export interface ByteWriter {
  write(p: Uint8Array): Promise<number>;
}

/** Anything bytes can be read from into a caller's buffer (a `Deno.Conn`, `Deno.stdin`, …). */
export interface ByteReader {
  read(p: Uint8Array): Promise<number | null>;
}

/**
 * Writes every byte of `data`, looping because `write()` may accept fewer bytes than given.
 *
 * @example
 * ```ts ignore
 * await writeAll(conn, new TextEncoder().encode("Hello"));
 * ```
 */
export async function writeAll(w: ByteWriter, data: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < data.length) {
    offset += await w.write(data.subarray(offset));
  }
}

/** Closes a connection or listener, ignoring "already closed": every resource is closed exactly once. */
export function closeQuietly(resource: { close(): void }): void {
  try {
    resource.close();
  } catch (err) {
    if (!(err instanceof Deno.errors.BadResource)) throw err;
  }
}

/** Resolves after `ms`, or at once when `signal` aborts; never leaves a timer behind. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** True for the errors a read or write raises when the connection was closed under it (by us or at shutdown). */
export function isClosedError(err: unknown): boolean {
  return err instanceof Deno.errors.BadResource || err instanceof Deno.errors.Interrupted;
}

/** True when `a` and `b` hold the same bytes. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/** Joins byte arrays into a new one. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/**
 * A connection that forwards every call to the connection it wraps; a subclass overrides only what it
 * changes (how reads end, what is reported on each call).
 *
 * @example
 * ```ts
 * class Counted extends ForwardingConn {
 *   bytes = 0;
 *   override async read(p: Uint8Array) {
 *     const n = await super.read(p);
 *     this.bytes += n ?? 0;
 *     return n;
 *   }
 * }
 * ```
 */
export class ForwardingConn<C extends Connection = Connection> implements Connection {
  constructor(protected readonly inner: C) {}

  get localAddr(): Deno.Addr {
    return this.inner.localAddr;
  }
  get remoteAddr(): Deno.Addr {
    return this.inner.remoteAddr;
  }
  read(p: Uint8Array): Promise<number | null> {
    return this.inner.read(p);
  }
  write(p: Uint8Array): Promise<number> {
    return this.inner.write(p);
  }
  closeWrite(): Promise<void> {
    return this.inner.closeWrite();
  }
  close(): void {
    this.inner.close();
  }
  [Symbol.dispose](): void {
    closeQuietly(this);
  }
}

/** A connection that can tell its peer why it is being closed (a WebSocket sends it as the close reason). */
export interface ExplainedClose {
  /** Closes now, telling the peer why. */
  closeExplained(reason: string): void;
  /** Shuts down the sending side, telling the peer why. */
  closeWriteExplained(reason: string): Promise<void>;
}

/** Shuts down `conn`'s sending side, telling the peer `reason` when the connection can carry one. */
export function closeWriteWithReason(conn: Connection, reason?: string): Promise<void> {
  const explained = conn as Partial<ExplainedClose> & Connection;
  if (reason === undefined || typeof explained.closeWriteExplained !== "function") return conn.closeWrite();
  return explained.closeWriteExplained(reason);
}

/** Closes `conn` once (see closeQuietly), telling the peer `reason` when the connection can carry one. */
export function closeWithReason(conn: Connection, reason?: string): void {
  const explained = conn as Partial<ExplainedClose> & Connection;
  if (reason === undefined || typeof explained.closeExplained !== "function") return closeQuietly(conn);
  try {
    explained.closeExplained(reason);
  } catch (err) {
    if (!(err instanceof Deno.errors.BadResource)) throw err;
  }
}
