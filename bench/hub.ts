/**
 * The scale check for rooms over Redis (`--hub`): starts a real redis-server and sockkit chat instances on
 * loopback, connects N clients to each, has every client say its lines at once, and checks that every client
 * on every instance gets every other client's lines in per-sender order. It compares delivery rate and
 * latency (p50/p99) with the same clients on one instance without a hub, then restarts Redis while clients
 * keep talking, to show that nothing crashes and delivery resumes. Prints a markdown section.
 *
 * Usage: deno task bench:hub [--clients 100] [--lines 1] [--instances 3]
 * @module
 */
import { parseArgs } from "node:util";
import { sleep, writeAll } from "../lib/core/io.ts";
import { RUNTIME_FLAGS } from "../tools/compile.ts";
import { machineDescription } from "../tests/_proc.ts";
import { NO_REDIS, startRedis } from "../tests/_redis.ts";
import { DEFAULT_SERVER_WORKERS } from "../lib/server/loops.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** How long a phase may take to deliver everything before what is missing is counted missing. */
const DELIVERY_LIMIT_MS = 60_000;

/** A sockkit chat server this script started, as its own process with sockkit's permissions. */
interface Instance {
  port: number;
  child: Deno.ChildProcess;
  stderr: string[];
}

async function startInstance(hub?: string, extra: string[] = []): Promise<Instance> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      ...RUNTIME_FLAGS,
      MAIN,
      "server",
      "0",
      "--host",
      "127.0.0.1",
      "--mode",
      "chat",
      "--quiet",
      ...(hub ? ["--hub", hub] : []),
      ...extra,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr: string[] = [];
  let resolvePort: (port: number) => void = () => {};
  const port = new Promise<number>((resolve) => resolvePort = resolve);
  (async () => {
    let pending = "";
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      pending += chunk;
      for (let nl = pending.indexOf("\n"); nl >= 0; nl = pending.indexOf("\n")) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        stderr.push(line);
        const listening = /^Listening on 127\.0\.0\.1:(\d+) /.exec(line);
        if (listening) resolvePort(Number(listening[1]));
      }
    }
  })();
  const started = await Promise.race([port, child.status.then(() => -1)]);
  if (started < 0) throw new Error(`a sockkit instance did not start:\n${stderr.join("\n")}`);
  return { port: started, child, stderr };
}

async function stopInstance(instance: Instance): Promise<boolean> {
  let alive = true;
  try {
    instance.child.kill("SIGINT");
  } catch {
    alive = false;
  }
  await instance.child.status;
  return alive;
}

/** What one phase measured, over every receiving client. */
interface Tally {
  delivered: number;
  /** Lines from a sender that arrived after a later line of the same sender. */
  outOfOrder: number;
  latencies: number[];
  crossLatencies: number[];
  crossDelivered: number;
  /** Cross-instance deliveries by when the line was sent (ms since the phase started). */
  crossSentAt: number[];
  /** When the last line arrived (performance.now()). */
  lastAt: number;
}

/** One chat client: reads every line, checks per-sender order, records latency. */
class BenchClient {
  readonly #last = new Map<number, number>();
  #pending = "";
  welcomed!: Promise<void>;
  closed = false;

  constructor(
    readonly id: number,
    readonly instance: number,
    readonly conn: Deno.Conn,
    readonly tally: Tally,
    readonly instanceOf: (sender: number) => number,
    readonly origin: { t0: number },
  ) {}

  start(): void {
    let welcome: () => void = () => {};
    this.welcomed = new Promise((resolve) => welcome = resolve);
    (async () => {
      const buf = new Uint8Array(64 * 1024);
      try {
        for (let n = await this.conn.read(buf); n !== null; n = await this.conn.read(buf)) {
          this.#pending += decoder.decode(buf.subarray(0, n), { stream: true });
          for (let nl = this.#pending.indexOf("\n"); nl >= 0; nl = this.#pending.indexOf("\n")) {
            const line = this.#pending.slice(0, nl);
            this.#pending = this.#pending.slice(nl + 1);
            if (line.startsWith("* welcome")) welcome();
            else this.#onLine(line);
          }
        }
      } catch {
        // closed by the bench at the end
      }
      this.closed = true;
    })();
  }

