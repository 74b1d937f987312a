/**
 * Watching a sockkit server from outside, as an operator would: a child process started under a
 * file-descriptor limit (`ulimit -n`), its JSON events, its resident memory and its open descriptors
 * (read from Linux `/proc`). Used by the reliability tests and by `deno task stress`.
 * @module
 */

import { RUNTIME_FLAGS } from "../tools/compile.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** The flags `deno task server` runs sockkit with: its permissions and `--unstable-net`. */
export const SERVER_FLAGS: string[] = RUNTIME_FLAGS.filter((t) => /^--(allow-|unstable-)/.test(t));

/** True where `/proc` and `sh -c 'ulimit -n …'` exist, which the process-level checks need. */
export const IS_LINUX: boolean = Deno.build.os === "linux";

/** One JSON line printed by `sockkit server --json` (events on stdout, warnings on stderr). */
export type JsonEvent = { type: string; time: string; [key: string]: unknown };

/** How a process ended. */
export interface Exit {
  code: number;
  /** `performance.now()` when the exit was seen. */
  at: number;
}

/**
 * Runs `args` under `sh -c 'ulimit -n LIMIT; exec …'`: Deno cannot change its own limits, so the limit is
 * set by the shell that then becomes the command. `"max"` raises the soft limit to the hard one.
 */
export function spawnLimited(
  args: string[],
  fdLimit: number | "max" | undefined,
  io: { stdout?: "piped" | "null"; stderr?: "piped" | "null" } = {},
): Deno.ChildProcess {
  const script = fdLimit === undefined
    ? 'exec "$@"'
    : 'l=$1; [ "$l" = max ] && l=$(ulimit -Hn); ulimit -n "$l" || exit 97; shift; exec "$@"';
  const limitArg = fdLimit === undefined ? [] : [String(fdLimit)];
  return new Deno.Command("sh", {
    args: ["-c", script, "sh", ...limitArg, ...args],
    stdin: "null",
    stdout: io.stdout ?? "piped",
    stderr: io.stderr ?? "piped",
  }).spawn();
}

/** The `deno run` command line for a script with the given permission flags. */
export function denoRun(script: string, flags: string[], args: string[] = []): string[] {
  return [Deno.execPath(), "run", "--quiet", ...flags, script, ...args];
}

/**
 * The output of a shell command. Reading /proc needs `--allow-all` in Deno 2, so /proc is read by a small
 * `sh` child instead: `--allow-run` is enough.
 */
async function shell(script: string): Promise<string> {
  const out = await new Deno.Command("sh", { args: ["-c", script], stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) throw new Error(`'${script}' failed: ${new TextDecoder().decode(out.stderr).trim()}`);
  return new TextDecoder().decode(out.stdout);
}

/** Resident set size of a process in KiB (VmRSS from `/proc/PID/status`). */
export async function rssKiB(pid: number): Promise<number> {
  const match = /^VmRSS:\s+(\d+) kB/m.exec(await shell(`cat /proc/${pid}/status`));
  if (!match) throw new Error(`no VmRSS for process ${pid}`);
  return Number(match[1]);
}

/** How many file descriptors a process has open (`/proc/PID/fd`; "self" is this process). */
export async function openFds(pid: number | "self"): Promise<number> {
  return Number(await shell(`ls /proc/${pid === "self" ? Deno.pid : pid}/fd | wc -l`));
}

/**
 * The sockets a process has open: what a leaked connection or listener adds. Unlike the count of all
 * descriptors it does not move when the runtime opens or closes a pipe or an event descriptor of its own.
 */
export async function openSockets(pid: number | "self"): Promise<number> {
  return Number(await shell(`find /proc/${pid === "self" ? Deno.pid : pid}/fd -lname 'socket:*' | wc -l`));
}

/** The soft limit on open files of a process (`/proc/PID/limits`). */
export async function fdLimitOf(pid: number): Promise<number> {
  const match = /^Max open files\s+(\d+)/m.exec(await shell(`cat /proc/${pid}/limits`));
  if (!match) throw new Error(`no open-file limit for process ${pid}`);
  return Number(match[1]);
}

/** The machine, for reports: CPU count and model, memory, Deno version. */
export async function machineDescription(): Promise<string> {
  const info = await shell(
    "grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2; grep -m1 '^MemTotal' /proc/meminfo",
  );
  const [cpu, mem] = info.split("\n");
  const memKiB = Number(/(\d+)/.exec(mem ?? "")?.[1] ?? 0);
  return `${navigator.hardwareConcurrency} CPUs (${cpu?.trim() || "unknown CPU"}), ` +
    `${(memKiB / 1024 / 1024).toFixed(1)} GiB RAM, Deno ${Deno.version.deno}`;
}

/** Resolves with `promise`, or rejects after `ms` with a message naming what was awaited. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Calls `onLine` for every line of a byte stream; resolves when the stream ends. */
export async function forEachLine(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void) {
  let pending = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    pending += chunk;
    let nl;
    while ((nl = pending.indexOf("\n")) >= 0) {
      onLine(pending.slice(0, nl));
      pending = pending.slice(nl + 1);
    }
  }
  if (pending) onLine(pending);
}

