/**
 * The peer comparison: starts each echo server on loopback in turn (sockkit, Node `net` with
 * `socket.pipe(socket)`, the classic Python thread-per-client server, socat, and a minimal C epoll server),
 * loads each with `sockkit bench`, repeats every measurement, and writes a markdown table of medians with
 * ratios against Node and against C.
 *
 * Usage: deno task bench:peers [--duration 3s] [--reps 3] [--only sockkit,node] [--out bench/RESULTS.md]
 * @module
 */
import { parseArgs } from "node:util";
import type { BenchResult } from "../bench.ts";
import { parseDuration } from "../lib/duration.ts";
import { closeQuietly, sleep, writeAll } from "../lib/io.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const MAIN = `${ROOT}main.ts`;
const HOLD_CONNECTIONS = 2000;
const decoder = new TextDecoder();

interface Peer {
  name: string;
  /** The command that starts it on `port`. */
  command(port: number, tmp: string): string[];
  /** A tool this peer needs, checked before the suite starts. */
  needs: string;
  /** Measurements to run (default: all). */
  only?: string[];
}

const PEERS: Peer[] = [
  {
    name: "sockkit",
    needs: "deno",
    command: (
      port,
    ) => [Deno.execPath(), "run", "--allow-net", MAIN, "server", String(port), "--host", "127.0.0.1"],
  },
  {
    name: "sockkit --quiet",
    needs: "deno",
    command: (port) => [
      Deno.execPath(),
      "run",
      "--allow-net",
      MAIN,
      "server",
      String(port),
      "--host",
      "127.0.0.1",
      "--quiet",
    ],
    only: ["pp50", "pp500", "connect"],
  },
  {
    name: "Node",
    needs: "node",
    command: (port) => ["node", `${ROOT}bench/peers/node_echo.mjs`, String(port)],
  },
  {
    name: "Python",
    needs: "python3",
    command: (port) => ["python3", `${ROOT}bench/peers/py_echo.py`, String(port)],
  },
  {
    name: "socat",
    needs: "socat",
    // -b 4096: with its default 8192-byte transfers, socat's PIPE can deadlock on itself under bulk load: a
    // write into the full pipe blocks the one process that would read it (seen stuck in anon_pipe_write).
    // A block of one pipe page fits whenever poll says the pipe is writable.
    command: (port) => ["socat", "-b", "4096", `TCP-LISTEN:${port},bind=127.0.0.1,fork,reuseaddr`, "PIPE"],
  },
  { name: "C epoll", needs: "cc", command: (port, tmp) => [`${tmp}/epoll_echo`, String(port)] },
];

interface Measurement {
  key: string;
  title: string;
  args: string[];
  /** Generator workers (threads), all on the load CPU; see bench/NOTES.md. */
  workers: number;
}

/**
 * Bulk writes 256 KiB at a time (bench's stream default). One generator thread is the cheapest on the one load
 * CPU; only 500 connections use 4, because one event loop serves that many busy connections unevenly and the
 * fairness figures would describe the generator.
 */
const MEASUREMENTS: Measurement[] = [
  { key: "bulk1", title: "bulk echo, 1 connection", args: ["--mode", "stream", "-c", "1"], workers: 1 },
  { key: "bulk8", title: "bulk echo, 8 connections", args: ["--mode", "stream", "-c", "8"], workers: 1 },
  { key: "pp1", title: "ping-pong 64 B, 1 connection", args: ["-c", "1"], workers: 1 },
  { key: "pp50", title: "ping-pong 64 B, 50 connections", args: ["-c", "50"], workers: 1 },
  { key: "pp500", title: "ping-pong 64 B, 500 connections", args: ["-c", "500"], workers: 4 },
  {
    key: "connect",
    title: "connect rate (connect, echo 64 B, close; 8 at once)",
    args: ["--connect-only", "-c", "8"],
    workers: 1,
  },
];

/** Measurements repeated on sockkit with other numbers of generator workers: does the figure rise with them? */
const SCALING_KEYS = ["bulk8", "pp50", "pp500", "connect"];
const SCALING_WORKERS = [1, 2, 4];

/** At or above this share of its core, a process is taken as saturated: it set the figure. */
const SATURATED_PERCENT = 90;

