/**
 * `deno task stress`: the long reliability cases, each against a real `sockkit server` child process on
 * 127.0.0.1, with the load in a second process. Prints a pass/fail table and exits 1 when a case fails.
 *
 *   deno task stress                 5,000 clients × 20 echoes, then a 3-minute soak
 *   deno task stress --quick         1,000 clients, 1-minute soak (RSS growth shown, not judged)
 *   deno task stress --only soak     one case (many-clients | soak); --clients N, --soak SECONDS
 *
 * Linux only: it raises `ulimit -n` for its children and reads /proc for memory and descriptors.
 * @module
 */
import { sleep } from "../lib/core/io.ts";
import {
  denoRun,
  fdLimitOf,
  forEachLine,
  type JsonEvent,
  machineDescription,
  openFds,
  rssKiB,
  type ServerProcess,
  spawnLimited,
  spawnServer,
  within,
} from "../tests/_proc.ts";

const LOAD = new URL("./stress_load.ts", import.meta.url).pathname;

interface Settings {
  clients: number;
  echoes: number;
  soakSeconds: number;
  /** False for --quick: a one-minute soak ends before V8 has finished sizing its heap. */
  judgeRss: boolean;
  only?: string;
}

/** One collection from `--trace-gc`: when, whether it was a full one, the heap it left live and its size. */
interface Gc {
  seconds: number;
  full: boolean;
  liveMb: number;
  committedMb: number;
}

function collections(lines: string[]): Gc[] {
  return lines.flatMap((line) => {
    const m = /(\d+) ms: ([A-Za-z -]+?)(?: \([a-z ]+\))? [\d.]+ \([\d.]+\) -> ([\d.]+) \(([\d.]+)\) MB/.exec(
      line,
    );
    if (!m) return [];
    return [{
      seconds: Number(m[1]) / 1000,
      full: m[2].includes("Mark-Compact"),
      liveMb: Number(m[3]),
      committedMb: Number(m[4]),
    }];
  });
}

/**
 * When the warm-up ends: V8 sizes its heap to the allocation rate, which steps RSS up once or twice and then
 * leaves it flat; that is not growth a leak would cause. So the warm-up lasts at least a third of the run,
 * and until the last collection after which V8's heap had grown by more than 10%. (A leak shows anyway: in
 * the live heap after full GCs, which must not grow either, and by keeping the heap growing to the end.)
 */
function warmupEnd(s: Settings, gcs: Gc[]): number {
  let settledAt = 0;
  let largest = 0;
  for (const gc of gcs) {
    if (gc.committedMb > largest * 1.1) settledAt = gc.seconds;
    largest = Math.max(largest, gc.committedMb);
  }
  return Math.round(Math.max(s.soakSeconds / 3, settledAt));
}

interface CaseResult {
  name: string;
  pass: boolean;
  /** The measured figures, one short line. */
  figures: string;
  /** Why it failed, and anything else worth printing under the table (e.g. the RSS chart). */
  notes: string[];
}

/** The load process, its JSON lines as they arrive, and its exit. */
function startLoad(args: string[]) {
  const child = spawnLimited(denoRun(LOAD, ["--allow-net"], args), "max");
  const lines: Record<string, unknown>[] = [];
  let stderr = "";
  const reading = Promise.all([
    forEachLine(child.stdout, (line) => {
      try {
        lines.push(JSON.parse(line));
      } catch {
        stderr += line + "\n";
      }
    }),
    forEachLine(child.stderr, (line) => (stderr += line + "\n")),
  ]);
  const exited = Promise.all([child.status, reading]).then(([s]) => s.code);
  return {
    pid: child.pid,
    lines,
    exited,
    stderr: () => stderr,
    last: (phase: string) => lines.findLast((l) => l.phase === phase),
    kill: () => {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
    },
  };
}

const mib = (kib: number) => (kib / 1024).toFixed(1);