  #onLine(line: string): void {
    const m = /^<[^>]+> m (\d+) (\d+) ([\d.]+)$/.exec(line);
    if (!m) return;
    const [sender, seq, sentAt] = [Number(m[1]), Number(m[2]), Number(m[3])];
    const latency = performance.now() - sentAt;
    const last = this.#last.get(sender) ?? -1;
    if (seq <= last) this.tally.outOfOrder++;
    this.#last.set(sender, Math.max(seq, last));
    this.tally.delivered++;
    this.tally.lastAt = performance.now();
    this.tally.latencies.push(latency);
    if (this.instanceOf(sender) !== this.instance) {
      this.tally.crossDelivered++;
      this.tally.crossLatencies.push(latency);
      this.tally.crossSentAt.push(sentAt - this.origin.t0);
    }
  }

  say(seq: number): Promise<void> {
    return writeAll(this.conn, encoder.encode(`m ${this.id} ${seq} ${performance.now().toFixed(3)}\n`));
  }
}

function newTally(): Tally {
  return {
    delivered: 0,
    outOfOrder: 0,
    latencies: [],
    crossLatencies: [],
    crossDelivered: 0,
    crossSentAt: [],
    lastAt: 0,
  };
}

/** Connects `perInstance` clients to each port and waits until all are welcomed and every join is heard. */
async function connectAll(ports: number[], perInstance: number, tally: Tally, origin: { t0: number }) {
  const clients: BenchClient[] = [];
  const instanceOf = (sender: number) => Math.floor(sender / perInstance);
  for (let i = 0; i < ports.length; i++) {
    for (let j = 0; j < perInstance; j++) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: ports[i] });
      const client = new BenchClient(i * perInstance + j, i, conn, tally, instanceOf, origin);
      client.start();
      clients.push(client);
    }
  }
  await Promise.all(clients.map((c) => c.welcomed));
  await sleep(1000); // the join notices settle before anyone speaks
  return clients;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

const ms = (v: number) => Number.isNaN(v) ? "–" : `${v.toFixed(1)} ms`;

interface PhaseResult {
  label: string;
  clients: number;
  sent: number;
  expected: number;
  /** Deliveries expected from clients of other instances. */
  crossExpected: number;
  tally: Tally;
  elapsedMs: number;
}

/** Every client says `lines` lines at once; waits until all arrived (or the limit passed). */
async function burst(
  label: string,
  ports: number[],
  perInstance: number,
  lines: number,
): Promise<PhaseResult> {
  const tally = newTally();
  const origin = { t0: 0 };
  const clients = await connectAll(ports, perInstance, tally, origin);
  const total = clients.length;
  const expected = total * (total - 1) * lines;
  origin.t0 = performance.now();
  for (let seq = 0; seq < lines; seq++) await Promise.all(clients.map((c) => c.say(seq)));
  while (tally.delivered < expected && performance.now() - origin.t0 < DELIVERY_LIMIT_MS) await sleep(20);
  const elapsedMs = (tally.delivered < expected ? performance.now() : tally.lastAt) - origin.t0;
  for (const c of clients) c.conn.close();
  await sleep(300);
  const crossExpected = total * (total - perInstance) * lines;
  return { label, clients: total, sent: total * lines, expected, crossExpected, tally, elapsedMs };
}

function row(r: PhaseResult, cross: boolean): string {
  const lat = [...(cross ? r.tally.crossLatencies : r.tally.latencies)].sort((a, b) => a - b);
  const delivered = cross ? r.tally.crossDelivered : r.tally.delivered;
  const expected = cross ? r.crossExpected : r.expected;
  const rate = delivered / (r.elapsedMs / 1000);
  return `| ${r.label}${cross ? ", other instances only" : ""} | ${r.clients} | ${r.sent} | ${expected} | ` +
    `${delivered} | ${r.tally.outOfOrder} | ${Math.round(rate)}/s | ${ms(percentile(lat, 0.5))} | ` +
    `${ms(percentile(lat, 0.99))} |`;
}

/** What the scale check is run with. */
export interface HubBenchOptions {
  /** Clients per instance (default 100). */
  clients?: number;
  /** Lines each client says in the burst (default 1). */
  lines?: number;
  /** Instances sharing the room (default 3). */
  instances?: number;
}