function benchArgs(m: Measurement, workers = m.workers): string[] {
  return [...m.args, "-w", `${workers}`];
}

/** One server's medians. */
interface PeerFigures {
  name: string;
  results: Record<string, BenchResult[]>;
  serverCpu: Record<string, number[]>;
  rssIdleKiB?: number;
  rssPerConnKiB?: number;
  skipped?: string;
  /** key → workers → result (sockkit only). */
  scaling?: Record<string, Record<number, BenchResult>>;
}

function hasTool(name: string): boolean {
  if (name === "deno") return true;
  try {
    return new Deno.Command("sh", { args: ["-c", `command -v ${name}`], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

function run(cmd: string[]): string {
  try {
    const out = new Deno.Command(cmd[0], { args: cmd.slice(1), stdout: "piped", stderr: "piped" })
      .outputSync();
    return decoder.decode(out.stdout).trim() || decoder.decode(out.stderr).trim();
  } catch {
    return "";
  }
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = l.addr.port;
  l.close();
  return port;
}

async function waitForPort(port: number, child: Deno.ChildProcess): Promise<void> {
  const exited = child.status.then(() => true);
  for (let i = 0; i < 200; i++) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return;
    } catch {
      if (await Promise.race([exited, sleep(50).then(() => false)])) {
        throw new Error("server exited at start");
      }
    }
  }
  throw new Error(`server did not listen on ${port} within 10 s`);
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

function rssKiB(pid: number): number {
  let total = 0;
  for (const p of processTree(pid)) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(Deno.readTextFileSync(`/proc/${p}/status`));
      if (m) total += Number(m[1]);
    } catch { /* exited meanwhile */ }
  }
  return total;
}

/** CPU seconds used so far by the process tree (utime + stime). */
function cpuSeconds(pid: number): number {
  let ticks = 0;
  for (const p of processTree(pid)) {
    try {
      const stat = Deno.readTextFileSync(`/proc/${p}/stat`);
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      // utime + stime, and cutime + cstime: children that already exited (socat forks one per connection).
      ticks += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
    } catch { /* exited meanwhile */ }
  }
  return ticks / 100;
}

interface Pinning {
  server: string[];
  load: string[];
  text: string;
}

function pinning(): Pinning {
  const cpus = navigator.hardwareConcurrency;
  if (!hasTool("taskset") || cpus < 2) {
    return { server: [], load: [], text: "not pinned (taskset missing or a single CPU)" };
  }
  return {
    server: ["taskset", "-c", "0"],
    load: ["taskset", "-c", "1"],
    text: "server on CPU 0, load generator on CPU 1 (taskset)",
  };
}

async function benchOnce(port: number, args: string[], seconds: number, pin: Pinning): Promise<BenchResult> {
  const cmd = [
    ...pin.load,
    Deno.execPath(),
    "run",
    "--allow-net",
    "--allow-read",
    MAIN,
    "bench",
    "127.0.0.1",
    String(port),
    "-d",
    `${seconds}s`,
    "--json",
    ...args,
  ];
  const out = await new Deno.Command(cmd[0], { args: cmd.slice(1), stdout: "piped", stderr: "piped" })
    .output();
  const text = decoder.decode(out.stdout).trim();
  if (!text) throw new Error(`bench failed: ${decoder.decode(out.stderr).trim()}`);
  return JSON.parse(text) as BenchResult;
}

/** Opens `n` connections, echoes one message on each, and returns them (still open). */
async function holdConnections(port: number, n: number): Promise<Deno.Conn[]> {
  const conns: Deno.Conn[] = [];
  const message = new TextEncoder().encode("hello, idle\n");
  const buf = new Uint8Array(64);
  let next = 0;
  const opener = async () => {
    while (next++ < n) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conns.push(conn);
      await writeAll(conn, message);
      let got = 0;
      while (got < message.length) {
        const r = await conn.read(buf);
        if (r === null) throw new Error("server closed an idle connection");
        got += r;
      }
    }
  };
  await Promise.all(Array.from({ length: 32 }, opener));
  return conns;
}

