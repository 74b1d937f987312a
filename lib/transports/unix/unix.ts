/**
 * Unix domain stream sockets: listening replaces a stale socket file left by a server that died, refuses a
 * live one, and the file goes away when the listener closes.
 * @module
 */
import { ExitCode, SockkitError, toNetworkError } from "../../core/errors.ts";
import type { EventSink, ServerEvent } from "../../report/events.ts";
import { closeQuietly } from "../../core/io.ts";
import type { Listener, UnixEndpoint } from "../types.ts";

/**
 * Throws a clear `SockkitError` on platforms where Deno has no Unix domain sockets (Windows).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.throws(() => assertUnixSockets("windows"), /Unix domain sockets are not available on Windows/);
 * ```
 */
export function assertUnixSockets(os: string = Deno.build.os): void {
  if (os === "windows") {
    throw new SockkitError(
      "Unix domain sockets are not available on Windows (Deno does not support them there): " +
        "use TCP with a host and port instead",
      ExitCode.Failure,
    );
  }
}

function unixError(err: unknown, action: "listen" | "connect", path: string): SockkitError {
  const address = `unix:${path}`;
  const verb = action === "listen" ? "cannot listen on" : "cannot connect to";
  const fail = (reason: string) =>
    new SockkitError(`${verb} ${address}: ${reason}`, undefined, { cause: err });
  if (err instanceof Deno.errors.NotCapable) {
    return fail("not allowed (run with --allow-read --allow-write, as the README's permission list says)");
  }
  if (err instanceof Deno.errors.PermissionDenied) {
    return fail("permission denied (pick a path in a directory you can write to, such as /tmp)");
  }
  if (err instanceof Deno.errors.NotFound) {
    return action === "listen"
      ? fail("no such directory (create the directory first)")
      : fail("no such socket file (is the server running, and is this its path?)");
  }
  if (err instanceof Deno.errors.ConnectionRefused) {
    return fail("connection refused (the file exists but no server is listening on it)");
  }
  if (err instanceof TypeError && /SUN_LEN/.test(err.message)) {
    return fail("the path is too long for a socket (use a shorter one, e.g. in /tmp)");
  }
  return toNetworkError(err, action, address);
}

function isSocketFile(path: string): boolean {
  try {
    return Deno.lstatSync(path).isSocket === true;
  } catch {
    return false;
  }
}

/** True when a server accepts connections on the socket at `path`. */
async function isLive(path: string): Promise<boolean> {
  try {
    const probe = await Deno.connect({ transport: "unix", path });
    closeQuietly(probe);
    return true;
  } catch {
    return false;
  }
}

function listenOnPath(path: string): Deno.UnixListener {
  try {
    return Deno.listen({ transport: "unix", path });
  } catch (err) {
    throw unixError(err, "listen", path);
  }
}

/**
 * Listens on a Unix domain socket. When the path is taken by a socket nobody listens on (a server that
 * died), the stale file is replaced and a warning says so; a live socket is an "address already in use"
 * error, and any other file is left alone with an error. Deno removes the socket file when the listener
 * closes.
 */
export async function listenUnix(ep: UnixEndpoint, emit: EventSink<ServerEvent>): Promise<Listener> {
  assertUnixSockets();
  const { path } = ep;
  try {
    return Deno.listen({ transport: "unix", path });
  } catch (err) {
    if (!(err instanceof Deno.errors.AddrInUse)) throw unixError(err, "listen", path);
  }
  if (!isSocketFile(path)) {
    throw new SockkitError(
      `cannot listen on unix:${path}: the path exists and is not a socket (remove it, or pick another path)`,
    );
  }
  if (await isLive(path)) {
    throw new SockkitError(
      `cannot listen on unix:${path}: address already in use (a server is listening there: stop it, ` +
        `or pick another path)`,
    );
  }
  try {
    await Deno.remove(path);
  } catch (err) {
    throw unixError(err, "listen", path);
  }
  emit({
    type: "warning",
    message: `replaced the stale socket file ${path} (no server was listening on it)`,
  });
  return listenOnPath(path);
}

/** Connects to the Unix domain socket at the endpoint's path, giving up when `signal` aborts. */
export async function connectUnix(ep: UnixEndpoint, signal?: AbortSignal): Promise<Deno.UnixConn> {
  assertUnixSockets();
  if (signal?.aborted) throw toNetworkError(signal.reason, "connect", `unix:${ep.path}`);
  try {
    return await Deno.connect({ transport: "unix", path: ep.path });
  } catch (err) {
    throw unixError(err, "connect", ep.path);
  }
}
