import type { Session } from "./mode.ts";

/** Read buffer per connection: large enough for bulk transfers, small enough for thousands of clients. */
export const ECHO_BUFFER_SIZE = 16 * 1024;

/**
 * Echo mode: sends every byte back unchanged. Each chunk is written in full before the next read, so a peer
 * that does not read its echo is throttled by TCP (backpressure) and never makes the server buffer more
 * than one chunk. Returns at end of stream, after the last echo, so a half-closed peer gets every byte.
 */
export async function echo(session: Session): Promise<void> {
  const buf = new Uint8Array(ECHO_BUFFER_SIZE);
  while (!session.stopping) {
    const n = await session.read(buf);
    if (n === null) return;
    await session.write(buf.subarray(0, n));
  }
}