/** Stops the server and whatever it forked (socat leaves a child per connection that is still closing). */
async function stopServer(child: Deno.ChildProcess): Promise<void> {
  const descendants = processTree(child.pid).slice(1);
  try {
    child.kill("SIGTERM");
  } catch { /* gone */ }
  for (const pid of descendants) {
    try {
      Deno.kill(pid, "SIGTERM");
    } catch { /* gone */ }
  }
  const killer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, 3000);
  await child.status;
  clearTimeout(killer);
}

/**
 * Measures every peer, taking turns: for each measurement and each repetition, every server runs once before
 * the next repetition starts. All servers stay up meanwhile (pinned together, idle when not loaded), so a
 * disturbance from outside hits all of them alike instead of whichever server happened to be measured then.
 */
async function measureAll(
  peers: Peer[],
  o: { seconds: number; reps: number; tmp: string; pin: Pinning },
): Promise<PeerFigures[]> {
  const figures = peers.map((peer): PeerFigures => ({ name: peer.name, results: {}, serverCpu: {} }));
  const running: ({ child: Deno.ChildProcess; port: number } | undefined)[] = [];
  try {
    for (const [i, peer] of peers.entries()) {
      if (!hasTool(peer.needs)) {
        figures[i].skipped = `${peer.needs} is not installed` +
          (peer.needs === "socat" ? " (apt-get install socat)" : "");
        running.push(undefined);
        continue;
      }
      const server = await startPeer(peer, o);
      running.push(server);
      await benchOnce(server.port, ["-c", "50"], 1, o.pin);
    }
    for (const m of MEASUREMENTS) {
      log(`${m.title}:`);
      for (let rep = 0; rep < o.reps; rep++) {
        for (const [i, peer] of peers.entries()) {
          const server = running[i];
          if (!server || (peer.only && !peer.only.includes(m.key))) continue;
          log(`  ${peer.name} #${rep + 1}`);
          record(figures[i], m.key, await measureOnce(server.port, server.child.pid, benchArgs(m), o));
        }
      }
    }
    const mine = peers.findIndex((p) => p.name === "sockkit");
    if (mine >= 0 && running[mine]) {
      log("generator check (sockkit, other numbers of workers):");
      figures[mine].scaling = await measureScaling(running[mine]!.port, running[mine]!.child.pid, o);
    }
  } finally {
    for (const server of running) if (server) await stopServer(server.child);
  }
  for (const [i, peer] of peers.entries()) {
    if (peer.only || figures[i].skipped) continue;
    const mems = [];
    for (let rep = 0; rep < o.reps; rep++) mems.push(await measureMemory(peer, o));
    figures[i].rssIdleKiB = median(mems.map((m) => m.idle));
    figures[i].rssPerConnKiB = median(mems.map((m) => m.perConn));
    log(
      `${peer.name}: idle RSS ${figures[i].rssIdleKiB} KiB, per idle connection ${
        mems.map((m) => m.perConn.toFixed(1)).join(" / ")
      } KiB`,
    );
  }
  return figures;
}

function record(figures: PeerFigures, key: string, m: Measured): void {
  (figures.results[key] ??= []).push(m.result);
  (figures.serverCpu[key] ??= []).push(m.serverCpu);
}

/** Starts the peer and resolves once it accepts connections. */
async function startPeer(
  peer: Peer,
  o: { tmp: string; pin: Pinning },
): Promise<{ child: Deno.ChildProcess; port: number }> {
  const port = freePort();
  const cmd = [...o.pin.server, ...peer.command(port, o.tmp)];
  const child = new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    stdout: "null",
    stderr: "null",
    stdin: "null",
  })
    .spawn();
  try {
    await waitForPort(port, child);
  } catch (err) {
    await stopServer(child);
    throw err;
  }
  return { child, port };
}

/**
 * Memory per idle connection, in a fresh server: warmed up briefly (so its runtime reached its working size
 * but not the heap a long load leaves behind), VmRSS read, HOLD_CONNECTIONS connections opened that each
 * echo once and stay idle, VmRSS read again.
 */
