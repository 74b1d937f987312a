const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** True when `bytes` are valid UTF-8 (so they can be shown, or travel as a WebSocket text message). */
export function isUtf8(bytes: Uint8Array): boolean {
  try {
    strictUtf8.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

function utf8Length(lead: number): number {
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 0;
}

/**
 * What is never shown as it is: controls (C0, DEL, C1), format characters (bidi overrides and isolates,
 * zero-width characters, the BOM, tag characters, soft hyphen: `\p{Cf}`), line and paragraph separators,
 * surrogates, private-use and unassigned code points. A terminal would obey, hide or garble them.
 */
const UNSAFE = "\\p{Cc}\\p{Cf}\\p{Zl}\\p{Zp}\\p{Cs}\\p{Co}\\p{Cn}";
/** For a log line: every unsafe character, and `\\` so that an escape in the text cannot pass for one. */
const LOG_ESCAPED = new RegExp(`[\\\\${UNSAFE}]`, "gu");
/** For a screen: every unsafe character but TAB. */
const SCREEN_ESCAPED = new RegExp(`(?!\\t)[${UNSAFE}]`, "gu");
const ONE_UNSAFE = new RegExp(`[${UNSAFE}]`, "u");
const TEXT_ESCAPES: Record<string, string> = { "\t": "\\t", "\n": "\\n", "\r": "\\r" };
const encoder = new TextEncoder();

function isPrintable(char: string): boolean {
  return !ONE_UNSAFE.test(char);
}

/** How a character is shown where it cannot be printed: in the log byte by byte, on a screen by code point. */
type Style = "log" | "screen";

function escapeFor(char: string, style: Style): string {
  if (style === "screen") return escapeChar(char);
  if (char === "\\") return "\\\\";
  return TEXT_ESCAPES[char] ?? [...encoder.encode(char)].map(hexByte).join("");
}

const hexByte = (b: number) => `\\x${b.toString(16).padStart(2, "0")}`;

/** The one escaper behind escapeBytes and textForScreen: same characters unsafe, shown in `style`. */
function escapeAs(bytes: Uint8Array, style: Style): string {
  let text: string | undefined;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    // not valid UTF-8: go byte by byte below
  }
  const escaped = style === "log" ? LOG_ESCAPED : SCREEN_ESCAPED;
  if (text !== undefined) return text.replace(escaped, (c) => escapeFor(c, style));
  let out = "";
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i];
    if (b < 0x80) {
      const char = String.fromCharCode(b);
      out += char.replace(escaped, (c) => escapeFor(c, style));
      i++;
      continue;
    }
    const len = utf8Length(b);
    if (len > 0 && i + len <= bytes.length) {
      try {
        const char = strictUtf8.decode(bytes.subarray(i, i + len));
        out += isPrintable(char) ? char : escapeFor(char, style);
        i += len;
        continue;
      } catch {
        // not valid UTF-8: fall through to \xNN
      }
    }
    out += hexByte(b);
    i++;
  }
  return out;
}

/**
 * Shows bytes as text a terminal can print safely, for a log: printable ASCII and UTF-8 as they are; `\n`,
 * `\r`, `\t` and `\\` escaped; every other byte as `\xNN` (a bidi override U+202E as `\xe2\x80\xae`).
 *
 * @example
 * ```ts
 * escapeBytes(new Uint8Array([0x48, 0x69, 0x0a, 0x00])); // "Hi\\n\\x00"
 * ```
 */
export function escapeBytes(bytes: Uint8Array): string {
  return escapeAs(bytes, "log");
}

/**
 * Shows a peer's bytes as text for a person's screen (a chat line, the interactive client): the same
 * characters as escapeBytes are escaped, by code point (`\x1b`, `\u009b`, `\u202e`, `\u{e0041}`), bytes that
 * are not UTF-8 as `\xNN`; TAB and `\` are kept as they are.
 *
 * @example
 * ```ts
 * textForScreen(new TextEncoder().encode("\x1b[2Jhi\u202e")); // "\\x1b[2Jhi\\u202e"
 * ```
 */
export function textForScreen(bytes: Uint8Array): string {
  return escapeAs(bytes, "screen");
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

/**
 * One character as an escape: `\t`, `\n`, `\r`, `\x1b` (ASCII), `\u0085`, `\u202e`, `\u{e0041}`; a `\xNN`
 * above 7f is left to mean a byte that is not UTF-8.
 */
export function escapeChar(char: string): string {
  const named = TEXT_ESCAPES[char];
  if (named) return named;
  const code = char.codePointAt(0)!;
  if (code < 0x80) return `\\x${code.toString(16).padStart(2, "0")}`;
  if (code <= 0xffff) return `\\u${code.toString(16).padStart(4, "0")}`;
  return `\\u{${code.toString(16)}}`;
}

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
  return text.replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, escapeChar);
}
