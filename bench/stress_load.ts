/**
 * The load side of `deno task stress`, run as its own process (under a raised `ulimit -n`) so that it
 * neither shares the server's descriptor limit nor its CPU core. Every echo is checked byte for byte.
 * It prints one JSON object per line: progress, then `{"phase":"done",…}` or `{"phase":"error",…}`.
 *
 *   stress_load.ts many PORT CLIENTS ECHOES SIZE   hold CLIENTS connections at once, ECHOES echoes each
 *   stress_load.ts soak ECHO_PORT CHAT_PORT SECONDS   echo clients, chat members, connect/disconnect churn
 * @module
 */
import { sleep, writeAll } from "../lib/core/io.ts";
import { exchangeOn, linesOf } from "../tests/_peers.ts";

const HOST = "127.0.0.1";
const encoder = new TextEncoder();
/** Connections opened at once while ramping up, well under the listen backlog. */
const CONNECT_BATCH = 200;
/** Soak: connections that stay open and exchange a 1 KiB message every STEADY_PAUSE_MS. */
const STEADY_CLIENTS = 100;
const STEADY_PAUSE_MS = 10;
/** Soak: loops that connect, exchange one 256-byte message and disconnect, pausing CHURN_PAUSE_MS. */
const CHURNERS = 10;
const CHURN_PAUSE_MS = 40;
/** Soak: chat members that say a line every CHAT_PAUSE_MS, and loops that join, /quit and rejoin. */
const CHAT_MEMBERS = 30;
const CHAT_PAUSE_MS = 100;
const CHAT_CHURNERS = 5;
const CHAT_CHURN_PAUSE_MS = 100;

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

const CHAT_LINE = /^(<user\d+> m\d+-\d+ y*|\* .+)$/;

/**
 * Mixed load for `seconds`: steady echo clients, echo connect/disconnect churn, chat members talking and
 * chat members joining and quitting, with a progress line a second. Every echo and every chat line is checked.
 */
async function soak(echoPort: number, chatPort: number, seconds: number): Promise<void> {
  const deadline = performance.now() + seconds * 1000;
  const counts = { echoes: 0, churned: 0, chatSaid: 0, chatHeard: 0, chatChurned: 0, errors: 0 };
  let firstError: string | undefined;
  const fail = (err: unknown) => {
    counts.errors++;
    firstError ??= message(err);
  };

  const steady = async (key: number) => {
    using conn = await Deno.connect({ hostname: HOST, port: echoPort });
    let position = 0;
    while (performance.now() < deadline) {
      position += await exchangeOn(conn, key, 1, 1024, position);
      counts.echoes++;
      await sleep(STEADY_PAUSE_MS);
    }
  };
  const churn = async (key: number) => {
    while (performance.now() < deadline) {
      using conn = await Deno.connect({ hostname: HOST, port: echoPort });
      await exchangeOn(conn, key, 1, 256);
      counts.churned++;
      await sleep(CHURN_PAUSE_MS);
    }
  };
  /** Joins the chat, then reads until the server closes after the member's /quit; every line must be whole. */
  const hear = async (conn: Deno.Conn, onLine: () => void) => {
    let bye = false;
    for await (const line of linesOf(conn)) {
      if (!CHAT_LINE.test(line.replace(/\r$/, ""))) {
        throw new Error(`malformed chat line '${line.slice(0, 60)}'`);
      }
      if (line.startsWith("<")) onLine();
      bye ||= line === "* bye";
    }
    if (!bye) throw new Error("the chat server closed a member that had not quit");
  };
  const member = async (k: number) => {
    using conn = await Deno.connect({ hostname: HOST, port: chatPort });
    const hearing = hear(conn, () => counts.chatHeard++);
    for (let i = 0; performance.now() < deadline; i++) {
      await writeAll(conn, encoder.encode(`m${k}-${i} ${"y".repeat(i % 200)}\n`));
      counts.chatSaid++;
      await sleep(CHAT_PAUSE_MS);
    }
    await writeAll(conn, encoder.encode("/quit\n"));
    await hearing;
  };
  const chatChurn = async () => {
    while (performance.now() < deadline) {
      using conn = await Deno.connect({ hostname: HOST, port: chatPort });
      await writeAll(conn, encoder.encode("/quit\n"));
      await hear(conn, () => {});
      counts.chatChurned++;
      await sleep(CHAT_CHURN_PAUSE_MS);
    }
  };

  const progress = setInterval(() => report({ phase: "progress", ...counts }), 1000);
  try {
    await Promise.all([
      ...Array.from({ length: STEADY_CLIENTS }, (_, k) => steady(k).catch(fail)),
      ...Array.from({ length: CHURNERS }, (_, k) => churn(STEADY_CLIENTS + k).catch(fail)),
      ...Array.from({ length: CHAT_MEMBERS }, (_, k) => member(k).catch(fail)),
      ...Array.from({ length: CHAT_CHURNERS }, () => chatChurn().catch(fail)),
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
  if (command === "soak" && numbers.length === 3) return await soak(numbers[0], numbers[1], numbers[2]);
  throw new Error(`usage: stress_load.ts many PORT CLIENTS ECHOES SIZE | soak ECHO_PORT CHAT_PORT SECONDS`);
}

if (import.meta.main) {
  try {
    await run(Deno.args);
  } catch (err) {
    report({ phase: "error", message: message(err) });
    Deno.exitCode = 1;
  }
}
