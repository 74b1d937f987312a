import assert from "node:assert/strict";
import { IS_LINUX, spawnServer, within } from "./_proc.ts";
import { streamingClient } from "./_peers.ts";
import { concat, startServer } from "./_helpers.ts";
import { sleep, writeAll } from "../lib/core/io.ts";

const GRACE_MS = 10_000;

function describeCounts(groups: Partial<Record<string, unknown[]>>): string {
  return Object.entries(groups).map(([k, v]) => `${v?.length} ${k}`).join(", ");
}

Deno.test({
  name:
    "shutdown: SIGTERM while 200 clients stream: every byte read is echoed, clean closes, exit 0 in the grace",
  ignore: !IS_LINUX,
  async fn() {
    const server = await spawnServer({
      args: ["--grace", `${GRACE_MS}ms`],
      keep: (e) => e.type !== "connect",
    });
    const clients = Array.from({ length: 200 }, (_, k) => streamingClient(server.port, k));
    try {
      await within(Promise.all(clients.map((c) => c.flowing)), 30_000, "echoes to every client");
      const signalledAt = performance.now();
      const exit = await server.stop("SIGTERM");
      const results = await within(Promise.all(clients.map((c) => c.done)), 10_000, "every client to end");

      assert.equal(exit.code, 0, `exit code; the server printed:\n${server.otherLines.join("\n")}`);
      assert.ok(
        exit.at - signalledAt < GRACE_MS + 1000,
        `exited ${Math.round(exit.at - signalledAt)} ms after SIGTERM`,
      );
      const summary = server.events.find((e) => e.type === "summary");
      assert.ok(summary, "the server printed its summary");
      results.forEach((r, k) => {
        assert.equal(r.mismatchAt, undefined, `client ${k}: echo differs at byte ${r.mismatchAt}`);
      });
      const endings = Object.groupBy(results, (r) => r.ending);
      assert.deepEqual(Object.keys(endings), ["eof"], `clean closes only; seen: ${describeCounts(endings)}`);
      const echoed = results.reduce((sum, r) => sum + r.received, 0);
      const readByPort = new Map(
        server.events.flatMap((e) =>
          e.type === "disconnect" ? [[String(e.peer).split(":").pop(), e.bytes]] : []
        ),
      );
      const short = results.flatMap((r, k) => {
        const read = readByPort.get(String(clients[k].port));
        return read === r.received ? [] : [`client ${k}: server read ${read}, client got ${r.received}`];
      });
      assert.deepEqual(short, [], "every client got back every byte the server read from it");
      assert.equal(echoed, summary.bytes, "in all, every byte the server read came back");
    } finally {
      for (const c of clients) c.close();
      await Promise.allSettled(clients.map((c) => c.done));
      await server.stop("SIGKILL");
    }
  },
});

Deno.test("shutdown: a client that closes on the server's end of stream lets the server stop at once", async () => {
  const server = await startServer({ graceMs: 10_000 });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  await server.waitFor((e) => e.type === "connect");
  const closesOnEnd = conn.read(new Uint8Array(16)).finally(() => conn.close());
  const startedAt = performance.now();
  await server.stop();
  assert.equal(await closesOnEnd, null, "the client saw a clean end of stream");
  assert.ok(performance.now() - startedAt < 2000, "the server did not wait for its grace period");
});

Deno.test("shutdown: a client that stays connected gets a clean end of stream and is closed after the grace", async () => {
  const server = await startServer({ graceMs: 300 });
  using conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  await server.waitFor((e) => e.type === "connect");
  const startedAt = performance.now();
  const stopped = server.stop();
  assert.equal(await conn.read(new Uint8Array(16)), null, "the client saw a clean end of stream");
  await stopped;
  const ms = performance.now() - startedAt;
  assert.ok(ms >= 250 && ms < 3000, `the server waited for its grace period (${Math.round(ms)} ms)`);
});

Deno.test("shutdown: a client sending when the server stops gets its echo and a clean close, not a reset", async () => {
  const server = await startServer({ graceMs: 5000 });
  const client = streamingClient(server.port, 1, { window: 64 * 1024 });
  try {
    await client.flowing;
    await server.stop();
    const result = await client.done;
    assert.equal(result.ending, "eof");
    assert.equal(result.mismatchAt, undefined);
    const summary = server.events.find((e) => e.type === "summary");
    assert.ok(summary?.type === "summary");
    assert.equal(result.received, summary.bytes, "every byte the server read was echoed");
  } finally {
    client.close();
    await client.done.catch(() => {});
  }
});

/** What chat member `k` says in its `i`-th line: lengths vary from 10 to about 2,000 bytes. */
function chatLine(k: number, i: number): string {
  return `m${k}-${i} ${"x".repeat((k * 131 + i * 977) % 2000)}`;
}

/** A chat member that talks every 20 ms until the server closes, keeps every byte it is sent, then closes. */
class Talker {
  received: Uint8Array[] = [];
  bytes = 0;
  ending = "open";
  sent = 0;
  #talking?: Promise<void>;
  #reading?: Promise<void>;

