import { UsageError } from "./errors.ts";
import { formatBytes } from "./format.ts";

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};

/**
 * Parses a byte size: `65536`, `64KiB`, `64k`, `1MiB`, `1.5M` (k, M and G are powers of 1024).
 * Throws a `UsageError` naming `what` (an option such as `--max-queue`) when the value is not a size or
 * is below `min`.
 *
 * @example
 * ```ts
 * parseSize("64KiB"); // 65536
 * parseSize("1M", "--max-queue"); // 1048576
 * ```
 */
export function parseSize(value: string, what = "size", min = 1): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
  const unit = match ? SIZE_UNITS[match[2].toLowerCase()] : undefined;
  if (!match || unit === undefined) {
    throw new UsageError(`invalid ${what} '${value}': expected a size such as 65536, 64KiB or 1MiB`);
  }
  const bytes = Math.floor(Number(match[1]) * unit);
  if (!Number.isSafeInteger(bytes) || bytes > 2 ** 40) {
    throw new UsageError(`invalid ${what} '${value}': too large`);
  }
  if (bytes < min) throw new UsageError(`invalid ${what} '${value}': must be at least ${formatBytes(min)}`);
  return bytes;
}
