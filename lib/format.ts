const ESCAPES: Record<number, string> = { 0x09: "\\t", 0x0a: "\\n", 0x0d: "\\r", 0x5c: "\\\\" };
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

function utf8Length(lead: number): number {
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 0;
}

function isPrintable(char: string): boolean {
  return !/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\p{Co}\p{Cn}]/u.test(char);
}

/**
 * Shows bytes as text a terminal can print safely: printable ASCII and UTF-8 as they are; `\n`, `\r`, `\t`
 * and `\\` escaped; every other byte as `\xNN`.
 *
 * @example
 * ```ts
 * escapeBytes(new Uint8Array([0x48, 0x69, 0x0a, 0x00])); // "Hi\\n\\x00"
 * ```
 */
export function escapeBytes(bytes: Uint8Array): string {
  let out = "";
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i];
    if (ESCAPES[b]) {
      out += ESCAPES[b];
      i++;
      continue;
    }
    if (b >= 0x20 && b < 0x7f) {
      out += String.fromCharCode(b);
      i++;
      continue;
    }
    const len = utf8Length(b);
    if (len > 0 && i + len <= bytes.length) {
      try {
        const char = strictUtf8.decode(bytes.subarray(i, i + len));
        if (isPrintable(char)) {
          out += char;
          i += len;
          continue;
        }
      } catch {
        // not valid UTF-8: fall through to \xNN
      }
    }
    out += `\\x${b.toString(16).padStart(2, "0")}`;
    i++;
  }
  return out;
}

/** Formats a byte count for people: `512 B`, `1.5 KiB`, `8.0 MiB`. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

/** `1 message`, `3 messages`: a count with its noun in the right number. */
export function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

const TEXT_ESCAPES: Record<string, string> = { "\t": "\\t", "\n": "\\n", "\r": "\\r" };

/**
 * Makes text safe to print on one terminal line: control and other invisible characters become escapes
 * (`\n`, `\t`, `\r`, `\x1b`, `\u200b`), everything else is kept. Used for messages that quote user input.
 *
 * @example
 * ```ts
 * escapeText("invalid port '8\n0'"); // "invalid port '8\\n0'"
 * ```
 */
export function escapeText(text: string): string {
  return text.replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, (c) => {
    const code = c.codePointAt(0)!;
    return TEXT_ESCAPES[c] ??
      (code < 0x100
        ? `\\x${code.toString(16).padStart(2, "0")}`
        : `\\u${code.toString(16).padStart(4, "0")}`);
  });
}
