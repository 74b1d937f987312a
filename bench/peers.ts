/**
 * The peer comparison. Starts echo servers on loopback (sockkit, Node `net`, the same `node:net` script run by
 * Deno, the classic Python thread-per-client server, socat, a minimal C epoll server) and broadcast servers
 * (sockkit `--mode broadcast`, a Node `net` broadcast server, the same script under Deno), every one pinned to
 * CPU 0, and loads them with the native generator `bench/peers/loadgen.c` pinned to CPU 1. Rounds alternate
 * across servers (round 1: every server once, round 2: every server once, …); every figure is the median of the
 * rounds. Writes a markdown report (bench/RESULTS.md) with ratios against Node and C from the same run and the
 * verdict on every target of issue 10.
 *
 * Usage: deno task bench:peers [--duration 3s] [--reps 3] [--only sockkit,node,c] [--quick] [--out FILE]
 * @module
 */
import { parseArgs } from "node:util";
import { hubBenchSection } from "./hub.ts";
import type { BenchResult } from "../lib/bench/run.ts";
import { parseDuration } from "../lib/core/duration.ts";
import { sleep } from "../lib/core/io.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const MAIN = `${ROOT}main.ts`;
const PEERS_DIR = `${ROOT}bench/peers`;
/** At or above this share of its core, the generator is taken as saturated. */
const SATURATED = 90;
/** Idle connections a fresh server holds for the memory figure. */
const HOLD = 2000;
/** Idle connections held while a new client's echo is timed. */
const HOLD_MANY = 10_000;
/** The file-descriptor limit every server and the generator run under (HOLD_MANY and some to spare). */
const FD_LIMIT = 16_384;
const decoder = new TextDecoder();

type Kind = "echo" | "broadcast" | "relay";
type Key = "pp50" | "pp500" | "bulk" | "fanout" | "memory" | "many" | "benchC" | "rbulk" | "rpp200";

/** One server the suite starts. */
interface Server {
  /** What `--only` matches (`--only node` also picks `node-broadcast`). */
  id: string;
  /** Its column title. */
  name: string;
  kind: Kind;
  /** The tool it needs, checked before the suite starts. */
  needs: string;
  /** Its command line on `port` (`tmp` holds the compiled C programs; a relay forwards to `target`). */
  command(port: number, tmp: string, target: number): string[];
  /** The measurements it takes part in. */
  keys: Key[];
  /** Forks a process per connection (memory is then the processes' summed Pss). */
  forks?: boolean;
  /** Why it sits out the 10,000-connection row, if it does. */
  noMany?: string;
}

const ECHO_KEYS: Key[] = ["pp50", "pp500", "bulk", "memory", "many"];
/** Relays are measured with the native generator through them to a C echo server (pinned with the load). */
const RELAY_KEYS: Key[] = ["rbulk", "rpp200"];
const deno = (
  script: string,
  args: string[],
  flags: string[] = [],
) => [Deno.execPath(), "run", "--quiet", "--allow-net", ...flags, script, ...args];
/** A sockkit relay as the launcher runs it: its workers load their module and bind with SO_REUSEPORT. */
const sockkitRelay = (port: number, target: number, extra: string[] = []) =>
  deno(MAIN, ["relay", `127.0.0.1:${port}`, `127.0.0.1:${target}`, "--quiet", ...extra], [
    "--allow-read",
    "--unstable-net",
  ]);
/** A sockkit server as the launcher runs it: its event loops load their module and bind with SO_REUSEPORT. */
const sockkit = (port: number, extra: string[]) =>
  deno(MAIN, ["server", String(port), "--host", "127.0.0.1", ...extra], ["--allow-read", "--unstable-net"]);

const SERVERS: Server[] = [
  {
    id: "sockkit",
    name: "sockkit",
    kind: "echo",
    needs: "deno",
    command: (p) => sockkit(p, []),
    keys: ECHO_KEYS,
  },
  {
    id: "sockkit-quiet",
    name: "sockkit --quiet",
    kind: "echo",
    needs: "deno",
    command: (p) => sockkit(p, ["--quiet"]),
    keys: ["pp50", "pp500"],
  },
  {
    id: "sockkit-1loop",
    name: "sockkit --workers 1",
    kind: "echo",
    needs: "deno",
    command: (p) => sockkit(p, ["--workers", "1"]),
    keys: ["pp50", "pp500", "bulk"],
  },
  {
    id: "sockkit-node",
    name: "sockkit --io node",
    kind: "echo",
    needs: "deno",
    command: (p) => sockkit(p, ["--io", "node"]),
    keys: ECHO_KEYS,
  },
  {
    id: "node",
    name: "Node",
    kind: "echo",
    needs: "node",
    command: (p) => ["node", `${PEERS_DIR}/node_echo.mjs`, String(p)],
    keys: ECHO_KEYS,
  },
  {
    id: "deno-node",
    name: "Deno node:net",
    kind: "echo",
    needs: "deno",
    command: (p) => deno(`${PEERS_DIR}/node_echo.mjs`, [String(p)]),
    keys: ECHO_KEYS,
  },
  {
    id: "python",
    name: "Python",
    kind: "echo",
    needs: "python3",
    command: (p) => ["python3", `${PEERS_DIR}/py_echo.py`, String(p)],
    keys: ECHO_KEYS,
    noMany: "a thread per connection",
  },
  {
    id: "socat",
    name: "socat",
    kind: "echo",
    needs: "socat",
    // -b 4096: with its default 8192-byte transfers, socat's PIPE can deadlock on itself under bulk load (a write
    // into the full pipe blocks the one process that would read it). backlog: 500 connections arrive at once.
    command: (
      p,
    ) => ["socat", "-b", "4096", `TCP-LISTEN:${p},bind=127.0.0.1,fork,reuseaddr,backlog=1024`, "PIPE"],
    keys: ECHO_KEYS,
    forks: true,
    noMany: "a process per connection",
  },
  {
    id: "c",
    name: "C epoll",
    kind: "echo",
    needs: "cc",
    command: (p, tmp) => [`${tmp}/epoll_echo`, String(p)],
    keys: [...ECHO_KEYS, "benchC"],
  },
  {
    id: "sockkit-broadcast",
    name: "sockkit broadcast",
    kind: "broadcast",
    needs: "deno",
    command: (p) => sockkit(p, ["--mode", "broadcast"]),
    keys: ["fanout"],
  },
  {
    id: "sockkit-node-broadcast",
    name: "sockkit --io node broadcast",
    kind: "broadcast",
    needs: "deno",
    command: (p) => sockkit(p, ["--mode", "broadcast", "--io", "node"]),
    keys: ["fanout"],
  },
  {
    id: "node-broadcast",
    name: "Node broadcast",
    kind: "broadcast",
    needs: "node",
    command: (p) => ["node", `${PEERS_DIR}/node_broadcast.mjs`, String(p)],
    keys: ["fanout"],
  },
  {
    id: "deno-broadcast",
    name: "Deno node:net broadcast",
    kind: "broadcast",
    needs: "deno",
    command: (p) => deno(`${PEERS_DIR}/node_broadcast.mjs`, [String(p)]),
    keys: ["fanout"],
  },
  {
    id: "sockkit-relay",
    name: "sockkit relay",
    kind: "relay",
    needs: "deno",
    command: (p, _tmp, t) => sockkitRelay(p, t),
    keys: RELAY_KEYS,
  },
  {
    id: "sockkit-relay-1",
    name: "sockkit relay --workers 1",
    kind: "relay",
    needs: "deno",
    command: (p, _tmp, t) => sockkitRelay(p, t, ["--workers", "1"]),
    keys: RELAY_KEYS,
  },
  {
    id: "sockkit-node-relay",
    name: "sockkit --io node relay",
    kind: "relay",
    needs: "deno",
    command: (p, _tmp, t) => sockkitRelay(p, t, ["--io", "node"]),
    keys: RELAY_KEYS,
  },
  {
    id: "socat-relay",
    name: "socat relay",
    kind: "relay",
    needs: "socat",
    command: (p, _tmp, t) => [
      "socat",
      "-b",
      "65536",
      `TCP-LISTEN:${p},bind=127.0.0.1,fork,reuseaddr,backlog=1024`,
      `TCP:127.0.0.1:${t}`,
    ],
    keys: RELAY_KEYS,
    forks: true,
  },
  {
    id: "node-relay",
    name: "Node relay",
    kind: "relay",
    needs: "node",
    command: (p, _tmp, t) => ["node", `${PEERS_DIR}/node_relay.mjs`, String(p), "127.0.0.1", String(t)],
    keys: RELAY_KEYS,
  },
];