/** Runs the scale check and resolves to its markdown section (`## Rooms over Redis`), for the peer suite. */
export async function hubBenchSection(opts: HubBenchOptions = {}): Promise<string> {
  const perInstance = opts.clients ?? 100;
  const lines = opts.lines ?? 1;
  const count = opts.instances ?? 3;
  if (NO_REDIS) return `## Rooms over Redis\n\nNot run: ${NO_REDIS}.\n`;
  const out: string[] = ["## Rooms over Redis", ""];
  out.push(
    `\`deno task bench:hub\` (bench/hub.ts), ${new Date().toISOString().slice(0, 10)}, ` +
      `${await machineDescription()}, redis-server ${await redisVersion()} on loopback. Each sockkit ` +
      `instance is its own process (\`server --mode chat --quiet\`, sockkit's permissions); the clients are ` +
      `one Deno process. Every client says ${
        lines === 1 ? "one line" : `${lines} lines`
      } at once and every ` +
      `other client must get it; latency is from the write to the line read, on one clock; the rate is ` +
      `deliveries over the time from the first write to the last line read.`,
    "",
  );

  // the same clients on one instance without a hub: on one event loop, and spread over its default loops
  const oneLoop = await startInstance(undefined, ["--workers", "1"]);
  const single = await burst(
    `one process, one loop (--workers 1), no hub`,
    [oneLoop.port],
    perInstance * count,
    lines,
  );
  await stopInstance(oneLoop);
  const loops = await startInstance();
  const one = await burst(
    `one process, ${DEFAULT_SERVER_WORKERS} loops (the default), no hub`,
    [loops.port],
    perInstance * count,
    lines,
  );
  await stopInstance(loops);

  const redis = await startRedis();
  try {
    const instances: Instance[] = [];
    for (let i = 0; i < count; i++) instances.push(await startInstance(redis.url));
    const shared = await burst(
      `${count} instances over Redis`,
      instances.map((i) => i.port),
      perInstance,
      lines,
    );
    out.push(
      "| Setup | Clients | Lines said | Deliveries expected | Delivered | Out of order | Rate | p50 | p99 |",
      "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
      row(single, false),
      row(one, false),
      row(shared, false),
      row(shared, true),
      "",
    );

    // Redis restarted while everyone keeps talking
    const talkers = Math.min(perInstance, 20);
    const tally = newTally();
    const origin = { t0: 0 };
    const clients = await connectAll(instances.map((i) => i.port), talkers, tally, origin);
    origin.t0 = performance.now();
    const everyMs = 50, runMs = 8000, killAt = 2000, restartAt = 3000;
    let sent = 0;
    const talking = (async () => {
      for (let seq = 0; performance.now() - origin.t0 < runMs; seq++) {
        await Promise.all(clients.map((c) => c.say(seq).catch(() => {})));
        sent += clients.length;
        await sleep(everyMs);
      }
    })();
    await sleep(killAt);
    await redis.kill();
    await sleep(restartAt - killAt);
    await redis.restart();
    const restartedAt = performance.now() - origin.t0;
    await talking;
    await sleep(1000);
    const firstAfter = tally.crossSentAt.reduce((min, t) => t > restartedAt && t < min ? t : min, Infinity);
    const crossAfter = tally.crossSentAt.filter((t) => t > firstAfter).length;
    const connected = clients.filter((c) => !c.closed).length;
    for (const c of clients) c.conn.close();
    await sleep(300);
    const warnings = instances.map((i) =>
      i.stderr.filter((l) => l.startsWith("warning: hub: lost Redis")).length
    );
    const alive = await Promise.all(instances.map(stopInstance));
    const total = clients.length;
    out.push(
      `Redis restart: ${count} instances × ${talkers} clients, each client saying a line every ${everyMs} ms ` +
        `for ${runMs / 1000} s (${sent} lines); redis-server killed (SIGKILL) at ${killAt / 1000} s and ` +
        `started again (empty) at ${restartAt / 1000} s.`,
      "",
      `- instances still running at the end: ${alive.filter(Boolean).length} of ${count}; clients still ` +
        `connected: ${connected} of ${total}; "lost Redis" warnings per instance: ${warnings.join(", ")}`,
      `- lines out of per-sender order: ${tally.outOfOrder}; deliveries: ${tally.delivered} of ` +
        `${sent * (total - 1)} possible (what was said while Redis was away reached only its own instance)`,
      `- the first line said after the restart that reached another instance was said ` +
        `${(firstAfter - restartedAt).toFixed(0)} ms after redis-server was started again; ${crossAfter} ` +
        `cross-instance deliveries followed`,
      "",
    );
  } finally {
    await redis.stop();
  }
  return out.join("\n");
}

async function redisVersion(): Promise<string> {
  const out = await new Deno.Command("redis-server", { args: ["--version"], stdout: "piped" }).output();
  return /v=(\S+)/.exec(decoder.decode(out.stdout))?.[1] ?? "?";
}

if (import.meta.main) {
  const args = parseArgs({
    options: {
      clients: { type: "string", default: "100" },
      lines: { type: "string", default: "1" },
      instances: { type: "string", default: "3" },
    },
  }).values;
  const [clients, lines, instances] = [args.clients, args.lines, args.instances].map(Number);
  if (![clients, lines, instances].every((n) => Number.isInteger(n) && n >= 1)) {
    console.error("bench:hub: --clients, --lines and --instances take whole numbers of 1 or more");
    Deno.exit(2);
  }
  console.log(await hubBenchSection({ clients, lines, instances }));
}
