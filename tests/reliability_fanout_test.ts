import assert from "node:assert/strict";
import { writeAll } from "../lib/core/io.ts";
import { linesOf, matchesPattern, patternBytes } from "./_peers.ts";
import { IS_LINUX, type JsonEvent, rssKiB, type ServerProcess, spawnServer, within } from "./_proc.ts";

const HOGS = 20;
const FAST = 50;
/** The stated bound: 20 clients that never read may grow the server's RSS by less than this (cap: 1 MiB each). */
const RSS_GROWTH_BOUND_KIB = 64 * 1024;
const MAX_UNITS = 2000;

/** Counts what a fast client has verified, and lets the sender wait until it caught up. */
class Progress {
  verified = 0;
  failure?: string;
  #waiters: { n: number; resolve: () => void }[] = [];

  advance(): void {
    this.verified++;
    this.#waiters = this.#waiters.filter((w) => (w.n <= this.verified ? (w.resolve(), false) : true));
  }

  fail(why: string): void {
    this.failure ??= why;
    for (const w of this.#waiters) w.resolve();
    this.#waiters = [];
  }

  reached(n: number): Promise<void> {
    if (this.verified >= n || this.failure) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ n, resolve }));
  }
}

/** How a mode frames what the sender sends and what each other client receives. */
interface Plan {
  mode: "broadcast" | "chat";
  /** The bytes the sender sends as unit `i`. */
  unit(i: number): Uint8Array;
  /** Reads a fast client's stream, checking each unit in order. */
  receive(conn: Deno.Conn, progress: Progress, senderName: () => string): Promise<void>;
}

const UNIT = 16 * 1024;
const SENDER_KEY = 7;

const broadcastPlan: Plan = {
  mode: "broadcast",
  unit: (i) => patternBytes(SENDER_KEY, i * UNIT, UNIT),
  async receive(conn, progress) {
    const buf = new Uint8Array(64 * 1024);
    let position = 0;
    for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
      if (!matchesPattern(SENDER_KEY, position, buf.subarray(0, n))) {
        return progress.fail(`wrong bytes at ${position}`);
      }
      position += n;
      while (progress.verified < Math.floor(position / UNIT)) progress.advance();
    }
  },
};

const chatText = (i: number) => `${i} ${"x".repeat(16_000)}`;

const chatPlan: Plan = {
  mode: "chat",
  unit: (i) => new TextEncoder().encode(chatText(i) + "\n"),
  async receive(conn, progress, senderName) {
    for await (const line of linesOf(conn, { partial: "drop" })) {
      if (line.startsWith("* ")) continue; // welcome, joins, and the notices about the members cut off
      if (line !== `<${senderName()}> ${chatText(progress.verified)}`) {
        return progress.fail(`expected line ${progress.verified}, got '${line.slice(0, 40)}…'`);
      }
      progress.advance();
    }
  },
};

const tooSlow = (e: JsonEvent) => e.type === "disconnect" && String(e.reason).startsWith("too slow");

async function connectAll(server: ServerProcess, n: number): Promise<Deno.Conn[]> {
  return await Promise.all(
    Array.from({ length: n }, () => Deno.connect({ hostname: "127.0.0.1", port: server.port })),
  );
}

for (const plan of [broadcastPlan, chatPlan]) {
  Deno.test({
    name:
      `slow readers: ${plan.mode}: ${HOGS} never-reading clients cut off by the queue cap, RSS < +64 MiB, ` +
      `${FAST} fast clients get everything`,
    ignore: !IS_LINUX,
    async fn() {
      const server = await spawnServer({ args: ["--mode", plan.mode], keep: (e) => e.type === "disconnect" });
      const conns: Deno.Conn[] = [];
      let sampling: ReturnType<typeof setInterval> | undefined;
      try {
        const fast = await connectAll(server, FAST);
        const hogs = await connectAll(server, HOGS);
        const [sender] = await connectAll(server, 1);
        conns.push(...fast, ...hogs, sender);
        await server.waitForCount("connect", FAST + HOGS + 1, 10_000);
        // the sender's name, from its welcome (the clients, spread over event loops, are named as each loop
        // gets to them, not in the order they connected)
        const buf = new Uint8Array(64 * 1024);
        let welcome = "";
        while (plan.mode === "chat" && !welcome.includes("\n")) {
          const n = await sender.read(buf);
          if (n === null) break;
          welcome += new TextDecoder().decode(buf.subarray(0, n));
        }
        const senderName = /^\* welcome (\S+),/.exec(welcome)?.[1] ?? "";
        const progress = fast.map(() => new Progress());
        const receiving = fast.map((conn, i) =>
          plan.receive(conn, progress[i], () => senderName).catch((err) => progress[i].fail(String(err)))
        );
        const drainSender = (async () => {
          while (await sender.read(buf) !== null);
        })().catch(() => {});

        const baseline = await rssKiB(server.pid);
        let peak = baseline;
        sampling = setInterval(
          () => rssKiB(server.pid).then((r) => (peak = Math.max(peak, r)), () => {}),
          100,
        );

        // Lockstep: every fast client has everything before the next unit goes out, so only the hogs fall behind.
        let units = 0;
        let extra = 50;
        while (units < MAX_UNITS && extra > 0) {
          await writeAll(sender, plan.unit(units++));
          await within(
            Promise.all(progress.map((p) => p.reached(units))),
            10_000,
            `unit ${units} everywhere`,
          );
          const failed = progress.find((p) => p.failure);
          assert.equal(failed?.failure, undefined, "a fast client got wrong or missing data");
          if (server.events.filter(tooSlow).length === HOGS) extra--;
        }
        clearInterval(sampling);
        peak = Math.max(peak, await rssKiB(server.pid));

        const cut = server.events.filter(tooSlow);
        assert.equal(cut.length, HOGS, `every hog was cut off (after ${units} units of ${UNIT} bytes)`);
        const others = server.events.filter((e) => e.type === "disconnect" && !tooSlow(e));
        assert.deepEqual(others, [], "no fast client was disconnected");
        assert.ok(
          peak - baseline < RSS_GROWTH_BOUND_KIB,
          `server RSS went from ${baseline} KiB to ${peak} KiB with ${HOGS} hogs`,
        );
        for (const c of conns.splice(0)) c.close();
        await Promise.all([...receiving, drainSender]);
      } finally {
        clearInterval(sampling);
        for (const c of conns) c.close();
        await server.stop("SIGKILL");
      }
    },
  });
}