/** What one loadgen (or sockkit bench) run printed, plus the server's CPU while it ran. */
type Result = Record<string, number | boolean | string> & { serverCpu?: number };

/** Every run of every server, by measurement: `runs[id][key]` lists one result per round. */
type Runs = Record<string, Partial<Record<Key, Result[]>>>;

interface Options {
  seconds: number;
  reps: number;
  bulkBytes: number;
  tmp: string;
  pin: Pinning;
  /** The port of the C echo server the relays forward to (0 when no relay runs). */
  relayTarget: number;
}

interface Pinning {
  server: string[];
  load: string[];
  text: string;
}

/** The 1-minute load average after each round: how much else the machine was doing. */
const loadAverages: number[] = [];

/** Problems seen during the run (a generator error, a server that would not start), listed in the report. */
const problems: string[] = [];

function log(line: string): void {
  console.error(line);
}

function hasTool(name: string): boolean {
  if (name === "deno") return true;
  return new Deno.Command("sh", { args: ["-c", `command -v ${name}`], stdout: "null", stderr: "null" })
    .outputSync().success;
}

function runText(cmd: string[]): string {
  try {
    const out = new Deno.Command(cmd[0], { args: cmd.slice(1), stdout: "piped", stderr: "piped" })
      .outputSync();
    return decoder.decode(out.stdout).trim() || decoder.decode(out.stderr).trim();
  } catch {
    return "";
  }
}

function pinning(): Pinning {
  if (!hasTool("taskset") || navigator.hardwareConcurrency < 2) {
    return { server: [], load: [], text: "not pinned (taskset missing or a single CPU)" };
  }
  return {
    server: ["taskset", "-c", "0"],
    load: ["taskset", "-c", "1"],
    text: "every server on CPU 0, the load generator on CPU 1 (`taskset -c 0` / `taskset -c 1`)",
  };
}

/** `cmd` under a raised file-descriptor limit: Deno cannot raise its children's limits, the shell can. */
function limited(cmd: string[]): string[] {
  return [
    "sh",
    "-c",
    `ulimit -n ${FD_LIMIT} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@"`,
    "sh",
    ...cmd,
  ];
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = l.addr.port;
  l.close();
  return port;
}

/** True once a socket listens on 127.0.0.1:`port` (read from /proc/net/tcp: no probe connection is made). */
function listening(port: number): boolean {
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  try {
    return Deno.readTextFileSync("/proc/net/tcp").split("\n").some((l) => {
      const f = l.trim().split(/\s+/);
      return f[1]?.endsWith(`:${hex}`) && f[3] === "0A";
    });
  } catch {
    return false;
  }
}

/** The pid and every descendant (socat forks a process per connection). */
function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    try {
      for (const task of Deno.readDirSync(`/proc/${out[i]}/task`)) {
        const children = Deno.readTextFileSync(`/proc/${out[i]}/task/${task.name}/children`).trim();
        if (children) out.push(...children.split(/\s+/).map(Number));
      }
    } catch { /* exited meanwhile */ }
  }
  return out;
}

/**
 * Resident memory of a server in KiB: VmRSS; for a server that forks a process per connection (socat) the sum of
 * each process's proportional share (Pss), so pages the processes share are counted once.
 */
function rssKiB(pid: number, forks = false): number {
  let total = 0;
  for (const p of processTree(pid)) {
    try {
      const m = !forks
        ? /VmRSS:\s+(\d+) kB/.exec(Deno.readTextFileSync(`/proc/${p}/status`))
        : /^Pss:\s+(\d+) kB/m.exec(Deno.readTextFileSync(`/proc/${p}/smaps_rollup`));
      if (m) total += Number(m[1]);
    } catch { /* exited meanwhile */ }
  }
  return total;
}

/** Open sockets of the process tree (a server's listener and accepted connections; socat's are spread out). */
function openSockets(pid: number): number {
  let n = 0;
  for (const p of processTree(pid)) {
    try {
      for (const fd of Deno.readDirSync(`/proc/${p}/fd`)) {
        try {
          if (Deno.readLinkSync(`/proc/${p}/fd/${fd.name}`).startsWith("socket:")) n++;
        } catch { /* closed meanwhile */ }
      }
    } catch { /* exited meanwhile */ }
  }
  return n;
}

/** CPU seconds used so far by the process tree, children that already exited included. */
function cpuSeconds(pid: number): number {
  let ticks = 0;
  for (const p of processTree(pid)) {
    try {
      const stat = Deno.readTextFileSync(`/proc/${p}/stat`);
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    } catch { /* exited meanwhile */ }
  }
  return ticks / 100;
}

interface Running {
  server: Server;
  child: Deno.ChildProcess;
  port: number;
  /** Set once the process has exited: how it ended. */
  ended?: string;
}

