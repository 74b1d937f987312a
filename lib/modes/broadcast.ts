import type { Mode, ModeContext, Session } from "./mode.ts";
import { Room } from "./room.ts";

const BROADCAST_BUFFER_SIZE = 16 * 1024;

/**
 * Broadcast mode: raw bytes, no framing, no prefix. Every read from one client is queued, exactly as
 * received, for every other client, in the order the server received it. A client more than `maxQueue`
 * bytes behind is disconnected; the others are not slowed down.
 */
export function broadcast(ctx: ModeContext): Mode {
  const room = new Room(ctx.maxQueue);
  return (session: Session) =>
    room.serve(session, async (member) => {
      const buf = new Uint8Array(BROADCAST_BUFFER_SIZE);
      while (!session.stopping) {
        const n = await session.read(buf);
        if (n === null) return;
        room.send(buf.slice(0, n), member);
      }
    });
}
