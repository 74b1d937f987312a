/**
 * The registry of server modes: one line per mode, each declaring what it needs, so that no command names a
 * mode to decide what applies to it. Adding a mode is one module in this folder and one line below.
 * @module
 */
import { broadcast } from "./broadcast.ts";
import { chat } from "./chat.ts";
import { discard } from "./discard.ts";
import { echo } from "./echo.ts";
import type { ModeFactory } from "./mode.ts";

export type { Message, Mode, ModeContext, ModeFactory, Session } from "./mode.ts";

/** What a mode is: how it is made, and what it needs of the server and the transport. */
export interface ModeDeclaration {
  /** Makes the mode, once per server run (and once per event loop). */
  readonly factory: ModeFactory;
  /** Its clients share a room: `--hub`, `--web` and rooms across event loops apply. */
  readonly room: boolean;
  /** It works over a lossy transport whose peers never close (UDP), keeping nothing per connection. */
  readonly lossy: boolean;
}

/** Every server mode by name; the first is the default. */
export const MODES = {
  echo: { factory: () => echo, room: false, lossy: true },
  chat: { factory: chat, room: true, lossy: false },
  broadcast: { factory: broadcast, room: true, lossy: false },
  discard: { factory: () => discard, room: false, lossy: true },
} as const satisfies Record<string, ModeDeclaration>;

/** The name of a server mode. */
export type ModeName = keyof typeof MODES;

/** The names `--mode` accepts. */
export const MODE_NAMES = Object.keys(MODES) as ModeName[];

/**
 * True for a mode whose clients share a room (chat, broadcast); false for any other name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(hasRoom("chat"), true);
 * assert.equal(hasRoom("echo"), false);
 * ```
 */
export function hasRoom(mode: string): mode is ModeName {
  return mode in MODES && MODES[mode as ModeName].room;
}

/** The modes with a room: `chat`, `broadcast`. */
export const ROOM_MODES: readonly ModeName[] = MODE_NAMES.filter(hasRoom);

/** The modes with a room, as a usage message offers them: `--mode chat or --mode broadcast`. */
export const ROOM_MODES_TEXT: string = ROOM_MODES.map((m) => `--mode ${m}`).join(" or ");

/**
 * The modes a transport serves, from what it declares: over a lossy one (UDP), the modes that need no
 * connection.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(modesOver({ lossy: true }), ["echo", "discard"]);
 * ```
 */
export function modesOver(capabilities: { readonly lossy: boolean }): ModeName[] {
  return MODE_NAMES.filter((m) => !capabilities.lossy || MODES[m].lossy);
}