/** Case 1: `clients` connections held at once, each with `echoes` checked echoes. */
async function manyClients(s: Settings): Promise<CaseResult> {
  const name = `many-clients`;
  const notes: string[] = [];
  let peak = 0;
  const server = await spawnServer({
    fdLimit: "max",
    keep: (e) => e.type === "warning",
    onEvent: (e: JsonEvent) => {
      if (e.type === "connect") peak = Math.max(peak, Number(e.active));
    },
  });
  const serverLimit = await fdLimitOf(server.pid);
  let rssPeak = await rssKiB(server.pid);
  const sampler = setInterval(
    () => rssKiB(server.pid).then((r) => (rssPeak = Math.max(rssPeak, r)), () => {}),
    250,
  );
  const load = startLoad(["many", String(server.port), String(s.clients), String(s.echoes), "100"]);
  let loadLimit: number | undefined;
  try {
    loadLimit = await fdLimitOf(load.pid).catch(() => undefined);
    const code = await within(load.exited, 300_000, "the load to finish").catch((err) => {
      load.kill();
      notes.push(String(err));
      return -1;
    });
    const done = load.last("done");
    const exit = await server.stop("SIGTERM");
    const expected = s.clients * s.echoes * 100;
    const checks: [boolean, string][] = [
      [
        code === 0 && done !== undefined,
        `load failed: ${JSON.stringify(load.last("error") ?? load.stderr())}`,
      ],
      [done?.verified === expected, `verified ${done?.verified} of ${expected} bytes`],
      [peak === s.clients, `the server held at most ${peak} clients at once`],
      [
        server.events.every((e) => e.type !== "warning"),
        `server warnings: ${JSON.stringify(server.events.filter((e) => e.type === "warning"))}`,
      ],
      [exit.code === 0, `server exit code ${exit.code}: ${server.otherLines.join("\n")}`],
    ];
    notes.push(...checks.filter(([ok]) => !ok).map(([, why]) => why));
    return {
      name,
      pass: notes.length === 0,
      figures: `${peak} clients held at once (fd limit ${serverLimit} server, ${loadLimit} load), ` +
        `${done?.echoes ?? 0} echoes verified in ${((Number(done?.ms) || 0) / 1000).toFixed(1)}s, ` +
        `server RSS peak ${mib(rssPeak)} MiB`,
      notes,
    };
  } finally {
    clearInterval(sampler);
    load.kill();
    await server.stop("SIGKILL");
  }
}

