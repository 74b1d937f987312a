/**
 * The cross-site WebSocket hijacking check: a browser sends the page's `Origin` with every WebSocket upgrade
 * (and cookies too), so a page on another site could use a visitor's browser to talk to a server on their
 * network. An upgrade whose `Origin` names a different host (and port) than its `Host` header is refused
 * unless `--allow-origin` lists that origin; a request without `Origin` (not a browser: curl, the npm `ws`
 * package, sockkit client) is let in.
 * @module
 */

/** An origin as compared: `scheme://host[:port]` in lower case with the scheme's default port left out. */
export function normalOrigin(origin: string): string | undefined {
  if (origin === "null") return "null";
  try {
    const url = new URL(origin);
    return url.host === "" ? undefined : `${url.protocol}//${url.host}`.toLowerCase();
  } catch {
    return undefined;
  }
}

/**
 * Why an upgrade is refused for its `Origin`, or undefined when it may go on: no `Origin`, the same host and
 * port as the `Host` header, or an origin listed in `allowed` (`*`: any).
 *
 * @example
 * ```ts
 * originRefusal("http://localhost:8080", "localhost:8080", []); // undefined
 * originRefusal("https://evil.example", "localhost:8080", []);
 * // "cross-site request: Origin https://evil.example is not this server (localhost:8080); --allow-origin lets it in"
 * originRefusal("https://app.example", "localhost:8080", ["https://app.example"]); // undefined
 * ```
 */
export function originRefusal(
  origin: string | null,
  host: string | null,
  allowed: readonly string[] = [],
  /** What the reason ends with: how to let the origin in (`--web` has no `--allow-origin`). */
  hint = "; --allow-origin lets it in",
): string | undefined {
  if (origin === null) return undefined;
  const wanted = normalOrigin(origin);
  if (allowed.includes("*")) return undefined;
  if (wanted !== undefined && allowed.some((a) => normalOrigin(a) === wanted)) return undefined;
  if (wanted !== undefined && wanted !== "null" && host) {
    const scheme = wanted.slice(0, wanted.indexOf("//"));
    const ours = normalOrigin(`${scheme}//${host}`);
    if (ours !== undefined && ours === wanted) return undefined;
  }
  const shown = origin.replace(/[^\x21-\x7e]/g, "?").slice(0, 200);
  return `cross-site request: Origin ${shown} is not this server (${
    (host ?? "no Host").replace(/[^\x21-\x7e]/g, "?").slice(0, 200)
  })${hint}`;
}

/**
 * Parses one `--allow-origin` value: `scheme://host[:port]`, `null`, or `*`.
 *
 * @example
 * ```ts
 * parseAllowOrigin("https://App.Example:443"); // "https://app.example"
 * ```
 */
export function parseAllowOrigin(value: string): string | undefined {
  if (value === "*") return "*";
  const origin = normalOrigin(value.trim());
  if (origin === undefined || !/^(https?:\/\/|null$)/.test(origin)) return undefined;
  return origin;
}