async function measureMemory(
  peer: Peer,
  o: { tmp: string; pin: Pinning },
): Promise<{ idle: number; perConn: number }> {
  const { child, port } = await startPeer(peer, o);
  try {
    await benchOnce(port, ["-c", "50"], 1, o.pin);
    await sleep(500);
    const idle = rssKiB(child.pid);
    const conns = await holdConnections(port, HOLD_CONNECTIONS);
    try {
      await sleep(1000);
      return { idle, perConn: (rssKiB(child.pid) - idle) / HOLD_CONNECTIONS };
    } finally {
      for (const c of conns) closeQuietly(c);
    }
  } finally {
    await stopServer(child);
  }
}

async function measureOnce(
  port: number,
  pid: number,
  args: string[],
  o: { seconds: number; pin: Pinning },
): Promise<Measured> {
  const cpuBefore = cpuSeconds(pid);
  const result = await benchOnce(port, args, o.seconds, o.pin);
  loadAverages.push(loadAverage());
  const serverCpu = Math.min(
    ((cpuSeconds(pid) - cpuBefore) * 100000) / result.elapsedMs,
    100 * navigator.hardwareConcurrency,
  );
  log(
    `    ${args.join(" ")}: ${headline(result)}, server CPU ${serverCpu.toFixed(0)}%, ` +
      `generator CPU ${result.generatorCpuPercent.toFixed(0)}%${
        result.errors ? `, errors ${JSON.stringify(result.errorKinds)}` : ""
      }`,
  );
  await sleep(300);
  return { result, serverCpu };
}

/** The 1-minute load average after each run: how much else the machine was doing. */
const loadAverages: number[] = [];

function loadAverage(): number {
  return Number(Deno.readTextFileSync("/proc/loadavg").split(" ")[0]);
}

/** One run of one measurement against one server. */
interface Measured {
  result: BenchResult;
  /** The server's own CPU time (its processes' user + system time), in % of one core. */
  serverCpu: number;
}

async function measureScaling(
  port: number,
  pid: number,
  o: { seconds: number; pin: Pinning },
): Promise<Record<string, Record<number, BenchResult>>> {
  const out: Record<string, Record<number, BenchResult>> = {};
  for (const key of SCALING_KEYS) {
    const m = MEASUREMENTS.find((x) => x.key === key)!;
    out[key] = {};
    for (const w of SCALING_WORKERS) {
      if (w !== m.workers) out[key][w] = (await measureOnce(port, pid, benchArgs(m, w), o)).result;
    }
  }
  return out;
}

function headline(r: BenchResult): string {
  if (r.mode === "stream") return `${r.mbPerSec.toFixed(0)} MB/s`;
  const base = `${Math.round(r.messagesPerSec)} /s`;
  const f = r.fairness;
  return f ? `${base}, per connection ${f.min}/${f.median}/${f.max}, p99.9 ${r.latency?.p999} ms` : base;
}