/** Starts a server pinned to the server CPU; resolves once it listens. */
async function start(server: Server, o: Options): Promise<Running> {
  const port = freePort();
  const cmd = limited([...o.pin.server, ...server.command(port, o.tmp, o.relayTarget)]);
  const child = new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    stdin: "null",
    stdout: "null",
    stderr: "null",
  })
    .spawn();
  let exited = false;
  child.status.then(() => (exited = true));
  for (let i = 0; i < 400 && !exited; i++) {
    if (listening(port)) {
      const r: Running = { server, child, port };
      child.status.then((
        st,
      ) => (r.ended = st.signal ? `killed by ${st.signal}` : `exited with code ${st.code}`));
      return r;
    }
    await sleep(25);
  }
  await stop({ server, child, port });
  throw new Error(`${server.name} ${exited ? "exited at start" : `did not listen on ${port} within 10 s`}`);
}

/** Stops a server and whatever it forked. */
async function stop(r: Running): Promise<void> {
  const pids = processTree(r.child.pid);
  for (const pid of pids) {
    try {
      Deno.kill(pid, "SIGTERM");
    } catch { /* gone */ }
  }
  const killer = setTimeout(() => {
    for (const pid of pids) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* gone */ }
    }
  }, 3000);
  await r.child.status;
  clearTimeout(killer);
}

/**
 * Runs the generator (pinned to the load CPU) and parses the JSON it prints; `onStderr` sees its stderr lines
 * as they come (idle mode says "holding N" once every connection is open). Killed after `limitS` seconds.
 */
async function loadgen(
  args: string[],
  o: Options,
  limitS: number,
  onStderr?: (line: string) => void,
  signal?: AbortSignal,
): Promise<{ result?: Result; code: number; stderr: string }> {
  const cmd = limited([...o.pin.load, `${o.tmp}/loadgen`, ...args]);
  const child = new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  })
    .spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, limitS * 1000);
  signal?.addEventListener("abort", () => {
    try {
      child.kill("SIGTERM");
    } catch { /* gone */ }
  });
  const stdout = new Response(child.stdout).text();
  let stderr = "";
  const readErr = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      stderr += chunk;
      for (const line of chunk.split("\n")) if (line) onStderr?.(line);
    }
  })();
  const [status, text] = await Promise.all([child.status, stdout, readErr]);
  clearTimeout(timer);
  try {
    return { result: JSON.parse(text.trim()), code: status.code, stderr: stderr.trim() };
  } catch {
    return { code: status.code, stderr: stderr.trim() || `no output (exit ${status.code})` };
  }
}

/** One generator run against a running server, with the server's CPU share while it ran. */
async function measure(r: Running, key: Key, o: Options, round: number): Promise<Result | undefined> {
  const addr = ["127.0.0.1", String(r.port)];
  const d = String(o.seconds);
  const args: Record<string, string[]> = {
    pp50: ["pingpong", ...addr, "-c", "50", "-s", "64", "-d", d],
    pp500: ["pingpong", ...addr, "-c", "500", "-s", "64", "-d", d],
    bulk: ["bulk", ...addr, "-c", "1", "-b", String(o.bulkBytes)],
    fanout: ["fanout", ...addr, "-c", "100", "-s", "64", "-w", "64", "-d", d],
    rbulk: ["bulk", ...addr, "-c", "1", "-b", String(o.bulkBytes)],
    rpp200: ["pingpong", ...addr, "-c", "200", "-s", "64", "-d", d],
  };
  const cpu0 = cpuSeconds(r.child.pid);
  const t0 = performance.now();
  const out = await loadgen(args[key], o, o.seconds + 60);
  const serverCpu = Math.max(0, ((cpuSeconds(r.child.pid) - cpu0) * 100_000) / (performance.now() - t0));
  if (!out.result) {
    problems.push(`${r.server.name}, ${key}, round ${round}: the generator printed no result: ${out.stderr}`);
    return undefined;
  }
  if (out.code !== 0) {
    const res = out.result;
    problems.push(
      `${r.server.name}, ${key}, round ${round}: the generator exited ${out.code} (errors ${res.errors}` +
        `${res.closed !== undefined ? `, connections closed by the server ${res.closed}` : ""}` +
        `${res.inOrderComplete !== undefined ? `, every message in order: ${res.inOrderComplete}` : ""})` +
        (out.stderr ? `: ${out.stderr.split("\n")[0]}` : ""),
    );
  }
  // Bulk: what the server moves per second of its own CPU, which the load CPU's ceiling does not cap.
  const mbPerSec = out.result.mbPerSec;
  const result: Result = { ...out.result, serverCpu };
  if (typeof mbPerSec === "number" && serverCpu > 0) result.mbPerCpuSecond = mbPerSec * 100 / serverCpu;
  return result;
}

/** What one core of `sockkit bench` (one worker, pinned to the load CPU) drives: ping-pong 50 on `r`. */
async function measureBench(r: Running, o: Options, round: number): Promise<Result | undefined> {
  const cmd = [
    ...o.pin.load,
    Deno.execPath(),
    "run",
    "--allow-net",
    "--allow-read",
    MAIN,
    "bench",
    "127.0.0.1",
    String(r.port),
    "-c",
    "50",
    "-w",
    "1",
    "-d",
    `${o.seconds}s`,
    "--json",
  ];
  const cpu0 = cpuSeconds(r.child.pid);
  const t0 = performance.now();
  const out = await new Deno.Command(cmd[0], { args: cmd.slice(1), stdout: "piped", stderr: "piped" })
    .output();
  const serverCpu = Math.max(0, ((cpuSeconds(r.child.pid) - cpu0) * 100_000) / (performance.now() - t0));
  try {
    const b = JSON.parse(decoder.decode(out.stdout).trim()) as BenchResult;
    return {
      roundTripsPerSec: b.messagesPerSec,
      cpuPercent: b.generatorCpuPercent,
      fairness: b.fairness ? b.fairness.min / b.fairness.median : NaN,
      p999Ms: b.latency?.p999 ?? NaN,
      errors: b.errors,
      serverCpu,
    };
  } catch {
    problems.push(`sockkit bench → ${r.server.name}, round ${round}: ${decoder.decode(out.stderr).trim()}`);
    return undefined;
  }
}

/**
 * Memory and many connections, on a fresh server (no load before): VmRSS before and while loadgen holds HOLD
 * idle connections, then HOLD_MANY idle connections held while a new client's 64-byte echo is timed.
 */
