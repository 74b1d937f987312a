/**
 * Where sockkit made a socket call: the `file:line` of the caller, read from a stack captured when the
 * call is made, so `--trace=columns` and `sockkit demo` name the real line (paths from the repository root).
 * @module
 */

const ROOT = new URL("../../", import.meta.url).href;
const SELF = "lib/core/site.ts";

/**
 * The first sockkit frame of `where`'s stack outside this module and the files in `skip`, as `file:line`
 * (the path from the repository root), or undefined when there is none (the caller is not sockkit's).
 *
 * @example
 * ```ts
 * siteOf(new Error()); // "lib/server/wire.ts:84" when called there; undefined outside sockkit's files
 * ```
 */
export function siteOf(where: Error, skip: readonly string[] = []): string | undefined {
  for (const line of (where.stack ?? "").split("\n").slice(1)) {
    const m = line.match(/(file:\/\/[^\s()]+):(\d+):\d+\)?$/);
    if (!m || !m[1].startsWith(ROOT)) continue;
    const file = decodeURIComponent(m[1].slice(ROOT.length));
    if (file === SELF || skip.includes(file)) continue;
    return `${file}:${m[2]}`;
  }
  return undefined;
}

/** A call a transport made on a connection before handing it up (TLS: the TCP connect, the handshake). */
export interface SocketStep {
  call: "connect" | "handshake";
  /** When it completed (`performance.now()`). */
  at: number;
  /** The line that made it (`file:line`). */
  readonly site: string | undefined;
}

/**
 * Awaits `op` and records it in `steps` as `call`, with the line that called `step` (read only when asked:
 * capturing the stack is cheap, formatting it is not).
 *
 * @example
 * ```ts ignore
 * const steps: SocketStep[] = [];
 * await step(steps, "handshake", conn.handshake()); // steps[0].site: this line
 * ```
 */
export async function step<T>(steps: SocketStep[], call: SocketStep["call"], op: Promise<T>): Promise<T> {
  const where = new Error();
  const result = await op;
  let site: string | undefined | null = null;
  steps.push({
    call,
    at: performance.now(),
    get site() {
      return site === null ? (site = siteOf(where)) : site;
    },
  });
  return result;
}
