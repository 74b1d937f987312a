import type { Mode, ModeContext, Session } from "./mode.ts";
import { Room } from "./room.ts";
import { hubDropper } from "../hub/hub.ts";

const BROADCAST_BUFFER_SIZE = 16 * 1024;

/**
 * Broadcast mode: raw bytes, no framing, no prefix. Every read from one client is queued, exactly as
 * received, for every other client, in the order the server received it. A client more than `maxQueue`
 * bytes behind is disconnected; the others are not slowed down. With a hub (`--hub`), what one instance's
 * clients send also reaches the clients of every other instance in the room, the same way.
 */
export function broadcast(ctx: ModeContext): Mode {
  const room = new Room(ctx.maxQueue, { onSize: (size) => ctx.hub?.members?.(size) }, ctx.counters);
  // what other instances of the room (--hub) publish reaches every member here, like a local member's bytes
  ctx.hub?.listen({
    message: (data) => room.send(data.slice()),
    dropped: hubDropper(ctx.emit, ctx.counters),
  });
  return (session: Session) =>
    room.serve(session, async (member) => {
      const buf = new Uint8Array(BROADCAST_BUFFER_SIZE);
      while (!session.stopping) {
        let data: Uint8Array;
        if (session.readMessage) {
          const message = await session.readMessage();
          if (message === null) return;
          data = message.data;
        } else {
          const n = await session.read(buf);
          if (n === null) return;
          data = buf.slice(0, n);
        }
        room.send(data, member);
        ctx.hub?.publish(data);
      }
    });
}
