/**
 * WebSocket close codes (RFC 6455 section 7.4): their names as sockkit prints them, and the code the server
 * closes with for each reason it has (`too slow`, `server full`, `message too big`, shutting down).
 * @module
 */

/** The registered close codes, named as `closed by peer: 1008 policy violation` prints them. */
export const CLOSE_NAMES: Record<number, string> = {
  1000: "normal closure",
  1001: "going away",
  1002: "protocol error",
  1003: "unsupported data",
  1005: "no status",
  1006: "abnormal closure",
  1007: "invalid payload",
  1008: "policy violation",
  1009: "message too big",
  1010: "mandatory extension",
  1011: "internal error",
  1012: "service restart",
  1013: "try again later",
  1014: "bad gateway",
  1015: "TLS handshake failure",
};

/** Normal closure. */
export const CLOSE_NORMAL = 1000;
/** The server is going away (shutting down), or a peer did not answer a ping. */
export const CLOSE_GOING_AWAY = 1001;
/** The peer broke a rule of the server (too slow, idle, cross-site). */
export const CLOSE_POLICY = 1008;
/** A message was over `--max-message`. */
export const CLOSE_TOO_BIG = 1009;
/** The server is full (`--max-conns`): try again later. */
export const CLOSE_TRY_LATER = 1013;

/**
 * A close code with its name and the reason, if any: `1008 policy violation (too slow)`.
 *
 * @example
 * ```ts
 * describeClose(1009, "over 1 MiB"); // "1009 message too big (over 1 MiB)"
 * describeClose(4000, ""); // "4000"
 * ```
 */
export function describeClose(code: number, reason: string): string {
  const name = CLOSE_NAMES[code];
  return `${code}${name ? ` ${name}` : ""}${reason ? ` (${reason})` : ""}`;
}

/** The code the server closes with for one of its reasons (as the server log words them). */
export function closeCodeFor(reason: string | undefined): number {
  if (reason === undefined) return CLOSE_NORMAL;
  if (/^server full/.test(reason)) return CLOSE_TRY_LATER;
  if (/shutting down/.test(reason)) return CLOSE_GOING_AWAY;
  return CLOSE_POLICY;
}

/** A close reason cut to the 123 bytes a close frame may carry, on a character boundary. */
export function closeReasonText(reason: string): string {
  const bytes = new TextEncoder().encode(reason);
  if (bytes.length <= 123) return reason;
  let text = reason;
  while (new TextEncoder().encode(text + "…").length > 123) text = text.slice(0, -1);
  return text + "…";
}
