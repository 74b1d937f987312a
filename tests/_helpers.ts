/** Shared test helpers: an in-process server on a free loopback port, raw sockets, and the real CLI. */
import { runServer, type ServerOptions } from "../server.ts";
import { runServerWorkers } from "../lib/server/loops.ts";
import type { ServerEvent, ServerSummary } from "../lib/report/events.ts";
import { concatBytes, writeAll } from "../lib/core/io.ts";
import type { Connection } from "../lib/transports/types.ts";
import { RUNTIME_FLAGS } from "../tools/compile.ts";
import { within } from "./_proc.ts";

/** A server running in this process on 127.0.0.1 (or `hostname`), port 0. */
export interface TestServer {
  port: number;
  hostname: string;
  /** The address from the "listening" event: `127.0.0.1:40000`, `[::1]:40000`, `unix:/tmp/s.sock`. */
  address: string;
  events: ServerEvent[];
  /** Resolves with the first event that matches (already seen or still to come). */
  waitFor(match: (e: ServerEvent) => boolean): Promise<ServerEvent>;
  /** Stops the server (as Ctrl-C does) and resolves to its summary. */
  stop(): Promise<ServerSummary>;
}

/** Starts `runServer` (on `workers` event loops: `runServerWorkers`) on a free port; resolves once it listens. */
export async function startServer(
  opts: Partial<ServerOptions> & { hostname?: string; workers?: number } = {},
): Promise<TestServer> {
  const hostname = opts.hostname ?? "127.0.0.1";
  const ac = new AbortController();
  const events: ServerEvent[] = [];
  const watchers: { match: (e: ServerEvent) => boolean; resolve: (e: ServerEvent) => void }[] = [];
  const onEvent = (e: ServerEvent) => {
    events.push(e);
    for (const w of [...watchers]) {
      if (w.match(e)) {
        watchers.splice(watchers.indexOf(w), 1);
        w.resolve(e);
      }
    }
  };
  const waitFor = (match: (e: ServerEvent) => boolean) =>
    new Promise<ServerEvent>((resolve) => {
      const seen = events.find(match);
      if (seen) return resolve(seen);
      watchers.push({ match, resolve });
    });
  const { workers, ...rest } = opts;
  const serverOpts = {
    endpoint: { transport: "tcp", hostname, port: 0 },
    graceMs: 500,
    ...rest,
  } as ServerOptions;
  const ctx = { signal: ac.signal, onEvent };
  const done = workers ? runServerWorkers(serverOpts, workers, ctx) : runServer(serverOpts, ctx);
  done.catch(() => {});
  const listening = await Promise.race([waitFor((e) => e.type === "listening"), done]);
  if (!("type" in listening) || listening.type !== "listening") throw new Error("server did not start");
  // HOST:PORT, [::1]:PORT or ws://HOST:PORT/PATH (a Unix socket has no port: NaN)
  const port = Number(/:(\d+)(?:\/[^:]*)?$/.exec(listening.address)?.[1]);
  return {
    port,
    hostname,
    address: listening.address,
    events,
    waitFor,
    stop: () => {
      ac.abort();
      return done;
    },
  };
}

/** Reads until `n` bytes arrived (or the peer closed) and returns them. */
export async function readExactly(conn: Deno.Conn, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const r = await conn.read(out.subarray(got));
    if (r === null) return out.subarray(0, got);
    got += r;
  }
  return out;
}

/** Reads until the peer closes and returns everything. */
export async function readToEnd(conn: Connection): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const buf = new Uint8Array(64 * 1024);
  while (true) {
    const n = await conn.read(buf);
    if (n === null) break;
    chunks.push(buf.slice(0, n));
  }
  return concat(chunks);
}

/** Joins byte arrays. */
export function concat(chunks: Uint8Array[]): Uint8Array {
  return concatBytes(...chunks);
}

/** SHA-256 of bytes, as hex. */
export async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Random bytes of any length (getRandomValues fills at most 64 KiB at a time). */
export function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(out.subarray(i, Math.min(n, i + 65536)));
  return out;
}

/** Sends `data` on `conn`, half-closes, and returns everything that comes back. */
export async function roundTripOn(conn: Connection, data: Uint8Array): Promise<Uint8Array> {
  const [reply] = await Promise.all([readToEnd(conn), writeAll(conn, data).then(() => conn.closeWrite())]);
  return reply;
}