function log(line: string): void {
  console.error(line);
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** A row of the table: how to get the figure from results, its unit, and whether more is better. */
interface Row {
  label: string;
  key: string;
  value(r: BenchResult): number;
  digits: number;
  higherIsBetter: boolean;
}

const ROWS: Row[] = [
  { label: "bulk 1 conn (MB/s)", key: "bulk1", value: (r) => r.mbPerSec, digits: 0, higherIsBetter: true },
  { label: "bulk 8 conns (MB/s)", key: "bulk8", value: (r) => r.mbPerSec, digits: 0, higherIsBetter: true },
  {
    label: "ping-pong 1 conn (msg/s)",
    key: "pp1",
    value: (r) => r.messagesPerSec,
    digits: 0,
    higherIsBetter: true,
  },
  {
    label: "ping-pong 50 conns (msg/s)",
    key: "pp50",
    value: (r) => r.messagesPerSec,
    digits: 0,
    higherIsBetter: true,
  },
  {
    label: "ping-pong 50: p50 (ms)",
    key: "pp50",
    value: (r) => r.latency!.p50,
    digits: 3,
    higherIsBetter: false,
  },
  {
    label: "ping-pong 50: p99 (ms)",
    key: "pp50",
    value: (r) => r.latency!.p99,
    digits: 3,
    higherIsBetter: false,
  },
  {
    label: "ping-pong 50: p99.9 (ms)",
    key: "pp50",
    value: (r) => r.latency!.p999,
    digits: 3,
    higherIsBetter: false,
  },
  {
    label: "ping-pong 500 conns (msg/s)",
    key: "pp500",
    value: (r) => r.messagesPerSec,
    digits: 0,
    higherIsBetter: true,
  },
  {
    label: "ping-pong 500: slowest conn (round trips)",
    key: "pp500",
    value: (r) => r.fairness!.min,
    digits: 0,
    higherIsBetter: true,
  },
  {
    label: "ping-pong 500: median conn (round trips)",
    key: "pp500",
    value: (r) => r.fairness!.median,
    digits: 0,
    higherIsBetter: true,
  },
  {
    label: "ping-pong 500: busiest conn (round trips)",
    key: "pp500",
    value: (r) => r.fairness!.max,
    digits: 0,
    higherIsBetter: true,
  },
  {
    label: "ping-pong 500: slowest ÷ median",
    key: "pp500",
    value: (r) => r.fairness!.min / r.fairness!.median,
    digits: 2,
    higherIsBetter: true,
  },
  {
    label: "ping-pong 500: p50 (ms)",
    key: "pp500",
    value: (r) => r.latency!.p50,
    digits: 3,
    higherIsBetter: false,
  },
  {
    label: "ping-pong 500: p99 (ms)",
    key: "pp500",
    value: (r) => r.latency!.p99,
    digits: 3,
    higherIsBetter: false,
  },
  {
    label: "ping-pong 500: p99.9 (ms)",
    key: "pp500",
    value: (r) => r.latency!.p999,
    digits: 3,
    higherIsBetter: false,
  },
  {
    label: "ping-pong 500: max (ms)",
    key: "pp500",
    value: (r) => r.latency!.max,
    digits: 1,
    higherIsBetter: false,
  },
  {
    label: "connect rate (conn/s)",
    key: "connect",
    value: (r) => r.messagesPerSec,
    digits: 0,
    higherIsBetter: true,
  },
];

function figure(p: PeerFigures, row: Row): number {
  const results = p.results[row.key];
  if (!results || results.length === 0) return NaN;
  return median(results.map(row.value));
}

function fmt(n: number, digits: number): string {
  if (!Number.isFinite(n)) return "–";
  return n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function ratio(a: number, b: number, higherIsBetter: boolean): string {
  if (!Number.isFinite(a) || !Number.isFinite(b) || a === 0 || b === 0) return "–";
  return `${(higherIsBetter ? a / b : b / a).toFixed(2)}×`;
}

function renderTable(peers: PeerFigures[]): string[] {
  const subject = peers.find((p) => p.name === "sockkit")!;
  const node = peers.find((p) => p.name === "Node");
  const c = peers.find((p) => p.name === "C epoll");
  const names = peers.map((p) => p.name);
  const lines = [
    `| measurement | ${names.join(" | ")} | sockkit vs Node | sockkit vs C |`,
    `|---|${names.map(() => "--:").join("|")}|--:|--:|`,
  ];
  for (const row of ROWS) {
    const values = peers.map((p) => figure(p, row));
    const mine = figure(subject, row);
    lines.push(
      `| ${row.label} | ${values.map((v) => fmt(v, row.digits)).join(" | ")} | ${
        node ? ratio(mine, figure(node, row), row.higherIsBetter) : "–"
      } | ${c ? ratio(mine, figure(c, row), row.higherIsBetter) : "–"} |`,
    );
  }
  const rss = peers.map((p) => fmt(p.rssPerConnKiB ?? NaN, 1));
  const rssRatio = (other?: PeerFigures) =>
    other ? ratio(subject.rssPerConnKiB ?? NaN, other.rssPerConnKiB ?? NaN, false) : "–";
  lines.push(`| RSS per idle connection (KiB) | ${rss.join(" | ")} | ${rssRatio(node)} | ${rssRatio(c)} |`);
  lines.push(
    `| idle RSS (MiB) | ${peers.map((p) => fmt((p.rssIdleKiB ?? NaN) / 1024, 1)).join(" | ")} | | |`,
  );
  return lines;
}

/** What set a figure: the side whose CPU was saturated, or neither (then round-trip latency did). */
function limitOf(serverPercent: number, generatorPercent: number): string {
  if (generatorPercent >= SATURATED_PERCENT && serverPercent < SATURATED_PERCENT) return "generator";
  if (serverPercent >= SATURATED_PERCENT && generatorPercent < SATURATED_PERCENT) return "server";
  if (serverPercent >= SATURATED_PERCENT) return "both";
  return "neither";
}

function renderCpuTable(peers: PeerFigures[]): string[] {
  const lines = [
    `| measurement | ${peers.map((p) => p.name).join(" | ")} |`,
    `|---|${peers.map(() => "--:").join("|")}|`,
  ];
  for (const m of MEASUREMENTS) {
    const cells = peers.map((p) => {
      const server = p.serverCpu[m.key];
      const results = p.results[m.key];
      if (!server || !results) return "–";
      const serverPercent = median(server);
      const generatorPercent = median(results.map((r) => r.generatorCpuPercent));
      return `${serverPercent.toFixed(0)}% / ${generatorPercent.toFixed(0)}%: ${
        limitOf(serverPercent, generatorPercent)
      }`;
    });
    lines.push(`| ${m.key} | ${cells.join(" | ")} |`);
  }
  return lines;
}

/**
 * The server's own cost: CPU time per message (bulk: per MB echoed), run by run, medians. Unlike throughput
 * it compares servers even where the generator set the figure.
 */
function serverCost(p: PeerFigures, key: string): number {
  const results = p.results[key];
  const cpu = p.serverCpu[key];
  if (!results || !cpu) return NaN;
  return median(results.map((r, i) => {
    const perSecond = r.mode === "stream" ? r.mbPerSec : r.messagesPerSec;
    return perSecond > 0 ? (cpu[i] / 100 / perSecond) * 1e6 : NaN;
  }));
}

function renderCostTable(peers: PeerFigures[]): string[] {
  const subject = peers.find((p) => p.name === "sockkit")!;
  const node = peers.find((p) => p.name === "Node");
  const c = peers.find((p) => p.name === "C epoll");
  const lines = [
    `| measurement | ${peers.map((p) => p.name).join(" | ")} | sockkit vs Node | sockkit vs C |`,
    `|---|${peers.map(() => "--:").join("|")}|--:|--:|`,
  ];
  for (const m of MEASUREMENTS) {
    const unit = m.key.startsWith("bulk") ? "µs per MB" : "µs per message";
    const mine = serverCost(subject, m.key);
    const vs = (other?: PeerFigures) => other ? ratio(mine, serverCost(other, m.key), false) : "–";
    lines.push(
      `| ${m.key} (${unit}) | ${peers.map((p) => fmt(serverCost(p, m.key), 1)).join(" | ")} | ${vs(node)} | ${
        vs(c)
      } |`,
    );
  }
  return lines;
}

function renderScaling(peers: PeerFigures[]): string[] {
  const me = peers.find((p) => p.name === "sockkit");
  if (!me?.scaling) return [];
  const lines = [
    `| measurement (sockkit) | ${SCALING_WORKERS.map((w) => `${w} worker${w > 1 ? "s" : ""}`).join(" | ")} |`,
    `|---|${SCALING_WORKERS.map(() => "--:").join("|")}|`,
  ];
  for (const key of SCALING_KEYS) {
    const cell = (r: BenchResult | undefined) =>
      r
        ? `${r.mode === "stream" ? `${fmt(r.mbPerSec, 0)} MB/s` : `${fmt(r.messagesPerSec, 0)}/s`} (gen ${
          r.generatorCpuPercent.toFixed(0)
        }%)`
        : "–";
    const m = MEASUREMENTS.find((x) => x.key === key)!;
    const full = me.results[key];
    const suiteRun = full
      ? full.slice().sort((a, b) => a.messagesPerSec - b.messagesPerSec)[full.length >> 1]
      : undefined;
    const cellFor = (w: number) => w === m.workers ? `**${cell(suiteRun)}**` : cell(me.scaling![key][w]);
    lines.push(`| ${key} | ${SCALING_WORKERS.map(cellFor).join(" | ")} |`);
  }
  return lines;
}

function renderTargets(peers: PeerFigures[]): string[] {
  const get = (name: string, key: string, f: (r: BenchResult) => number) => {
    const p = peers.find((x) => x.name === name);
    return p ? figure(p, { key, value: f } as Row) : NaN;
  };
  const mbs = (r: BenchResult) => r.mbPerSec;
  const rate = (r: BenchResult) => r.messagesPerSec;
  const p999 = (r: BenchResult) => r.latency!.p999;
  const fair = (r: BenchResult) => r.fairness!.min / r.fairness!.median;
  const mine = peers.find((p) => p.name === "sockkit");
  const t = (label: string, value: number, goal: number, text: string, lowerIsGoal = false) => {
    const met = Number.isFinite(value) ? (lowerIsGoal ? value <= goal : value >= goal) : undefined;
    return `| ${label} | ${text} | ${met === undefined ? "–" : met ? "met" : "**missed**"} |`;
  };
  const r1 = get("sockkit", "bulk1", mbs) / get("C epoll", "bulk1", mbs);
  const r2 = get("sockkit", "bulk1", mbs) / get("Node", "bulk1", mbs);
  const r3 = get("sockkit", "pp50", rate) / get("Node", "pp50", rate);
  const r4 = get("sockkit", "pp500", rate) / get("C epoll", "pp500", rate);
  const f5 = get("sockkit", "pp500", fair);
  const l6 = get("sockkit", "pp500", p999);
  const n6 = get("Node", "pp500", p999);
  const rss = mine?.rssPerConnKiB ?? NaN;
  const quiet = get("sockkit --quiet", "pp50", rate);
  const logCost = 1 - get("sockkit", "pp50", rate) / quiet;
  const quiet500 = get("sockkit --quiet", "pp500", rate);
  const logCost500 = 1 - get("sockkit", "pp500", rate) / quiet500;
  return [
    "| target | measured | |",
    "|---|---|---|",
    t("bulk 1 conn ≥ 1.0× C", r1, 1.0, `${r1.toFixed(2)}×`),
    t("bulk 1 conn ≥ 1.5× Node", r2, 1.5, `${r2.toFixed(2)}×`),
    t("ping-pong 50 ≥ 1.3× Node", r3, 1.3, `${r3.toFixed(2)}×`),
    t("ping-pong 500 ≥ 0.85× C", r4, 0.85, `${r4.toFixed(2)}×`),
    t("ping-pong 500: slowest ≥ 0.8× median", f5, 0.8, `${f5.toFixed(2)}`),
    t("ping-pong 500: p99.9 ≤ Node's", n6 - l6, 0, `${fmt(l6, 3)} ms vs ${fmt(n6, 3)} ms`),
    t("≤ 8 KiB RSS per idle connection", rss, 8, `${fmt(rss, 1)} KiB`, true),
    t(
      "default logging costs < 5% vs --quiet (ping-pong 50 / 500)",
      Math.max(logCost, logCost500),
      0.05,
      `${(logCost * 100).toFixed(1)}% / ${(logCost500 * 100).toFixed(1)}%`,
      true,
    ),
  ];
}

/** The version line of each tool the peers that ran need (and Deno's and the C compiler's, always). */
function toolVersions(peers: PeerFigures[]): string {
  const ran = (name: string) => peers.some((p) => !p.skipped && p.name.split(" ")[0] === name);
  const socat = () =>
    run(["socat", "-V"]).split("\n").find((l) => /socat version/.test(l))?.replace(/^socat by.*$/, "")
      .trim() ??
      "socat";
  return [
    `Deno ${Deno.version.deno}`,
    ...(ran("Node") ? [`Node ${run(["node", "--version"])}`] : []),
    ...(ran("Python") ? [run(["python3", "--version"])] : []),
    ...(ran("socat") ? [socat()] : []),
    run(["cc", "--version"]).split("\n")[0],
  ].join(", ");
}

function machineLines(pin: Pinning, seconds: number, reps: number, peers: PeerFigures[]): string[] {
  const cpu = /model name\s*:\s*(.*)/.exec(Deno.readTextFileSync("/proc/cpuinfo"))?.[1] ?? "unknown CPU";
  const forking = ["Python", "socat"].filter((n) => peers.some((p) => !p.skipped && p.name === n));
  return [
    `- date: ${new Date().toISOString().replace(/\.\d+Z$/, "Z")}`,
    `- machine: ${navigator.hardwareConcurrency} CPUs (\`nproc\`: ${run(["nproc"])}), ${cpu}, ${
      run(["uname", "-sr"])
    }`,
    `- tools: ${toolVersions(peers)}`,
    `- pinning: ${pin.text}`,
    `- 1-minute load average after each run: ${fmt(Math.min(...loadAverages), 2)}–${
      fmt(Math.max(...loadAverages), 2)
    }${
      forking.length
        ? ` (every runnable thread counts: ${
          forking.map((n) => n === "Python" ? "Python's thread" : "socat's process").join(" and ")
        } per connection lift it to dozens at 500 connections)`
        : ""
    }`,
    `- each figure: median of ${reps} runs of ${seconds} s; memory: VmRSS while ${HOLD_CONNECTIONS} idle ` +
    `connections are held (each after one echo), minus the RSS before, divided by ${HOLD_CONNECTIONS}`,
  ];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      duration: { type: "string", default: "3s" },
      reps: { type: "string", default: "3" },
      only: { type: "string" },
      out: { type: "string", default: `${ROOT}bench/RESULTS.md` },
    },
  });
  const seconds = parseDuration(values.duration) / 1000;
  const reps = Number(values.reps);
  const only = values.only?.split(",");
  const pin = pinning();
  const tmp = await Deno.makeTempDir({ prefix: "sockkit-peers-" });
  try {
    if (hasTool("cc")) {
      const out = run(["cc", "-O2", "-o", `${tmp}/epoll_echo`, `${ROOT}bench/peers/epoll_echo.c`]);
      if (out) log(out);
    }
    log(`Peer comparison: ${pin.text}; ${reps} × ${seconds} s per figure`);
    // sockkit is always measured: every ratio in the report is against it.
    const selected = PEERS.filter((p) =>
      !only || p.name === "sockkit" || only.includes(p.name) || only.includes(p.name.split(" ")[0])
    );
    const peers = await measureAll(selected, { seconds, reps, tmp, pin });
    for (const p of peers) if (p.skipped) log(`${p.name} skipped: ${p.skipped}`);
    const shown = peers.filter((p) => !p.skipped);
    const report = [
      "# sockkit peer comparison",
      "",
      "Produced by `deno task bench:peers` (bench/peers.ts); how to read it and what limits it: bench/NOTES.md.",
      "",
      ...machineLines(pin, seconds, reps, peers),
      ...peers.filter((p) => p.skipped).map((p) => `- ${p.name} skipped: ${p.skipped}`),
      "",
      "## Figures (medians)",
      "",
      "Ratios: how many times better sockkit is (for latency and memory, the other's figure ÷ sockkit's).",
      "`sockkit` runs with default logging (a line per connect and disconnect, to /dev/null);",
      "`sockkit --quiet` only where it measures the cost of logging.",
      "",
      ...renderTable(shown),
      "",
      "## Targets",
      "",
      ...renderTargets(shown),
      "",
      "## CPU used during each measurement (server / generator, % of one core, medians)",
      "",
      "Each cell: server CPU / generator CPU (each process's user + system time, which includes the kernel's",
      "loopback work done in its system calls), and what set the figure: the side at or above",
      `${SATURATED_PERCENT}% of its core ("neither": round-trip latency did, each side waiting on the other).`,
      "",
      ...renderCpuTable(shown),
      "",
      "## Server CPU per message (medians)",
      "",
      "The server's CPU time per round trip (bulk: per MB echoed): what each server costs, also where the",
      "generator set the throughput. Ratios: the other's cost ÷ sockkit's (above 1: sockkit is cheaper).",
      "",
      ...renderCostTable(shown),
      "",
      "## Generator check: sockkit's figures with 1, 2 and 4 generator workers",
      "",
      "In bold the suite's own setting (the median above); the others are single runs. All workers share the",
      "load CPU, so a figure the generator set cannot rise with more workers.",
      "",
      ...renderScaling(shown),
      "",
    ];
    await Deno.writeTextFile(values.out, report.join("\n"));
    run([Deno.execPath(), "fmt", values.out]);
    log(`wrote ${values.out}`);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

if (import.meta.main) await main();
