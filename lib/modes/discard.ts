import type { Session } from "./mode.ts";

const DISCARD_BUFFER_SIZE = 64 * 1024;

/**
 * Discard mode (the classic discard service, RFC 863): reads everything and drops it. The server counts
 * the messages (reads; over WebSocket, whole messages) and bytes, and reports them when the client leaves and in its summary.
 */
export async function discard(session: Session): Promise<void> {
  if (session.readMessage) {
    while (!session.stopping) if ((await session.readMessage()) === null) return;
    return;
  }
  const buf = new Uint8Array(DISCARD_BUFFER_SIZE);
  while (!session.stopping) {
    if ((await session.read(buf)) === null) return;
  }
}