/** Sends `data`, half-closes, and returns everything that comes back. */
export async function echoRoundTrip(
  port: number,
  data: Uint8Array,
  hostname = "127.0.0.1",
): Promise<Uint8Array> {
  using conn = await Deno.connect({ hostname, port });
  return await roundTripOn(conn, data);
}

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** The permissions the README lists for sockkit (and the compiled binary gets), never prompting. */
export const CLI_PERMISSIONS: readonly string[] = RUNTIME_FLAGS;

/** The result of running the real CLI. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `deno run main.ts …args` with the permissions the README documents, and collects its output. */
export async function runCli(
  args: string[],
  opts: { stdin?: Uint8Array; env?: Record<string, string>; retryRefused?: number; permissions?: string[] } =
    {},
): Promise<CliResult> {
  for (let attempt = 1;; attempt++) {
    const result = await runCliOnce(args, opts);
    const refused = result.code === 1 && /connection refused/.test(result.stderr);
    if (!refused || attempt >= (opts.retryRefused ?? 1)) return result;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function runCliOnce(
  args: string[],
  opts: { stdin?: Uint8Array; env?: Record<string, string>; permissions?: string[] },
) {
  const cmd = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", ...(opts.permissions ?? CLI_PERMISSIONS), MAIN, ...args],
    stdin: opts.stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
    env: opts.env,
  });
  const child = cmd.spawn();
  if (opts.stdin) {
    const w = child.stdin.getWriter();
    await w.write(opts.stdin);
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) } as CliResult;
}

/** A CLI process left running (a server), with its output read line by line. */
export interface CliProcess {
  child: Deno.ChildProcess;
  /** Resolves with the first stdout line matching `re` (lines are kept; earlier ones count). */
  line(re: RegExp): Promise<string>;
  lines: string[];
  /** Sends a signal and resolves once the process exited, with everything it printed. */
  stop(signal?: Deno.Signal): Promise<CliResult>;
}

/** How long `CliProcess.line` waits before failing the test: long enough for a loaded CI machine. */
const LINE_WAIT_MS = 30_000;

/** Spawns `deno run main.ts …args` and follows its stdout. */
export function spawnCli(
  args: string[],
  opts: { env?: Record<string, string>; permissions?: string[] } = {},
): CliProcess {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", ...(opts.permissions ?? CLI_PERMISSIONS), MAIN, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: opts.env,
  }).spawn();
  const lines: string[] = [];
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  const stderrText = new Response(child.stderr).text();
  const reading = (async () => {
    const decoder = child.stdout.pipeThrough(new TextDecoderStream());
    let pending = "";
    for await (const chunk of decoder) {
      pending += chunk;
      let nl;
      while ((nl = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        lines.push(line);
        for (const w of [...waiters]) {
          if (w.re.test(line)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(line);
          }
        }
      }
    }
  })();
  return {
    child,
    lines,
    line: (re) => {
      let waiter: { re: RegExp; resolve: (l: string) => void } | undefined;
      const found = new Promise<string>((resolve, reject) => {
        const seen = lines.find((l) => re.test(l));
        if (seen) return resolve(seen);
        waiter = { re, resolve };
        waiters.push(waiter);
        reading.then(() =>
          reject(new Error(`process ended before printing ${re}; printed:\n${lines.join("\n")}`))
        );
      });
      // a line that never comes fails the test with what was printed instead of hanging the suite
      return within(found, LINE_WAIT_MS, `a line matching ${re}`)
        .catch((e) => {
          throw new Error(`${(e as Error).message}; printed:\n${lines.join("\n")}`);
        })
        .finally(() => {
          if (waiter && waiters.includes(waiter)) waiters.splice(waiters.indexOf(waiter), 1);
        });
    },
    stop: async (signal = "SIGINT") => {
      try {
        child.kill(signal);
      } catch { /* already gone */ }
      const [status, stderr] = await Promise.all([child.status, stderrText, reading]);
      return { code: status.code, stdout: lines.join("\n"), stderr };
    },
  };
}

/** The port a spawned server printed in its "Listening on" line. */
export async function portOf(server: CliProcess): Promise<string> {
  return (await server.line(/^Listening on /)).match(/:(\d+) /)![1];
}

/**
 * A TCP port free on 127.0.0.1 right now, and not `avoid` (for a process that must be told its port before
 * it binds it: a relay pointed at itself, a redis-server).
 */
export function freePort(avoid?: number): number {
  const held = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (held.addr as Deno.NetAddr).port;
  held.close();
  return port === avoid ? freePort(avoid) : port;
}

/** Whether `name` is a command on PATH (a peer a test needs, such as openssl or python3). */
export function hasCommand(name: string): boolean {
  return new Deno.Command("sh", { args: ["-c", `command -v ${name}`], stdout: "null", stderr: "null" })
    .outputSync().success;
}
