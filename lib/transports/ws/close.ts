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

/**
 * What an error event of the npm `ws` framing says about a peer that broke the protocol (its `WS_ERR_…`
 * errors; `ws` has already sent the close frame): the code it closed with and the reason for the log, or
 * undefined for any other error. `limit` names the message limit: `--max-message (1048576 bytes)`.
 *
 * @example
 * ```ts ignore
 * socket.addEventListener("error", (e) => console.log(protocolFailure(e, "--max-message (1024 bytes)")));
 * ```
 */
export function protocolFailure(event: Event, limit: string): { code: number; reason: string } | undefined {
  const { message, error } = event as ErrorEvent;
  if (!(error instanceof Error) || !String((error as { code?: unknown }).code).startsWith("WS_ERR_")) {
    return undefined;
  }
  let code = 1002;
  for (const key of Object.getOwnPropertySymbols(error)) {
    const value = (error as unknown as Record<symbol, unknown>)[key];
    if (typeof value === "number" && value >= 1000 && value < 5000) code = value;
  }
  if (code === CLOSE_TOO_BIG && /max payload/i.test(message)) {
    return { code, reason: `a message over ${limit}` };
  }
  return { code, reason: `protocol error: ${message} (closed with ${code})` };
}