/** What `spawnServer` takes. */
export interface ServerProcessOptions {
  /** Extra arguments after `server 0 --host 127.0.0.1 --json`. */
  args?: string[];
  /** Listen here instead of `0 --host 127.0.0.1` (an address spec such as `ws://127.0.0.1:0/`). */
  listen?: string;
  /** `ulimit -n` for the server: a number, or "max" for the hard limit (default: inherited). */
  fdLimit?: number | "max";
  /** Which events to keep in `events` besides listening and summary (default all); all are counted. */
  keep?: (e: JsonEvent) => boolean;
  /** V8 flags for the server, e.g. `--trace-gc` (its lines land in `otherLines`). */
  v8Flags?: string[];
  /** Called with every event as it is read. */
  onEvent?: (e: JsonEvent) => void;
}

const ALWAYS_KEPT = ["listening", "summary"];

/** A `sockkit server --json` child process on 127.0.0.1 and a free port. */
export interface ServerProcess {
  pid: number;
  port: number;
  /** The events kept so far, warnings included, in the order they were read. */
  events: JsonEvent[];
  /** How many events of each type were printed. */
  counts: Map<string, number>;
  /** Lines that were not JSON events (a crash would print its stack trace here). */
  otherLines: string[];
  /** Resolves once the process exited. */
  exited: Promise<Exit>;
  /** Resolves with the first kept event that matches, or rejects after `timeoutMs`. */
  waitFor(match: (e: JsonEvent) => boolean, timeoutMs: number, what?: string): Promise<JsonEvent>;
  /** Resolves once `count(type) >= n`, or rejects after `timeoutMs`. */
  waitForCount(type: string, n: number, timeoutMs: number): Promise<void>;
  /** Sends `signal` (SIGTERM by default) and resolves once the process exited. */
  stop(signal?: Deno.Signal, timeoutMs?: number): Promise<Exit>;
}

/**
 * Starts `sockkit server 0 --host 127.0.0.1 --json` as a child process, with the flags of `deno task server`,
 * and resolves once it listens.
 */
export async function spawnServer(opts: ServerProcessOptions = {}): Promise<ServerProcess> {
  const child = spawnLimited(
    denoRun(
      MAIN,
      [...SERVER_FLAGS, ...(opts.v8Flags?.length ? [`--v8-flags=${opts.v8Flags.join(",")}`] : [])],
      [
        "server",
        ...(opts.listen ? [opts.listen] : ["0", "--host", "127.0.0.1"]),
        "--json",
        ...(opts.args ?? []),
      ],
    ),
    opts.fdLimit,
  );
  const events: JsonEvent[] = [];
  const counts = new Map<string, number>();
  const otherLines: string[] = [];
  const waiters = new Set<() => void>();
  const onLine = (line: string) => {
    let event: JsonEvent;
    try {
      event = JSON.parse(line);
    } catch {
      otherLines.push(line);
      return;
    }
    counts.set(event.type, (counts.get(event.type) ?? 0) + 1);
    opts.onEvent?.(event);
    if (ALWAYS_KEPT.includes(event.type) || !opts.keep || opts.keep(event)) events.push(event);
    for (const w of [...waiters]) w();
  };
  const reading = Promise.all([forEachLine(child.stdout, onLine), forEachLine(child.stderr, onLine)]);
  let ended = false;
  const exited = Promise.all([child.status, reading]).then(([s]) => {
    ended = true;
    for (const w of [...waiters]) w();
    return { code: s.code, at: performance.now() };
  });

  const until = <T>(check: () => T | undefined, timeoutMs: number, what: string) => {
    let test = () => {};
    const found = new Promise<T>((resolve, reject) => {
      test = () => {
        const value = check();
        if (value !== undefined) resolve(value);
        else if (ended) {
          reject(new Error(`server exited before ${what}; it printed:\n${otherLines.join("\n")}`));
        }
      };
      waiters.add(test);
      test();
    });
    return within(found, timeoutMs, what).finally(() => waiters.delete(test));
  };

  const server: ServerProcess = {
    pid: child.pid,
    port: 0,
    events,
    counts,
    otherLines,
    exited,
    waitFor: (match, timeoutMs, what = "an event") => until(() => events.find(match), timeoutMs, what),
    waitForCount: (type, n, timeoutMs) =>
      until(() => ((counts.get(type) ?? 0) >= n ? true : undefined), timeoutMs, `${n} '${type}' events`)
        .then(() => {}),
    stop: async (signal = "SIGTERM", timeoutMs = 15_000) => {
      if (!ended) {
        try {
          child.kill(signal);
        } catch { /* already gone */ }
      }
      return await within(exited, timeoutMs, "the server to exit");
    },
  };
  try {
    const listening = await server.waitFor((e) => e.type === "listening", 20_000, "the server to listen");
    const address = String(listening.address);
    server.port = Number(/:(\d+)(?:\/.*)?$/.exec(address)![1]);
  } catch (err) {
    await server.stop("SIGKILL");
    throw err;
  }
  return server;
}