  constructor(readonly k: number, readonly conn: Deno.Conn) {}

  /** Reads until the welcome line has arrived. */
  async welcome(): Promise<void> {
    const buf = new Uint8Array(4096);
    while (!this.#text().includes("\n")) {
      const n = await this.conn.read(buf);
      if (n === null) throw new Error(`member ${this.k}: closed before the welcome`);
      this.#keep(buf.subarray(0, n));
    }
  }

  start(): void {
    this.#reading = this.#read();
    this.#talking = this.#talk();
  }

  /** Resolves once the server closed the connection and the member stopped talking. */
  async done(): Promise<void> {
    await this.#reading;
    this.close();
    await this.#talking;
  }

  close(): void {
    try {
      this.conn.close();
    } catch { /* already closed */ }
  }

  text(): string {
    return this.#text();
  }

  #text(): string {
    return new TextDecoder().decode(concat(this.received));
  }

  #keep(chunk: Uint8Array): void {
    this.received.push(chunk.slice());
    this.bytes += chunk.length;
  }

  async #read(): Promise<void> {
    const buf = new Uint8Array(64 * 1024);
    try {
      for (let n = await this.conn.read(buf); n !== null; n = await this.conn.read(buf)) {
        this.#keep(buf.subarray(0, n));
      }
      this.ending = "eof";
    } catch (err) {
      this.ending = err instanceof Deno.errors.ConnectionReset ? "reset" : String(err);
    }
    this.close(); // as a client does when the server has closed
  }

  async #talk(): Promise<void> {
    try {
      while (this.ending === "open") {
        await writeAll(this.conn, new TextEncoder().encode(chatLine(this.k, this.sent) + "\n"));
        this.sent++;
        await sleep(20);
      }
    } catch { /* the connection ended */ }
  }
}

Deno.test({
  name: "shutdown: chat: SIGTERM while 50 members talk: only whole lines, the notice, a clean close, exit 0",
  ignore: !IS_LINUX,
  async fn() {
    const server = await spawnServer({
      args: ["--mode", "chat", "--grace", `${GRACE_MS}ms`],
      keep: (e) => e.type === "warning",
    });
    const members: Talker[] = [];
    try {
      for (let k = 0; k < 50; k++) {
        const member = new Talker(k, await Deno.connect({ hostname: "127.0.0.1", port: server.port }));
        members.push(member);
        await member.welcome();
      }
      const names = members.map((m) => /^\* welcome (\S+),/.exec(m.text())![1]);
      for (const m of members) m.start();
      await within(
        (async () => {
          while (members.some((m) => (m.text().match(/^<user/gm)?.length ?? 0) < 50)) await sleep(50);
        })(),
        20_000,
        "every member to hear 50 lines",
      );
      const signalledAt = performance.now();
      const exit = await server.stop("SIGTERM");
      await within(Promise.all(members.map((m) => m.done())), 10_000, "every member to see the close");

      assert.equal(exit.code, 0, server.otherLines.join("\n"));
      assert.ok(
        exit.at - signalledAt < GRACE_MS + 1000,
        `exited ${Math.round(exit.at - signalledAt)} ms after SIGTERM`,
      );
      const heard = new Map<number, number[]>(); // sender → how many of its lines each member heard
      for (const m of members) {
        assert.equal(m.ending, "eof", `member ${m.k} saw '${m.ending}' instead of a clean close`);
        const text = m.text();
        assert.ok(
          text.endsWith("* server shutting down\n"),
          `member ${m.k} ends with the notice: …${text.slice(-80)}`,
        );
        const counts = new Map<number, number>();
        for (const line of text.slice(0, -1).split("\n")) {
          const said = /^<(\S+)> (m(\d+)-(\d+) x*)$/.exec(line);
          if (!said) {
            assert.match(line, /^\* (welcome \S+, \d+ others? here|\S+ joined|server shutting down)/);
            continue;
          }
          const k = Number(said[3]);
          const i = Number(said[4]);
          assert.equal(said[1], names[k], `line from ${said[1]} claims member ${k}`);
          assert.equal(said[2], chatLine(k, i), `member ${m.k} got member ${k}'s line ${i} whole`);
          assert.equal(i, counts.get(k) ?? 0, `member ${m.k} got member ${k}'s lines in order, none missing`);
          counts.set(k, i + 1);
        }
        for (let k = 0; k < members.length; k++) {
          if (k !== m.k) heard.set(k, [...heard.get(k) ?? [], counts.get(k) ?? 0]);
        }
      }
      for (const [k, counts] of heard) {
        assert.ok(
          counts.every((c) => c === counts[0]),
          `every member heard the same lines of member ${k}: ${counts}`,
        );
      }
    } finally {
      for (const m of members) m.close();
      await server.stop("SIGKILL");
    }
  },
});