interface Sample {
  t: number;
  rss: number;
  fds: number;
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** RSS over time as an ASCII chart, `height` rows by at most `width` columns, warm-up end marked `|`. */
export function asciiChart(samples: Sample[], warmupSeconds: number, width = 60, height = 8): string[] {
  const columns = Math.min(width, samples.length);
  const buckets = Array.from({ length: columns }, (_, c) => {
    const part = samples.slice(
      Math.floor((c * samples.length) / columns),
      Math.floor(((c + 1) * samples.length) / columns),
    );
    return part.reduce((sum, x) => sum + x.rss, 0) / part.length;
  });
  const lo = Math.min(...buckets);
  const hi = Math.max(...buckets);
  const span = Math.max(hi - lo, 1);
  const level = (v: number) => Math.round(((v - lo) / span) * (height - 1));
  const rows: string[] = [];
  for (let row = height - 1; row >= 0; row--) {
    const label = row === height - 1 ? mib(hi) : row === 0 ? mib(lo) : "";
    rows.push(`${label.padStart(7)} |${buckets.map((v) => (level(v) >= row ? "#" : " ")).join("")}`);
  }
  const seconds = samples.at(-1)!.t;
  const axis = Array.from({ length: columns }, (_, c) => {
    const t = ((c + 1) * seconds) / columns;
    return t >= warmupSeconds && (c * seconds) / columns < warmupSeconds ? "|" : "-";
  }).join("");
  rows.push(`${"MiB".padStart(7)} +${axis}`);
  rows.push(`${"".padStart(9)}0s${`${Math.round(seconds)}s`.padStart(columns - 2)}`);
  rows.push(`${"".padStart(9)}| on the axis: end of the ${warmupSeconds}s warm-up`);
  return rows;
}

/** A server watched during the soak: its samples and its descriptors before the load. */
interface Watched {
  label: string;
  server: ServerProcess;
  baselineFds: number;
  samples: Sample[];
}

async function watch(label: string, args: string[]): Promise<Watched> {
  const server = await spawnServer({
    args,
    fdLimit: "max",
    keep: (e) => e.type === "warning",
    v8Flags: ["--trace-gc"],
  });
  return { label, server, baselineFds: await openFds(server.pid), samples: [] };
}

/** Judges one server after the soak: RSS growth after warm-up, live heap, descriptors, warnings, exit. */
async function judge(w: Watched, s: Settings, load: string): Promise<CaseResult> {
  const all = collections(w.server.otherLines);
  const warmup = warmupEnd(s, all);
  const gcs = all.filter((gc) => gc.full);
  let fdsAfter = await openFds(w.server.pid);
  for (let i = 0; i < 50 && fdsAfter > w.baselineFds; i++) {
    await sleep(200);
    fdsAfter = await openFds(w.server.pid);
  }
  const exit = await w.server.stop("SIGTERM");
  const after = w.samples.filter((x) => x.t >= warmup);
  const window = Math.max(1, Math.round(after.length / 10));
  const start = median(after.slice(0, window).map((x) => x.rss));
  const end = median(after.slice(-window).map((x) => x.rss));
  const growth = (end / start - 1) * 100;
  const gcsAfter = gcs.filter((g) => g.seconds >= warmup);
  const [gcFirst, gcLast] = gcsAfter.length >= 2 ? [gcsAfter[0], gcsAfter.at(-1)!] : [gcs.at(-2), gcs.at(-1)];
  const heapGrowth = gcFirst && gcLast ? (gcLast.liveMb / gcFirst.liveMb - 1) * 100 : NaN;
  const warnings = w.server.events.filter((e) => e.type === "warning");
  const checks: [boolean, string][] = [
    [after.length >= s.soakSeconds / 6, `only ${after.length} samples after the ${warmup}s warm-up`],
    [growth < 10 || !s.judgeRss, `RSS grew ${growth.toFixed(1)}% after the warm-up`],
    [heapGrowth < 10 || gcs.length < 2, `live JS heap after full GCs: ${JSON.stringify(gcs)}`],
    [fdsAfter <= w.baselineFds, `open descriptors ${w.baselineFds} before, ${fdsAfter} after`],
    [warnings.length === 0, `server warnings: ${JSON.stringify(warnings)}`],
    [exit.code === 0, `server exit code ${exit.code}: ${w.server.otherLines.join("\n")}`],
  ];
  const peak = Math.max(...w.samples.map((x) => x.rss));
  const notes = checks.filter(([ok]) => !ok).map(([, why]) => why);
  if (w.samples.length >= 2) {
    notes.push(`${w.label} server RSS during the soak:`, ...asciiChart(w.samples, warmup));
  }
  const gcList = gcs.map((g) => `${Math.round(g.seconds)}s ${g.liveMb}/${g.committedMb}`).join(", ");
  notes.push(`full GCs (time, live/heap MB): ${gcList || "none"}`);
  const sign = growth >= 0 ? "+" : "";
  return {
    name: `soak/${w.label}`,
    pass: checks.every(([ok]) => ok),
    figures:
      `${Math.round(s.soakSeconds)}s, ${load}; RSS ${mib(start)} -> ${
        mib(end)
      } MiB after the ${warmup}s warm-up ` +
      `(${sign}${growth.toFixed(1)}%, ${s.judgeRss ? "bound 10%" : "not judged in --quick"}), peak ${
        mib(peak)
      } MiB, ` +
      `live heap after full GC ${
        gcs.length < 2 ? "n/a (fewer than 2 full GCs)" : `${gcFirst?.liveMb} -> ${gcLast?.liveMb} MB`
      }, fds ${w.baselineFds} -> ${fdsAfter}`,
    notes,
  };
}

/**
 * Case 7: mixed load for `soakSeconds` on an echo server and a chat server at once; for each, RSS after
 * warm-up must grow < 10% and descriptors must come back to their baseline.
 */
async function soak(s: Settings): Promise<CaseResult[]> {
  const servers = [await watch("echo", []), await watch("chat", ["--mode", "chat"])];
  const [echo, chat] = servers;
  const startedAt = performance.now();
  const load = startLoad(["soak", String(echo.server.port), String(chat.server.port), String(s.soakSeconds)]);
  let finished = false;
  const code = load.exited.finally(() => (finished = true));
  try {
    while (!finished && performance.now() - startedAt < (s.soakSeconds + 60) * 1000) {
      const t = (performance.now() - startedAt) / 1000;
      for (const w of servers) {
        w.samples.push({ t, rss: await rssKiB(w.server.pid), fds: await openFds(w.server.pid) });
      }
      await Promise.race([sleep(1000), code]);
    }
    if (!finished) load.kill();
    const done = load.last("done");
    const loadProblems = [
      ...(finished ? [] : ["the load did not finish in time"]),
      ...((await code) === 0 && done
        ? []
        : [`load failed: ${JSON.stringify(load.last("error") ?? load.stderr())}`]),
      ...(done?.errors === 0 ? [] : [`${done?.errors} load errors, first: ${done?.firstError}`]),
    ];
    const results = [
      await judge(echo, s, `${done?.echoes ?? 0} echoes + ${done?.churned ?? 0} connect/disconnects`),
      await judge(
        chat,
        s,
        `${done?.chatSaid ?? 0} chat lines said, ${done?.chatHeard ?? 0} heard, ${
          done?.chatChurned ?? 0
        } join/quits`,
      ),
    ];
    for (const r of results) {
      r.notes.unshift(...loadProblems);
      r.pass &&= loadProblems.length === 0;
    }
    return results;
  } finally {
    load.kill();
    for (const w of servers) await w.server.stop("SIGKILL");
  }
}

const CASES: Record<string, (s: Settings) => Promise<CaseResult | CaseResult[]>> = {
  "many-clients": manyClients,
  soak,
};

function parseSettings(args: string[]): Settings {
  const quick = args.includes("--quick");
  const settings: Settings = quick
    ? { clients: 1000, echoes: 20, soakSeconds: 60, judgeRss: false }
    : { clients: 5000, echoes: 20, soakSeconds: 180, judgeRss: true };
  for (let i = 0; i < args.length; i++) {
    const [flag, value] = [args[i], args[i + 1]];
    if (flag === "--quick") continue;
    if (flag === "--only" && value && value in CASES) settings.only = value;
    else if (flag === "--clients" && /^\d+$/.test(value ?? "")) settings.clients = Number(value);
    else if (flag === "--soak" && /^\d+$/.test(value ?? "")) settings.soakSeconds = Number(value);
    else {
      throw new Error(
        `bad argument '${flag}'${value === undefined ? "" : ` '${value}'`}: expected --quick, ` +
          `--only ${Object.keys(CASES).join("|")}, --clients N, --soak SECONDS`,
      );
    }
    i++;
  }
  return settings;
}

function printTable(results: CaseResult[]): void {
  const width = Math.max(...results.map((r) => r.name.length), 4);
  console.log(`\n${"case".padEnd(width)}  result  figures`);
  for (const r of results) {
    console.log(`${r.name.padEnd(width)}  ${r.pass ? "PASS  " : "FAIL  "}  ${r.figures}`);
  }
  for (const r of results) {
    if (r.notes.length) console.log(`\n${r.name}:\n${r.notes.map((n) => `  ${n}`).join("\n")}`);
  }
}

if (import.meta.main) {
  let settings: Settings;
  try {
    settings = parseSettings(Deno.args);
  } catch (err) {
    console.error(`stress: ${(err as Error).message}`);
    Deno.exit(2);
  }
  if (Deno.build.os !== "linux") {
    console.error("stress: needs Linux (ulimit for the child processes, /proc for memory and descriptors)");
    Deno.exit(1);
  }
  console.log(`Machine: ${await machineDescription()}`);
  const results: CaseResult[] = [];
  for (const [name, run] of Object.entries(CASES)) {
    if (settings.only && settings.only !== name) continue;
    console.log(`Running ${name} …`);
    results.push(
      ...[
        await run(settings).catch((err) => ({ name, pass: false, figures: "crashed", notes: [String(err)] })),
      ].flat(),
    );
  }
  printTable(results);
  Deno.exit(results.every((r) => r.pass) ? 0 : 1);
}
