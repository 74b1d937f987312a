import { echo } from "./echo.ts";
import type { Mode } from "./mode.ts";

export type { Mode, Session } from "./mode.ts";

/** Every server mode by name; the first is the default. */
export const MODES = { echo } as const satisfies Record<string, Mode>;

/** The name of a server mode. */
export type ModeName = keyof typeof MODES;

/** The names `--mode` accepts. */
export const MODE_NAMES = Object.keys(MODES) as ModeName[];
