import assert from "node:assert/strict";
import { formatAddr } from "../lib/endpoints/address.ts";
import type { ServerEvent } from "../lib/report/events.ts";
import { writeAll } from "../lib/core/io.ts";
import { readExactly, readToEnd, startServer, type TestServer } from "./_helpers.ts";
import { LinePeer } from "./_peer.ts";

const connects = (n: number) => {
  let seen = 0;
  return (e: ServerEvent) => e.type === "connect" && ++seen === n;
};

const transcript = (server: TestServer) => server.events.flatMap((e) => (e.type === "chat" ? [e.text] : []));

async function joinChat(server: TestServer, expectedWelcome: RegExp): Promise<LinePeer> {
  const peer = await LinePeer.connect(server.port);
  assert.match(await peer.line(), expectedWelcome);
  return peer;
}

Deno.test("chat: three clients get names, talk, /nick, /who, /quit, with join and leave notices", async () => {
  const server = await startServer({ mode: "chat" });
  const peers: LinePeer[] = [];
  try {
    const a = await joinChat(server, /^\* welcome user1, 0 others here \(\/nick NAME/);
    const b = await joinChat(server, /^\* welcome user2, 1 other here/);
    assert.equal(await a.line(), "* user2 joined");
    const c = await joinChat(server, /^\* welcome user3, 2 others here/);
    peers.push(a, b, c);
    assert.equal(await a.line(), "* user3 joined");
    assert.equal(await b.line(), "* user3 joined");

    await a.send("/nick alice\n");
    for (const p of [a, b, c]) assert.equal(await p.line(), "* user1 is now alice");

    // c is a telnet-style client: it ends lines with \r\n and is sent \r\n line ends from then on
    await c.send("hello from telnet\r\n");
    assert.equal(await a.line(), "<user3> hello from telnet");
    assert.equal(await b.line(), "<user3> hello from telnet");
    await c.send("/nick carol\r\n");
    assert.equal(await c.rawLine(), "* user3 is now carol\r\n", "the sender does not get its own line back");
    assert.equal(await a.rawLine(), "* user3 is now carol\n");
    assert.equal(await b.line(), "* user3 is now carol");

    await b.send("/nick Alice\n");
    assert.equal(await b.line(), "* Alice is taken: pick another name");
    await b.send("/nick no spaces\n");
    assert.match(await b.line(), /^\* 'no spaces' is not a name/);
    await b.send("/who\n");
    assert.equal(await b.line(), "* 3 here: alice, user2, carol");
    await b.send("/dance\n");
    assert.match(await b.line(), /^\* unknown command \/dance/);
    await b.send("//dance is not a command\n");
    assert.equal(await a.line(), "<user2> /dance is not a command", "// sends a line starting with /");
    assert.equal(await c.line(), "<user2> /dance is not a command");

    await a.send("hi all\n");
    assert.equal(await b.line(), "<alice> hi all");
    assert.equal(await c.rawLine(), "<alice> hi all\r\n");

    await c.send("/quit\r\n");
    assert.deepEqual(await c.rest(), ["* bye"], "the quitter is told bye, then closed");
    assert.equal(await a.line(), "* carol left");
    assert.equal(await b.line(), "* carol left");

    b.close();
    assert.equal(await a.line(), "* user2 left");
    assert.deepEqual(transcript(server), [
      "* user1 joined",
      "* user2 joined",
      "* user3 joined",
      "* user1 is now alice",
      "<user3> hello from telnet",
      "* user3 is now carol",
      "<user2> /dance is not a command",
      "<alice> hi all",
      "* carol left",
      "* user2 left",
    ]);
  } finally {
    for (const p of peers) p.close();
    await server.stop();
  }
});

Deno.test("chat: a lone \\r ends a line too; empty lines are not sent", async () => {
  const server = await startServer({ mode: "chat" });
  const a = await joinChat(server, /welcome user1/);
  const b = await joinChat(server, /welcome user2/);
  try {
    assert.equal(await a.line(), "* user2 joined");
    await b.send("\n\none\rtwo\r");
    assert.equal(await a.line(), "<user2> one");
    assert.equal(await a.line(), "<user2> two");
  } finally {
    a.close();
    b.close();
    await server.stop();
  }
});

Deno.test("chat: an over-long line is refused with a notice to its sender only; the next line goes through", async () => {
  const server = await startServer({ mode: "chat", maxLine: 100 });
  const a = await joinChat(server, /welcome user1/);
  const b = await joinChat(server, /welcome user2/);
  try {
    assert.equal(await a.line(), "* user2 joined");
    await b.send("x".repeat(60));
    await b.send("x".repeat(60) + "\n" + "y".repeat(100) + "\n");
    assert.equal(await b.line(), "* line too long (over 100 bytes): not sent");
    assert.equal(await a.line(), `<user2> ${"y".repeat(100)}`, "a line of exactly --max-line bytes is fine");
    const note = await server.waitFor((e) => e.type === "note");
    assert.ok(note.type === "note" && note.text === "line over 100 bytes refused (--max-line)");
  } finally {
    a.close();
    b.close();
    await server.stop();
  }
});

Deno.test("chat: shutting down tells everyone, then closes cleanly", async () => {
  const server = await startServer({ mode: "chat" });
  const a = await joinChat(server, /welcome user1/);
  try {
    const stopped = server.stop();
    assert.deepEqual(await a.rest(), ["* server shutting down"]);
    const summary = await stopped;
    assert.equal(summary.clients, 1);
  } finally {
    a.close();
  }
});

Deno.test("chat: a member that never reads is cut off, and the others are told why", async () => {
  const server = await startServer({ mode: "chat", maxQueue: 64 * 1024 });
  const sender = await joinChat(server, /welcome user1/);
  const slow = await joinChat(server, /welcome user2/);
  const watcher = await joinChat(server, /welcome user3/);
  try {
    const slowPeer = formatAddr(slow.conn.localAddr);
    let cut = false;
    server.waitFor((e) => e.type === "disconnect" && e.peer === slowPeer).then(() => (cut = true));
    const notice = watcher.until(/^\* user2 left/);
    const line = "x".repeat(1000) + "\n";
    for (let i = 0; i < 20_000 && !cut; i++) await sender.send(line);
    assert.ok(cut, "the member that never reads was disconnected");
    assert.equal(await notice, "* user2 left (too slow: more than 64.0 KiB waiting to be sent)");
    const said = transcript(server);
    const before = said.slice(0, said.findIndex((t) => t.startsWith("* user2 left")));
    assert.deepEqual(
      watcher.lines.slice(1, -1).map((l) => l.trimEnd()),
      before.slice(3),
      "the watcher, which reads, got every line said before the notice, in order",
    );
  } finally {
    for (const p of [sender, slow, watcher]) p.close();
    await server.stop();
  }
});

/** A recognisable stream of `n` bytes taken from `letters` (a different walk through them for each `seed`). */
/** Reads `n` bytes from a connection and lets others wait until it has read a given amount. */
class ProgressReader {
  readonly done: Promise<Uint8Array>;
  #got = 0;
  #wake: (() => void) | undefined;

  constructor(conn: Deno.Conn, n: number) {
    const out = new Uint8Array(n);
    this.done = (async () => {
      while (this.#got < n) {
        const r = await conn.read(out.subarray(this.#got));
        if (r === null) break;
        this.#got += r;
        this.#wake?.();
      }
      const read = this.#got;
      this.#got = Infinity;
      this.#wake?.();
      return out.subarray(0, read);
    })();
  }

  /** Resolves once at least `bytes` were read (or the stream ended). */
  async reached(bytes: number): Promise<void> {
    while (this.#got < bytes) await new Promise<void>((resolve) => (this.#wake = resolve));
  }
}

function pattern(n: number, seed: number, letters: string): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = letters.charCodeAt((i * 7 + seed) % letters.length);
  return out;
}

Deno.test("broadcast: 50 clients each receive every byte one client sends, in order", async () => {
  const server = await startServer({ mode: "broadcast" });
  const receivers = await Promise.all(
    Array.from({ length: 50 }, () => Deno.connect({ hostname: "127.0.0.1", port: server.port })),
  );
  using sender = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    await server.waitFor(connects(51));
    const messages = Array.from({ length: 200 }, (_, i) => pattern(100 + i * 37, i, "0123456789abcdef"));
    const expected = new Uint8Array(messages.reduce((s, m) => s + m.length, 0));
    messages.reduce((offset, m) => (expected.set(m, offset), offset + m.length), 0);
    const received = Promise.all(receivers.map((r) => readExactly(r, expected.length)));
    for (const m of messages) await writeAll(sender, m);
    const got = await received;
    for (let i = 0; i < got.length; i++) assert.deepEqual(got[i], expected, `receiver ${i}`);
    sender.close();
    for (const r of receivers) {
      r.close();
    }
    const summary = await server.stop();
    assert.equal(summary.bytes, expected.length, "only the sender's bytes were received by the server");
  } catch (err) {
    for (const r of receivers) r.close();
    await server.stop();
    throw err;
  }
});

Deno.test("broadcast: with two senders every receiver sees the same interleaving, each sender's bytes in order", async () => {
  const server = await startServer({ mode: "broadcast" });
  const receivers = await Promise.all(
    Array.from({ length: 10 }, () => Deno.connect({ hostname: "127.0.0.1", port: server.port })),
  );
  using upper = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  using lower = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    await server.waitFor(connects(12));
    const a = pattern(300_000, 1, "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
    const b = pattern(300_000, 2, "abcdefghijklmnopqrstuvwxyz");
    const received = Promise.all(receivers.map((r) => readExactly(r, a.length + b.length)));
    const sendInPieces = async (conn: Deno.Conn, data: Uint8Array) => {
      for (let i = 0; i < data.length; i += 1000) await writeAll(conn, data.subarray(i, i + 1000));
    };
    await Promise.all([sendInPieces(upper, a), sendInPieces(lower, b)]);
    const got = await received;
    for (const stream of got) {
      assert.deepEqual(stream, got[0], "every receiver sees the one order the server read things in");
    }
    assert.deepEqual(got[0].filter((x) => x < 0x61), a);
    assert.deepEqual(got[0].filter((x) => x >= 0x61), b);
  } finally {
    for (const r of receivers) r.close();
    await server.stop();
  }
});

Deno.test("broadcast: a client that never reads is cut off; 20 fast clients still get everything", async () => {
  const maxQueue = 256 * 1024;
  const server = await startServer({ mode: "broadcast", maxQueue });
  const fast = await Promise.all(
    Array.from({ length: 20 }, () => Deno.connect({ hostname: "127.0.0.1", port: server.port })),
  );
  using slow = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  using sender = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    await server.waitFor(connects(22));
    // More than the kernel buffers of the slow client (a few MiB on loopback) plus its queue.
    const data = pattern(12 * 1024 * 1024, 3, "sockkit broadcast ");
    // The fast clients share this process's event loop with the server: the sender lets them catch up every
    // 128 KiB, so only the client that never reads can fall a queue behind, however loaded the machine is.
    const readers = fast.map((r) => new ProgressReader(r, data.length));
    const received = Promise.all(readers.map((r) => r.done));
    for (let i = 0; i < data.length; i += 64 * 1024) {
      await writeAll(sender, data.subarray(i, i + 64 * 1024));
      if (i % (128 * 1024) === 0) await Promise.all(readers.map((r) => r.reached(i - 64 * 1024)));
    }
    const slowPeer = formatAddr(slow.localAddr);
    const cut = await server.waitFor((e) => e.type === "disconnect" && e.peer === slowPeer);
    assert.ok(cut.type === "disconnect");
    assert.equal(cut.reason, "too slow: more than 256.0 KiB waiting to be sent");
    const got = await received;
    for (let i = 0; i < got.length; i++) {
      assert.ok(got[i].length === data.length && equal(got[i], data), `fast ${i}`);
    }
    const others = server.events.filter((e) => e.type === "disconnect" && e.peer !== slowPeer);
    assert.deepEqual(others, [], "no fast client was disconnected");
  } finally {
    for (const r of fast) r.close();
    await server.stop();
  }
});

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

Deno.test("discard: reads and drops everything, counting messages and bytes", async () => {
  const server = await startServer({ mode: "discard" });
  try {
    using conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    const sizes = [5, 1000, 60_000];
    for (let i = 0; i < sizes.length; i++) {
      await writeAll(conn, new Uint8Array(sizes[i]));
      let seen = 0;
      await server.waitFor((e) => e.type === "message" && ++seen === i + 1);
    }
    await conn.closeWrite();
    assert.equal((await readToEnd(conn)).length, 0, "nothing comes back");
    const left = await server.waitFor((e) => e.type === "disconnect");
    assert.ok(left.type === "disconnect");
    assert.deepEqual([left.messages, left.bytes], [3, 61_005]);
    const summary = await server.stop();
    assert.deepEqual([summary.messages, summary.bytes], [3, 61_005]);
  } catch (err) {
    await server.stop();
    throw err;
  }
});