async function measureFresh(
  server: Server,
  o: Options,
  round: number,
): Promise<{ memory?: Result; many?: Result }> {
  const r = await start(server, o);
  try {
    await sleep(500);
    const before = rssKiB(r.child.pid, server.forks);
    let sawHolding = () => {};
    const holding = new Promise<void>((resolve) => (sawHolding = resolve));
    const release = new AbortController();
    const hold = loadgen(
      ["idle", "127.0.0.1", String(r.port), "-c", String(HOLD), "-d", "60"],
      o,
      90,
      (line) => {
        if (line.startsWith("holding")) sawHolding();
      },
      release.signal,
    );
    // Once the generator holds them all, wait until the server has accepted them all (its open sockets), then
    // 500 ms more, read VmRSS and let the connections go.
    const held = await Promise.race([
      holding.then(async () => {
        for (let i = 0; i < 200 && openSockets(r.child.pid) <= HOLD; i++) await sleep(50);
        await sleep(500);
        const accepted = openSockets(r.child.pid) - 1; // less the listener
        return { rss: rssKiB(r.child.pid, server.forks), accepted };
      }),
      hold.then(() => undefined),
    ]);
    release.abort();
    const out0 = await hold;
    if (!held) problems.push(`${server.name}, memory, round ${round}: ${out0.stderr || "the hold failed"}`);
    else if (held.accepted < HOLD) {
      problems.push(
        `${server.name}, memory, round ${round}: only ${held.accepted} of ${HOLD} connections accepted`,
      );
    }
    const memory: Result | undefined = held
      ? {
        rssBeforeKiB: before,
        rssHeldKiB: held.rss,
        perConnKiB: (held.rss - before) / HOLD,
        accepted: held.accepted,
      }
      : undefined;
    await sleep(500); // the held connections close
    if (!server.keys.includes("many") || server.noMany) return { memory };
    const out = await loadgen(
      ["idle", "127.0.0.1", String(r.port), "-c", String(HOLD_MANY), "-d", "0.5"],
      o,
      120,
    );
    if (!out.result || out.code !== 0) {
      problems.push(
        `${server.name}, ${HOLD_MANY} idle, round ${round}: ${out.stderr || JSON.stringify(out.result)}`,
      );
    }
    return { memory, many: out.result };
  } finally {
    await stop(r);
  }
}

function push(runs: Runs, id: string, key: Key, result: Result | undefined): void {
  if (result) ((runs[id] ??= {})[key] ??= []).push(result);
}

/**
 * The running server `running[i]`; one that has exited meanwhile (something outside the suite killed it, or it
 * crashed) is named in the report and started again, so one loss does not empty its column.
 */
async function alive(running: Running[], i: number, o: Options, round: number): Promise<Running | undefined> {
  const r = running[i];
  if (!r.ended) return r;
  problems.push(`${r.server.name} ${r.ended} before round ${round}'s next run; started again`);
  try {
    return (running[i] = await start(r.server, o));
  } catch (err) {
    problems.push(`${r.server.name}: ${(err as Error).message}`);
    return undefined;
  }
}

/** Rounds: in each, every server once per measurement; then fresh servers for memory and idle connections. */
async function measureAll(servers: Server[], o: Options): Promise<Runs> {
  const runs: Runs = {};
  const running: Running[] = [];
  try {
    for (const s of servers) {
      try {
        running.push(await start(s, o));
      } catch (err) {
        problems.push(`${s.name}: ${(err as Error).message}`);
      }
    }
    log("warm-up: 1 s of load on every server");
    const startProblems = problems.length;
    for (const r of running) {
      const warm = { ...o, seconds: 1 };
      await measure(
        r,
        r.server.kind === "echo" ? "pp50" : r.server.kind === "relay" ? "rpp200" : "fanout",
        warm,
        0,
      );
    }
    problems.length = startProblems; // what a warm-up run tripped over shows again in the rounds
    for (let round = 1; round <= o.reps; round++) {
      for (const key of ["pp50", "pp500", "bulk", "fanout", "rbulk", "rpp200"] as Key[]) {
        for (const [i, r0] of running.entries()) {
          if (!r0.server.keys.includes(key)) continue;
          const r = await alive(running, i, o, round);
          if (!r) continue;
          const res = await measure(r, key, o, round);
          log(`round ${round} ${key} ${r.server.name}: ${headline(key, res)}`);
          push(runs, r.server.id, key, res);
          await sleep(300);
        }
      }
      for (const [i, r0] of running.entries()) {
        if (!r0.server.keys.includes("benchC")) continue;
        const r = await alive(running, i, o, round);
        if (!r) continue;
        const res = await measureBench(r, o, round);
        log(`round ${round} sockkit bench → ${r.server.name}: ${headline("pp50", res)}`);
        push(runs, r.server.id, "benchC", res);
      }
      for (const s of servers) {
        if (!s.keys.includes("memory") || !running.some((r) => r.server === s)) continue;
        const { memory, many } = await measureFresh(s, o, round);
        log(
          `round ${round} fresh ${s.name}: ${
            memory ? `${Number(memory.perConnKiB).toFixed(1)} KiB per idle connection` : "–"
          }` +
            (many ? `, echo with ${HOLD_MANY} held: ${many.echoMs} ms` : ""),
        );
        push(runs, s.id, "memory", memory);
        push(runs, s.id, "many", many);
      }
      loadAverages.push(Number(Deno.readTextFileSync("/proc/loadavg").split(" ")[0]));
    }
  } finally {
    for (const r of running) await stop(r);
  }
  return runs;
}

function headline(key: Key, r: Result | undefined): string {
  if (!r) return "no result";
  const cpu = `server CPU ${Number(r.serverCpu).toFixed(0)}%, generator CPU ${
    Number(r.cpuPercent).toFixed(0)
  }%`;
  if (key === "bulk" || key === "rbulk") return `${r.mbPerSec} MB/s, ${cpu}`;
  if (key === "fanout") {
    return `${r.deliveredPerSec} delivered/s, p99.9 ${r.p999Ms} ms, in order ${r.inOrderComplete}, ${cpu}`;
  }
  return `${r.roundTripsPerSec} rt/s, slowest ÷ median ${r.fairness}, p99.9 ${r.p999Ms} ms, ${cpu}`;
}

// ---- the report ----

function median(values: number[]): number {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  return v.length % 2 ? v[v.length >> 1] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
}

/** The median of one field over a server's rounds of one measurement. */
function fig(runs: Runs, id: string, key: Key, field: string | ((r: Result) => number)): number {
  const list = runs[id]?.[key];
  if (!list) return NaN;
  return median(list.map((r) => (typeof field === "string" ? Number(r[field]) : field(r))));
}

