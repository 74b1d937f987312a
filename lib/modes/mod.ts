import { broadcast } from "./broadcast.ts";
import { chat } from "./chat.ts";
import { discard } from "./discard.ts";
import { echo } from "./echo.ts";
import type { ModeFactory } from "./mode.ts";

export type { Message, Mode, ModeContext, ModeFactory, Session } from "./mode.ts";

/** Every server mode by name, as a factory called once per server run; the first is the default. */
export const MODES = {
  echo: () => echo,
  chat,
  broadcast,
  discard: () => discard,
} as const satisfies Record<string, ModeFactory>;

/** The name of a server mode. */
export type ModeName = keyof typeof MODES;

/** The names `--mode` accepts. */
export const MODE_NAMES = Object.keys(MODES) as ModeName[];
