import { UsageError } from "../core/errors.ts";

/**
 * Parses a TCP/UDP port number: a whole number from 0 to 65535 (0 means "any free port" when listening).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * parsePort("1234"); // 1234
 * assert.throws(() => parsePort("http"), /invalid port 'http': expected a whole number from 0 to 65535/);
 * ```
 */
export function parsePort(value: string, { allowZero = true } = {}): number {
  const min = allowZero ? 0 : 1;
  const trimmed = value.trim();
  const port = /^\d{1,5}$/.test(trimmed) ? Number(trimmed) : NaN;
  if (!Number.isInteger(port) || port < min || port > 65535) {
    throw new UsageError(`invalid port '${value}': expected a whole number from ${min} to 65535`);
  }
  return port;
}

/**
 * Validates a host given on the command line: a name or an IPv4/IPv6 address (brackets around IPv6 are
 * accepted and removed). Spaces, slashes and control characters are refused.
 */
export function parseHost(value: string): string {
  const host = value.startsWith("[") && value.endsWith("]") ? value.slice(1, -1) : value;
  if (host === "" || /[\s/\p{Cc}]/u.test(host) || host.length > 253) {
    throw new UsageError(
      `invalid host '${value}': expected a host name or an IP address such as 127.0.0.1 or ::1`,
    );
  }
  if (/^fe[89ab][0-9a-f]:/i.test(host) && !host.includes("%")) {
    throw new UsageError(
      `invalid host '${value}': a link-local IPv6 address needs its zone (interface), such as ${host}%eth0`,
    );
  }
  return host;
}

/** Formats a host and port the way users type them: `127.0.0.1:1234`, `[::1]:1234`. */
export function formatHostPort(hostname: string, port: number): string {
  return hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
}

/**
 * Validates a Unix domain socket path given with `--unix`: not empty, and short enough for the OS
 * (`sun_path` holds 108 bytes on Linux, 104 on macOS, including the final NUL).
 *
 * @example
 * ```ts
 * parseUnixPath("/tmp/sockkit.sock"); // "/tmp/sockkit.sock"
 * ```
 */
export function parseUnixPath(value: string): string {
  const bytes = new TextEncoder().encode(value).length;
  if (value.trim() === "" || value.includes("\0")) {
    throw new UsageError(`invalid --unix path '${value}': expected a file path such as /tmp/sockkit.sock`);
  }
  if (bytes > UNIX_PATH_MAX) {
    throw new UsageError(
      `invalid --unix path '${value}': ${bytes} bytes is too long for a socket path ` +
        `(at most ${UNIX_PATH_MAX}; use a shorter path, e.g. in /tmp)`,
    );
  }
  return value;
}

/** The longest Unix socket path Linux accepts, in bytes. */
export const UNIX_PATH_MAX = 107;

/**
 * Formats any Deno address: `127.0.0.1:1234`, `[::1]:1234`, `unix:/tmp/s.sock` (`unix:` if unnamed).
 * Deno's addresses carry no IPv6 zone, so a link-local address is given `zone` (such as `%eth0`, taken
 * from the address the user named) when there is one: `[fe80::1%eth0]:1234`.
 *
 * @example
 * ```ts
 * formatAddr({ transport: "tcp", hostname: "fe80::1", port: 80 }, "%eth0"); // "[fe80::1%eth0]:80"
 * ```
 */
export function formatAddr(addr: Deno.Addr, zone?: string): string {
  if ("path" in addr) return `unix:${addr.path ?? ""}`;
  if ("cid" in addr) return `vsock:${addr.cid}:${addr.port}`;
  const linkLocal = /^fe[89ab][0-9a-f]:/i.test(addr.hostname) && !addr.hostname.includes("%");
  return formatHostPort(zone && linkLocal ? addr.hostname + zone : addr.hostname, addr.port);
}

/** The zone of an IPv6 host name (`%eth0` of `fe80::1%eth0`), or undefined. */
export function zoneOf(hostname: string | undefined): string | undefined {
  return hostname ? /%[^%\]]+$/.exec(hostname)?.[0] : undefined;
}