function fmt(n: number, digits: number): string {
  if (!Number.isFinite(n)) return "–";
  return n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** How many times better `a` is than `b`. */
function ratio(a: number, b: number, higherIsBetter: boolean): number {
  if (!Number.isFinite(a) || !Number.isFinite(b) || a <= 0 || b <= 0) return NaN;
  return higherIsBetter ? a / b : b / a;
}

function times(x: number): string {
  return Number.isFinite(x) ? `${x.toFixed(2)}×` : "–";
}

interface Row {
  label: string;
  key: Key;
  value: string | ((r: Result) => number);
  digits: number;
  /** Whether a higher figure is better (no ratio column when undefined). */
  higher?: boolean;
  /** Shown instead of a number: yes/no rows. */
  text?: (runs: Result[]) => string;
}

function pingRows(key: "pp50" | "pp500", n: number): Row[] {
  return [
    {
      label: `ping-pong 64 B, ${n} connections: round trips/s`,
      key,
      value: "roundTripsPerSec",
      digits: 0,
      higher: true,
    },
    {
      label: `ping-pong ${n}: slowest ÷ median connection's round trips`,
      key,
      value: "fairness",
      digits: 2,
      higher: true,
    },
    { label: `ping-pong ${n}: connections with no round trip`, key, value: "connectionsWithout", digits: 0 },
    {
      label: `ping-pong ${n}: longest stall of any connection (ms)`,
      key,
      value: "maxStallMs",
      digits: 1,
      higher: false,
    },
    { label: `ping-pong ${n}: p50 (ms)`, key, value: "p50Ms", digits: 3, higher: false },
    { label: `ping-pong ${n}: p99 (ms)`, key, value: "p99Ms", digits: 3, higher: false },
    { label: `ping-pong ${n}: p99.9 (ms)`, key, value: "p999Ms", digits: 3, higher: false },
  ];
}

const yesNo = (field: string) => (list: Result[]) => {
  const yes = list.filter((r) => r[field] === true).length;
  return list.length === 0
    ? "–"
    : yes === list.length
    ? "yes"
    : `**no** (${list.length - yes} of ${list.length} rounds)`;
};

/** The echo table's rows; `bulkMiB`: what the bulk run moves. */
function echoRows(bulkMiB: number): Row[] {
  return [
    ...pingRows("pp50", 50),
    ...pingRows("pp500", 500),
    {
      label: `bulk echo, 1 connection, ${bulkMiB} MiB: MB/s`,
      key: "bulk",
      value: "mbPerSec",
      digits: 0,
      higher: true,
    },
    {
      label: `RSS per idle connection, fresh server holding ${fmt(HOLD, 0)} (KiB)`,
      key: "memory",
      value: "perConnKiB",
      digits: 1,
      higher: false,
    },
    {
      label: "RSS of the fresh server before (MiB)",
      key: "memory",
      value: (r) => Number(r.rssBeforeKiB) / 1024,
      digits: 1,
    },
    {
      label: `${fmt(HOLD_MANY, 0)} idle connections held: a new client's 64 B echo (ms)`,
      key: "many",
      value: "echoMs",
      digits: 1,
      higher: false,
    },
    {
      label: `${fmt(HOLD_MANY, 0)} idle connections: all still open`,
      key: "many",
      value: "",
      digits: 0,
      text: (list) => {
        const ok = list.filter((r) => r.stillOpen === HOLD_MANY && r.echoed === true).length;
        return list.length === 0
          ? "–"
          : ok === list.length
          ? "yes"
          : `**no** (${list.length - ok} of ${list.length} rounds)`;
      },
    },
  ];
}

const FANOUT_ROWS: Row[] = [
  {
    label: "fan-out 1 → 100, 64 B, window 64: delivered messages/s",
    key: "fanout",
    value: "deliveredPerSec",
    digits: 0,
    higher: true,
  },
  { label: "fan-out: p99.9 delivery latency (ms)", key: "fanout", value: "p999Ms", digits: 3, higher: false },
  { label: "fan-out: p50 delivery latency (ms)", key: "fanout", value: "p50Ms", digits: 3, higher: false },
  {
    label: "fan-out: every receiver got every message, in order",
    key: "fanout",
    value: "",
    digits: 0,
    text: yesNo("inOrderComplete"),
  },
];

const RELAY_ROWS: Row[] = [
  {
    label: "bulk through the relay, 1 connection (MB/s)",
    key: "rbulk",
    value: "mbPerSec",
    digits: 0,
    higher: true,
  },
  {
    label: "bulk: MB moved per second of the relay's own CPU",
    key: "rbulk",
    value: "mbPerCpuSecond",
    digits: 0,
    higher: true,
  },
  {
    label: "ping-pong 200 through the relay (round trips/s)",
    key: "rpp200",
    value: "roundTripsPerSec",
    digits: 0,
    higher: true,
  },
  { label: "ping-pong 200: slowest ÷ median", key: "rpp200", value: "fairness", digits: 2, higher: true },
  { label: "ping-pong 200: p99.9 (ms)", key: "rpp200", value: "p999Ms", digits: 3, higher: false },
];

function cell(runs: Runs, s: Server, row: Row): string {
  const list = runs[s.id]?.[row.key];
  if (!s.keys.includes(row.key)) return "";
  if (row.key === "many" && s.noMany) return `not run (${s.noMany})`;
  if (!list || list.length === 0) return "–";
  return row.text ? row.text(list) : fmt(fig(runs, s.id, row.key, row.value), row.digits);
}

function renderTable(
  runs: Runs,
  servers: Server[],
  rows: Row[],
  subject: string,
  vs: [string, string][],
): string[] {
  const lines = [
    `| measurement | ${servers.map((s) => s.name).join(" | ")} | ${
      vs.map(([, n]) => `sockkit vs ${n}`).join(" | ")
    } |`,
    `|---|${servers.map(() => "--:").join("|")}|${vs.map(() => "--:").join("|")}|`,
  ];
  for (const row of rows) {
    const ratios = vs.map(([id]) =>
      row.higher === undefined || row.text
        ? ""
        : times(ratio(fig(runs, subject, row.key, row.value), fig(runs, id, row.key, row.value), row.higher))
    );
    lines.push(
      `| ${row.label} | ${servers.map((s) => cell(runs, s, row)).join(" | ")} | ${ratios.join(" | ")} |`,
    );
  }
  return lines;
}

function renderCpu(runs: Runs, servers: Server[], keys: Key[]): string[] {
  const lines = [
    `| measurement | ${servers.map((s) => s.name).join(" | ")} |`,
    `|---|${servers.map(() => "--:").join("|")}|`,
  ];
  for (const key of keys) {
    const cells = servers.map((s) => {
      if (!runs[s.id]?.[key]) return "";
      return `${fmt(fig(runs, s.id, key, "serverCpu"), 0)}% / ${fmt(fig(runs, s.id, key, "cpuPercent"), 0)}%`;
    });
    lines.push(`| ${key} | ${cells.join(" | ")} |`);
  }
  return lines;
}

/** The generator check: the C server's figures against the fastest other server's, and loadgen's own CPU. */
function renderGeneratorCheck(runs: Runs, servers: Server[]): string[] {
  const others = servers.filter((s) => s.kind === "echo" && s.id !== "c");
  const lines: string[] = [];
  for (const [key, n] of [["pp50", 50], ["pp500", 500]] as const) {
    const c = fig(runs, "c", key, "roundTripsPerSec");
    const rated = others.map((s) => ({ s, v: fig(runs, s.id, key, "roundTripsPerSec") }))
      .filter((x) => Number.isFinite(x.v)).sort((a, b) => b.v - a.v);
    if (!Number.isFinite(c) || rated.length === 0) continue;
    const best = rated[0];
    const busiest = Math.max(...rated.map((x) => fig(runs, x.s.id, key, "cpuPercent")));
    lines.push(
      `- ping-pong ${n}: loadgen drove the C server at ${fmt(c, 0)} round trips/s (loadgen at ${
        fmt(fig(runs, "c", key, "cpuPercent"), 0)
      }% of its core), ${times(c / best.v)} the fastest other server (${best.s.name}, ${
        fmt(best.v, 0)
      }, that ` +
        `server at ${
          fmt(fig(runs, best.s.id, key, "serverCpu"), 0)
        }% of its core); against every server but C ` +
        `loadgen used at most ${fmt(busiest, 0)}% of its core: ${
          c > best.v && busiest < SATURATED
            ? "it had room to spare, so those servers' figures are their own"
            : busiest < SATURATED
            ? "it was not saturated, so it did not set the figures (the C server did not come out fastest here)"
            : "**the generator may have set some figures**"
        }.`,
    );
  }
  const bench = fig(runs, "c", "benchC", "roundTripsPerSec");
  const native = fig(runs, "c", "pp50", "roundTripsPerSec");
  if (Number.isFinite(bench)) {
    lines.push(
      `- one core of \`sockkit bench\` (\`-c 50 -w 1\`, pinned to CPU 1) drives the C server at ${
        fmt(bench, 0)
      } round trips/s ` +
        `(bench at ${fmt(fig(runs, "c", "benchC", "cpuPercent"), 0)}% of its core, the C server at ${
          fmt(fig(runs, "c", "benchC", "serverCpu"), 0)
        }%); loadgen drives it at ${fmt(native, 0)} (${times(native / bench)}).`,
    );
  }
  return lines;
}

interface Target {
  text: string;
  measured: string;
  met: boolean | undefined;
}

function target(text: string, value: number, ok: (v: number) => boolean, measured: string): Target {
  return { text, measured, met: Number.isFinite(value) ? ok(value) : undefined };
}

/** Which of the suite's servers are one I/O core's: its echo, `--quiet` echo, broadcast and relay ids. */
interface Core {
  label: string;
  echo: string;
  quiet?: string;
  broadcast: string;
  relay: string;
}

/** The two I/O cores (`--io`), as the suite runs them. */
const CORES: Core[] = [
  {
    label: "--io deno",
    echo: "sockkit",
    quiet: "sockkit-quiet",
    broadcast: "sockkit-broadcast",
    relay: "sockkit-relay",
  },
  {
    label: "--io node",
    echo: "sockkit-node",
    broadcast: "sockkit-node-broadcast",
    relay: "sockkit-node-relay",
  },
];

/** Every target of issue 10 for one I/O core, computed from this run's figures. */
function targets(runs: Runs, core: Core): Target[] {
  // the figures of this core's servers, named by the default core's ids; a server the core lacks is NaN
  const own: Record<string, string | undefined> = {
    sockkit: core.echo,
    "sockkit-quiet": core.quiet,
    "sockkit-broadcast": core.broadcast,
  };
  const f = (id: string, key: Key, field: string) => {
    const real = id in own ? own[id] : id;
    return real ? fig(runs, real, key, field) : NaN;
  };
  const pp500 = f("sockkit", "pp500", "roundTripsPerSec") / f("node", "pp500", "roundTripsPerSec");
  const pp50 = f("sockkit", "pp50", "roundTripsPerSec") / f("node", "pp50", "roundTripsPerSec");
  const fair = f("sockkit", "pp500", "fairness");
  const p999 = f("sockkit", "pp500", "p999Ms");
  const p999Node = f("node", "pp500", "p999Ms");
  const bulkNode = f("sockkit", "bulk", "mbPerSec") / f("node", "bulk", "mbPerSec");
  const bulkC = f("sockkit", "bulk", "mbPerSec") / f("c", "bulk", "mbPerSec");
  const fan = f("sockkit-broadcast", "fanout", "deliveredPerSec") /
    f("node-broadcast", "fanout", "deliveredPerSec");
  const fanP = f("sockkit-broadcast", "fanout", "p999Ms");
  const fanPNode = f("node-broadcast", "fanout", "p999Ms");
  const fanRuns = runs[core.broadcast]?.fanout ?? [];
  const inOrder = fanRuns.length ? (fanRuns.every((r) => r.inOrderComplete === true) ? 1 : 0) : NaN;
  const rss = f("sockkit", "memory", "perConnKiB");
  const manyRuns = runs[core.echo]?.many ?? [];
  const manyMs = manyRuns.length && manyRuns.every((r) => r.echoed === true && r.stillOpen === HOLD_MANY)
    ? median(manyRuns.map((r) => Number(r.echoMs)))
    : manyRuns.length
    ? Infinity
    : NaN;
  const cost = (key: Key) =>
    1 - f("sockkit", key, "roundTripsPerSec") / f("sockkit-quiet", key, "roundTripsPerSec");
  const cost50 = cost("pp50");
  const cost500 = cost("pp500");
  const pct = (x: number) => Number.isFinite(x) ? `${(x * 100).toFixed(1)}%` : "–";
  return [
    target("ping-pong 500: slowest ÷ median round trips ≥ 0.9", fair, (v) => v >= 0.9, fmt(fair, 2)),
    target(
      "ping-pong 500: p99.9 ≤ 2× Node's",
      2 * p999Node - p999,
      (v) => v >= 0,
      `${fmt(p999, 3)} ms vs ${fmt(p999Node, 3)} ms`,
    ),
    target("ping-pong 500: throughput ≥ 1.0× Node", pp500, (v) => v >= 1, times(pp500)),
    target("ping-pong 50: throughput ≥ 1.0× Node", pp50, (v) => v >= 1, times(pp50)),
    target(
      "(beyond this issue) ping-pong 50 and 500 ≥ 1.3× Node",
      Math.min(pp50, pp500),
      (v) => v >= 1.3,
      `${times(pp50)} / ${times(pp500)}`,
    ),
    target("bulk, 1 connection, 256 MiB: ≥ 1.5× Node", bulkNode, (v) => v >= 1.5, times(bulkNode)),
    target("bulk: ≥ 1.2× the C server", bulkC, (v) => v >= 1.2, times(bulkC)),
    target(
      "bulk: ≥ 1.0× Node (the floor if fairness wins over bulk)",
      bulkNode,
      (v) => v >= 1,
      times(bulkNode),
    ),
    target("fan-out 1 → 100: delivered messages/s ≥ 1.0× Node broadcast", fan, (v) => v >= 1, times(fan)),
    target(
      "fan-out: every receiver gets every message in order",
      inOrder,
      (v) => v === 1,
      inOrder === 1 ? "yes" : inOrder === 0 ? "no" : "–",
    ),
    target(
      "fan-out: p99.9 delivery latency ≤ 2× Node's",
      2 * fanPNode - fanP,
      (v) => v >= 0,
      `${fmt(fanP, 3)} ms vs ${fmt(fanPNode, 3)} ms`,
    ),
    target(
      `≤ 8 KiB RSS per idle connection, fresh server holding ${fmt(HOLD, 0)}`,
      rss,
      (v) => v <= 8,
      `${fmt(rss, 1)} KiB`,
    ),
    target(
      `${fmt(HOLD_MANY, 0)} idle connections held, a new client's echo < 1 s`,
      manyMs,
      (v) => v < 1000,
      Number.isFinite(manyMs) ? `${fmt(manyMs, 1)} ms` : manyMs === Infinity ? "failed" : "–",
    ),
    target(
      "default logging costs < 5% vs --quiet (ping-pong 50 / 500)",
      Math.max(cost50, cost500),
      (v) => v < 0.05,
      `${pct(cost50)} / ${pct(cost500)}`,
    ),
  ];
}

/** The relay targets of issue 11 for one I/O core, computed from this run's figures. */
function relayTargets(runs: Runs, core: Core): Target[] {
  const f = (id: string, key: Key, field: string) => fig(runs, id, key, field);
  const vs = (key: Key, other: string) =>
    f(core.relay, key, key === "rbulk" ? "mbPerSec" : "roundTripsPerSec") /
    f(other, key, key === "rbulk" ? "mbPerSec" : "roundTripsPerSec");
  const fair = f(core.relay, "rpp200", "fairness");
  const perCpu = f(core.relay, "rbulk", "mbPerCpuSecond") / f("socat-relay", "rbulk", "mbPerCpuSecond");
  return [
    target(
      "relay bulk 256 MiB: ≥ 1.5× socat -b 65536",
      vs("rbulk", "socat-relay"),
      (v) => v >= 1.5,
      times(vs("rbulk", "socat-relay")),
    ),
    target(
      "relay bulk, per second of the relay's CPU: ≥ 1.5× socat (the load CPU caps throughput: NOTES)",
      perCpu,
      (v) => v >= 1.5,
      times(perCpu),
    ),
    target(
      "relay bulk: ≥ 1.0× a Node pipe relay",
      vs("rbulk", "node-relay"),
      (v) => v >= 1,
      times(vs("rbulk", "node-relay")),
    ),
    target(
      "relay ping-pong 200: ≥ 1.5× socat",
      vs("rpp200", "socat-relay"),
      (v) => v >= 1.5,
      times(vs("rpp200", "socat-relay")),
    ),
    target(
      "relay ping-pong 200: ≥ 1.0× Node",
      vs("rpp200", "node-relay"),
      (v) => v >= 1,
      times(vs("rpp200", "node-relay")),
    ),
    target("relay ping-pong 200: slowest ÷ median ≥ 0.9", fair, (v) => v >= 0.9, fmt(fair, 2)),
  ];
}

/** One table: a row per target, a measured and a verdict column per I/O core. */
function renderTargets(make: (core: Core) => Target[]): string[] {
  const lists = CORES.map(make);
  const verdict = (t: Target) => t.met === undefined ? "– (not measured)" : t.met ? "met" : "**missed**";
  return [
    `| target | ${CORES.map((c) => `\`${c.label}\` | verdict`).join(" | ")} |`,
    `|---|${CORES.map(() => "---|---").join("|")}|`,
    ...lists[0].map((t, i) =>
      `| ${t.text} | ${lists.map((l) => `${l[i].measured} | ${verdict(l[i])}`).join(" | ")} |`
    ),
  ];
}

function toolVersions(servers: Server[]): string {
  const uses = (tool: string) => servers.some((s) => s.needs === tool);
  const socat = runText(["socat", "-V"]).split("\n").find((l) => /socat version/.test(l))?.trim() ?? "socat";
  return [
    `Deno ${Deno.version.deno}`,
    ...(uses("node") ? [`Node ${runText(["node", "--version"])}`] : []),
    ...(uses("python3") ? [runText(["python3", "--version"])] : []),
    ...(uses("socat") ? [socat] : []),
    runText(["cc", "--version"]).split("\n")[0],
  ].join(", ");
}

function header(o: Options, servers: Server[], skipped: string[], tookS: number, loads: number[]): string[] {
  const cpu = /model name\s*:\s*(.*)/.exec(Deno.readTextFileSync("/proc/cpuinfo"))?.[1] ?? "unknown CPU";
  return [
    "# sockkit peer comparison",
    "",
    "Produced by `deno task bench:peers` (bench/peers.ts); how to read it and what limits it: bench/NOTES.md.",
    "",
    `- date: ${new Date().toISOString().replace(/\.\d+Z$/, "Z")}`,
    `- machine: ${navigator.hardwareConcurrency} CPUs (\`nproc\`: ${runText(["nproc"])}), ${cpu}, ${
      runText(["uname", "-sr"])
    }`,
    `- tools: ${toolVersions(servers)}`,
    `- pinning: ${o.pin.text}`,
    "- generator: `bench/peers/loadgen.c` (one thread, epoll, every reply checked), built with `cc -O2` at the start",
    `- rounds: ${o.reps}, alternating (each round runs every server once per measurement); each figure is the median ` +
    `of the rounds; ping-pong and fan-out runs last ${o.seconds} s; bulk moves ${
      fmt(o.bulkBytes / 2 ** 20, 0)
    } MiB`,
    `- memory: a fresh server (no load before) holding ${
      fmt(HOLD, 0)
    } idle connections, (VmRSS held − VmRSS before) ÷ ` +
    `${fmt(HOLD, 0)} (socat, a process per connection: the sum of its processes' Pss); then ${
      fmt(HOLD_MANY, 0)
    } idle connections on the same server while a new client's echo is timed`,
    `- 1-minute load average after each round: ${fmt(Math.min(...loads), 2)}–${fmt(Math.max(...loads), 2)} ` +
    "(every runnable thread counts: Python's thread and socat's process per connection lift it at 500 connections)",
    `- the run took ${fmt(tookS / 60, 1)} minutes`,
    ...skipped.map((s) => `- skipped: ${s}`),
  ];
}

