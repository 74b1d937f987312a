/**
 * The load side of `deno task stress`, run as its own process (under a raised `ulimit -n`) so that it
 * neither shares the server's descriptor limit nor its CPU core. Every echo is checked byte for byte.
 * It prints one JSON object per line: progress, then `{"phase":"done",…}` or `{"phase":"error",…}`.
 *
 *   stress_load.ts many PORT CLIENTS ECHOES SIZE   hold CLIENTS connections at once, ECHOES echoes each
 *   stress_load.ts soak PORT SECONDS               steady echo clients plus connect/disconnect churn
 * @module
 */
import { sleep } from "../lib/io.ts";
import { exchangeOn } from "../tests/_peers.ts";

const HOST = "127.0.0.1";
/** Connections opened at once while ramping up, well under the listen backlog. */
const CONNECT_BATCH = 200;
/** Soak: connections that stay open and exchange a 1 KiB message every STEADY_PAUSE_MS. */
const STEADY_CLIENTS = 100;
const STEADY_PAUSE_MS = 10;
/** Soak: loops that connect, exchange one 256-byte message and disconnect, pausing CHURN_PAUSE_MS. */
const CHURNERS = 10;
const CHURN_PAUSE_MS = 40;

function report(line: Record<string, unknown>): void {
  console.log(JSON.stringify(line));
}

function message(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

/** Opens `clients` connections (all held at once), then runs `echoes` checked echoes on each. */
async function many(port: number, clients: number, echoes: number, size: number): Promise<void> {
  const conns: Deno.Conn[] = [];
  const startedAt = performance.now();
  try {
    while (conns.length < clients) {
      const batch = Math.min(CONNECT_BATCH, clients - conns.length);
      conns.push(
        ...await Promise.all(Array.from({ length: batch }, () => Deno.connect({ hostname: HOST, port }))),
      );
    }
    report({
      phase: "connected",
      clients: conns.length,
      ms: performance.now() - startedAt,
    });
    const exchangedAt = performance.now();
    const bytes = await Promise.all(conns.map((conn, key) => exchangeOn(conn, key, echoes, size)));
    const verified = bytes.reduce((sum, n) => sum + n, 0);
    report({
      phase: "done",
      clients: conns.length,
      echoes: clients * echoes,
      verified,
      ms: performance.now() - exchangedAt,
    });
  } finally {
    for (const conn of conns) conn.close();
  }
}

/** Mixed load for `seconds`: steady echo clients and connect/disconnect churn, with a progress line a second. */
async function soak(port: number, seconds: number): Promise<void> {
  const deadline = performance.now() + seconds * 1000;
  const counts = { echoes: 0, churned: 0, errors: 0 };
  let firstError: string | undefined;
  const fail = (err: unknown) => {
    counts.errors++;
    firstError ??= message(err);
  };

  const steady = async (key: number) => {
    using conn = await Deno.connect({ hostname: HOST, port });
    let position = 0;
    while (performance.now() < deadline) {
      position += await exchangeOn(conn, key, 1, 1024, position);
      counts.echoes++;
      await sleep(STEADY_PAUSE_MS);
    }
  };
  const churn = async (key: number) => {
    while (performance.now() < deadline) {
      using conn = await Deno.connect({ hostname: HOST, port });
      await exchangeOn(conn, key, 1, 256);
      counts.churned++;
      await sleep(CHURN_PAUSE_MS);
    }
  };

  const progress = setInterval(() => report({ phase: "progress", ...counts }), 1000);
  try {
    await Promise.all([
      ...Array.from({ length: STEADY_CLIENTS }, (_, k) => steady(k).catch(fail)),
      ...Array.from({ length: CHURNERS }, (_, k) => churn(STEADY_CLIENTS + k).catch(fail)),
    ]);
  } finally {
    clearInterval(progress);
  }
  report({ phase: "done", ...counts, firstError });
}

async function run(args: string[]): Promise<void> {
  const [command, ...rest] = args;
  const numbers = rest.map(Number);
  if (numbers.some((n) => !Number.isSafeInteger(n) || n < 0)) {
    throw new Error(`bad arguments: ${rest.join(" ")}`);
  }
  if (command === "many" && numbers.length === 4) {
    return await many(numbers[0], numbers[1], numbers[2], numbers[3]);
  }
  if (command === "soak" && numbers.length === 2) return await soak(numbers[0], numbers[1]);
  throw new Error(`usage: stress_load.ts many PORT CLIENTS ECHOES SIZE | soak PORT SECONDS`);
}

if (import.meta.main) {
  try {
    await run(Deno.args);
  } catch (err) {
    report({ phase: "error", message: message(err) });
    Deno.exitCode = 1;
  }
}
