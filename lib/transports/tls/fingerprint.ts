/**
 * Certificate fingerprints as people copy them: `--pin` parsing and the colon-separated form sockkit and
 * `openssl x509 -fingerprint -sha256` print.
 * @module
 */
import { UsageError } from "../../core/errors.ts";

/**
 * Parses `--pin`: a SHA-256 fingerprint as `openssl x509 -fingerprint -sha256` and sockkit's server print
 * it, with or without colons, in any letter case (an `sha256 Fingerprint=` prefix is allowed too).
 *
 * @example
 * ```ts
 * parsePin("ab:" + "cd:".repeat(30) + "ef"); // "ABCDCD…EF" (64 hex digits)
 * ```
 */
export function parsePin(value: string): string {
  const hex = value.trim().replace(/^sha256 Fingerprint=/i, "").replaceAll(":", "").toUpperCase();
  if (!/^[0-9A-F]{64}$/.test(hex)) {
    throw new UsageError(
      `invalid --pin '${value}': expected a SHA-256 fingerprint, 64 hex digits with or without colons ` +
        "(the server prints it; or run 'openssl x509 -in cert.pem -noout -fingerprint -sha256')",
    );
  }
  return hex;
}

/** A fingerprint as sockkit prints it: upper-case hex pairs joined by colons. */
export function formatFingerprint(hex: string): string {
  return hex.toUpperCase().replaceAll(":", "").replace(/(..)(?!$)/g, "$1:");
}
