import { UsageError } from "./errors.ts";

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses a duration into milliseconds: `500ms`, `5s`, `2m`, `1h`, `1.5s`; a bare number means seconds.
 *
 * @example
 * ```ts
 * parseDuration("500ms"); // 500
 * parseDuration("2m"); // 120000
 * ```
 */
export function parseDuration(value: string, what = "duration"): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(value);
  if (!match) {
    throw new UsageError(
      `invalid ${what} '${value}': expected a number with a unit, such as 500ms, 5s or 2m`,
    );
  }
  const ms = Number(match[1]) * UNITS[match[2] ?? "s"];
  if (!Number.isFinite(ms) || ms > 2_147_483_647) {
    throw new UsageError(`invalid ${what} '${value}': too large (at most 24 days)`);
  }
  return Math.round(ms);
}

/** Formats milliseconds for people: `0.213 ms`, `12.3 ms`, `4.2s`, `3m 05s`, `2h 01m`. */
export function formatDuration(ms: number): string {
  if (ms < 1) return `${ms.toFixed(3)} ms`;
  if (ms < 1000) return `${ms < 100 ? ms.toFixed(1) : Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(Math.floor(s % 60)).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
}
