import type { Session } from "./mode.ts";

/** The read buffer every connection starts with, and keeps while its reads stay this small (idle, chat, ping-pong). */
export const ECHO_SMALL_BUFFER_SIZE = 512;
/**
 * The read buffer a connection borrows while reads fill the small one (bulk transfers): large enough that each
 * read and write moves as much as a sender's 256 KiB write, so bulk data costs fewer system calls per byte.
 */
export const ECHO_LARGE_BUFFER_SIZE = 256 * 1024;
/** Large buffers kept for reuse once returned; beyond this they are left to the garbage collector. */
const SPARE_LARGE_BUFFERS = 16;

const spareLargeBuffers: Uint8Array[] = [];

function borrowLargeBuffer(): Uint8Array {
  return spareLargeBuffers.pop() ?? new Uint8Array(ECHO_LARGE_BUFFER_SIZE);
}

function returnLargeBuffer(buf: Uint8Array): void {
  if (spareLargeBuffers.length < SPARE_LARGE_BUFFERS) spareLargeBuffers.push(buf);
}

/**
 * Echo mode: sends every byte back unchanged. Each chunk is written in full before the next read, so a peer
 * that does not read its echo is throttled by TCP (backpressure) and never makes the server buffer more
 * than one chunk. Returns at end of stream, after the last echo, so a half-closed peer gets every byte.
 *
 * A connection waits for data with a 512-byte buffer (a pending read holds its buffer, so this is what an
 * idle connection costs); a read that fills it switches to a 256 KiB buffer, kept while reads return more
 * than 512 bytes, then handed back to a small shared pool.
 */
export async function echo(session: Session): Promise<void> {
  if (session.readMessage && session.writeMessage) return await echoMessages(session);
  const small = new Uint8Array(ECHO_SMALL_BUFFER_SIZE);
  let buf: Uint8Array = small;
  try {
    while (!session.stopping) {
      const n = await session.read(buf);
      if (n === null) return;
      await session.write(buf.subarray(0, n));
      if (buf === small && n === small.length) {
        buf = borrowLargeBuffer();
      } else if (buf !== small && n <= small.length) {
        returnLargeBuffer(buf);
        buf = small;
      }
    }
  } finally {
    if (buf !== small) returnLargeBuffer(buf);
  }
}

/** Echo over a message transport: each message is sent back whole, text as text and binary as binary. */
async function echoMessages(session: Session): Promise<void> {
  while (!session.stopping) {
    const message = await session.readMessage!();
    if (message === null) return;
    await session.writeMessage!(message);
  }
}
