/**
 * The checks an upgrade passes before a WebSocket is opened for it, shared by `ws://`/`wss://` listeners and
 * `--web`'s `/ws`: a `Host` that names this server (DNS rebinding: a page of `evil.example` whose name was
 * made to point at 127.0.0.1 sends `Host: evil.example` and its own, matching, `Origin`), and a well-formed
 * handshake (RFC 6455 §4.2.1: `Sec-WebSocket-Version: 13`, a `Sec-WebSocket-Key` of 16 bytes in base64).
 * @module
 */
import { normalOrigin } from "./origin.ts";

/** Why an upgrade is turned away: the HTTP status, the reason (for the log and the body) and extra headers. */
export interface HandshakeRefusal {
  status: number;
  reason: string;
  headers?: Record<string, string>;
}

/** `value` as shown in a log line: printable ASCII only, at most 200 characters. */
function shown(value: string): string {
  return value.replace(/[^\x21-\x7e]/g, "?").slice(0, 200);
}

/** The host name of a `Host` header (`name:port`, `[v6]:port`), in lower case, or undefined when malformed. */
function hostName(host: string): string | undefined {
  if (/[/@?#\\\s]/.test(host)) return undefined;
  try {
    const url = new URL(`http://${host}`);
    return url.hostname.toLowerCase();
  } catch {
    return undefined;
  }
}

/** True for an IP address literal (a rebinding attack needs a name: a literal address names itself). */
function isAddressLiteral(name: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(name) || /^\[[0-9a-f:.]+\]$/.test(name);
}

/**
 * Why `host` (the request's `Host` header) does not name this server, or undefined when it does: an IP
 * address, `localhost` (or a name under it), the name the server listens on, or the host of an origin in
 * `allowedOrigins` (`--allow-origin`; `*` lets any host in).
 *
 * @example
 * ```ts
 * hostRefusal("localhost:8080", "0.0.0.0", []); // undefined
 * hostRefusal("evil.example:8080", "0.0.0.0", []);
 * // "Host evil.example:8080 is not this server (DNS rebinding?); --allow-origin http://evil.example:8080 lets it in"
 * ```
 */
export function hostRefusal(
  host: string | null,
  listenHostname: string,
  allowedOrigins: readonly string[] = [],
): string | undefined {
  if (host === null || host === "") return "no Host header";
  const name = hostName(host);
  if (name === undefined) return `malformed Host header ${shown(host)}`;
  if (allowedOrigins.includes("*")) return undefined;
  if (isAddressLiteral(name) || name === "localhost" || name.endsWith(".localhost")) return undefined;
  if (name === listenHostname.toLowerCase()) return undefined;
  for (const origin of allowedOrigins) {
    const normal = normalOrigin(origin);
    if (normal && normal !== "null" && new URL(normal).hostname === name) return undefined;
  }
  return `Host ${shown(host)} is not this server (DNS rebinding?); --allow-origin http://${
    shown(host)
  } lets it in`;
}

/**
 * Why the handshake headers are not a valid RFC 6455 upgrade, or undefined when they are: 426 (with
 * `Sec-WebSocket-Version: 13`) for another version, 400 for a missing or malformed key.
 *
 * @example
 * ```ts
 * handshakeRefusal(new Headers({ "sec-websocket-version": "8" }))?.status; // 426
 * ```
 */
export function handshakeRefusal(headers: Headers): HandshakeRefusal | undefined {
  const version = headers.get("sec-websocket-version");
  if (version?.trim() !== "13") {
    return {
      status: 426,
      reason: `unsupported Sec-WebSocket-Version ${
        version === null ? "(none)" : shown(version)
      }: only 13 is spoken`,
      headers: { "sec-websocket-version": "13" },
    };
  }
  const key = headers.get("sec-websocket-key");
  if (key === null) return { status: 400, reason: "bad handshake: no Sec-WebSocket-Key" };
  const trimmed = key.trim();
  if (!/^[A-Za-z0-9+/]{22}==$/.test(trimmed)) {
    return {
      status: 400,
      reason: `bad handshake: Sec-WebSocket-Key ${shown(key)} is not 16 bytes of base64`,
    };
  }
  return undefined;
}