async function main(): Promise<void> {
  const fail = (msg: string): never => {
    console.error(`bench:peers: ${msg}`);
    Deno.exit(2);
  };
  let parsed;
  try {
    parsed = parseArgs({
      args: Deno.args,
      options: {
        duration: { type: "string" },
        reps: { type: "string" },
        only: { type: "string" },
        quick: { type: "boolean", default: false },
        out: { type: "string", default: `${ROOT}bench/RESULTS.md` },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (err) {
    return fail(`${(err as Error).message}; see --help`);
  }
  const { values } = parsed;
  if (values.help) {
    console.log(
      "Usage: deno task bench:peers [--duration 3s] [--reps 3] [--only IDS] [--quick] [--out FILE]\n" +
        `Server ids for --only (comma-separated; "node" also picks node-broadcast; "hub" runs the rooms over ` +
        `Redis check, which runs by default): ${SERVERS.map((s) => s.id).join(", ")}`,
    );
    return;
  }
  let seconds = values.quick ? 1 : 3;
  if (values.duration !== undefined) {
    try {
      seconds = parseDuration(values.duration) / 1000;
    } catch {
      fail(`--duration '${values.duration}' is not a duration: give one such as 3s or 500ms`);
    }
  }
  const reps = values.reps === undefined ? (values.quick ? 1 : 3) : Number(values.reps);
  if (!Number.isInteger(reps) || reps < 1) {
    fail(`--reps '${values.reps}' must be a whole number of rounds, 1 or more`);
  }
  if (!(seconds > 0)) fail("--duration must be more than 0");
  const tokens = values.only?.split(",").map((t) => t.trim().toLowerCase()).filter(Boolean);
  const unknown = tokens?.filter((t) =>
    t !== "hub" && !SERVERS.some((s) => s.id === t || s.id.startsWith(`${t}-`))
  );
  if (unknown?.length) {
    fail(`--only: no server '${unknown.join("', '")}'; the ids are ${SERVERS.map((s) => s.id).join(", ")}`);
  }
  if (!hasTool("cc")) fail("the load generator needs a C compiler: install cc (apt-get install gcc)");

  const startedAt = performance.now();
  const tmp = await Deno.makeTempDir({ prefix: "sockkit-peers-" });
  try {
    for (const name of ["loadgen", "epoll_echo"]) {
      const cc = new Deno.Command("cc", {
        args: ["-O2", "-o", `${tmp}/${name}`, `${PEERS_DIR}/${name}.c`, "-lm"],
        stderr: "piped",
      })
        .outputSync();
      if (!cc.success) fail(`cc could not build bench/peers/${name}.c: ${decoder.decode(cc.stderr).trim()}`);
    }
    const pin = pinning();
    const o: Options = {
      seconds,
      reps,
      bulkBytes: values.quick ? 64 << 20 : 256 << 20,
      tmp,
      pin,
      relayTarget: 0,
    };
    const picked = SERVERS.filter((s) =>
      !tokens || tokens.some((t) => s.id === t || s.id.startsWith(`${t}-`))
    );
    const skipped = picked.filter((s) => !hasTool(s.needs))
      .map((s) =>
        `${s.name}: ${s.needs} is not installed${s.needs === "socat" ? " (apt-get install socat)" : ""}`
      );
    const servers = picked.filter((s) => hasTool(s.needs));
    log(
      `Peer comparison: ${pin.text}; ${reps} rounds of ${seconds} s runs; servers: ${
        servers.map((s) => s.name).join(", ")
      }`,
    );
    let relayTarget: Running | undefined;
    if (servers.some((s) => s.kind === "relay")) {
      const c = SERVERS.find((s) => s.id === "c")!;
      relayTarget = await start(c, { ...o, pin: { ...o.pin, server: o.pin.load } });
      o.relayTarget = relayTarget.port;
    }
    const runs = await measureAll(servers, o).finally(() => relayTarget && stop(relayTarget));
    // The scale check of rooms over Redis (bench/hub.ts): 3 instances × 100 chat clients, and a Redis restart.
    let hubSection: string | undefined;
    if (!tokens || tokens.includes("hub")) {
      log("rooms over Redis: 3 instances (bench/hub.ts)");
      hubSection = await hubBenchSection(values.quick ? { clients: 20 } : {});
    }
    const echo = servers.filter((s) => s.kind === "echo");
    const fan = servers.filter((s) => s.kind === "broadcast");
    const relays = servers.filter((s) => s.kind === "relay");
    const tookS = (performance.now() - startedAt) / 1000;
    const report = [
      ...header(o, servers, skipped, tookS, loadAverages),
      "",
      "## Echo servers (medians)",
      "",
      "Ratios: how many times better sockkit is (for latency, stalls and memory: the other's figure ÷ sockkit's).",
      "`sockkit` runs with default logging (a line per connect and disconnect, to /dev/null); `sockkit --quiet`",
      "only in the ping-pong rows, to price the logging.",
      "",
      ...renderTable(runs, echo, echoRows(o.bulkBytes / 2 ** 20), "sockkit", [["node", "Node"], ["c", "C"]]),
      "",
      "## Broadcast fan-out (medians)",
      "",
      "One sender, 100 receivers, 64-byte sequence-numbered messages, at most 64 in flight (sent but not yet",
      "received by every receiver); the delivery latency is from the send to each receiver's read.",
      "",
      ...renderTable(runs, fan, FANOUT_ROWS, "sockkit-broadcast", [["node-broadcast", "Node"]]),
      "",
      ...(relays.length
        ? [
          "## Relays (medians)",
          "",
          "The generator through each relay (on the server CPU) to the C echo server (on the load CPU, beside the",
          "generator): `sockkit relay` (on its default two event loops, on one with `--workers 1`, and with",
          "`--io node`), `socat -b 65536 TCP-LISTEN:…,fork TCP:…`, and Node piping each client to its own connection",
          "(bench/peers/node_relay.mjs). In bulk the load CPU copies each byte as often as a relay does, which caps",
          "what any relay can show here at about 1.7× socat (bench/NOTES.md).",
          "",
          ...renderTable(runs, relays, RELAY_ROWS, "sockkit-relay", [["socat-relay", "socat"], [
            "node-relay",
            "Node",
          ]]),
          "",
        ]
        : []),
      "## Targets (issues 10 and 24)",
      "",
      ...renderTargets((core) => targets(runs, core)),
      "",
      ...(relays.length
        ? ["## Targets (issue 11: relay)", "", ...renderTargets((core) => relayTargets(runs, core)), ""]
        : []),
      "## Is the generator the bottleneck?",
      "",
      ...renderGeneratorCheck(runs, servers),
      "",
      "## CPU during each measurement (server / generator, % of one core, medians)",
      "",
      "Each process's user + system time over the run, which includes the kernel's loopback work done in its",
      "system calls; a server at about 100% set its own figure.",
      "",
      ...renderCpu(runs, servers, ["pp50", "pp500", "bulk", "fanout", "rbulk", "rpp200"]),
      "",
      ...(hubSection ? [hubSection, ""] : []),
      ...(problems.length
        ? ["## Problems seen during the run", "", ...problems.map((p) => `- ${p}`), ""]
        : []),
    ];
    await Deno.writeTextFile(values.out!, report.join("\n"));
    runText([Deno.execPath(), "fmt", values.out!]);
    log(`wrote ${values.out} in ${fmt(tookS / 60, 1)} minutes`);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

if (import.meta.main) await main();
