/**
 * The server on several event loops (`--workers N`, lib/server/loops.ts): one room whatever loop a client
 * landed on (lines, names, `/who`, joins and leaves, per-sender order, a slow consumer cut off alone),
 * `--max-conns` for the whole server, `/metrics` and the summary adding every loop up, the web page meeting
 * clients of every loop, and `--trace` lines marked with their loop. Which loop a client landed on is read
 * from the server's own `accept` trace lines.
 * @module
 */
import assert from "node:assert/strict";
import { formatAddr } from "../lib/endpoints/address.ts";
import type { ServerEvent } from "../lib/report/events.ts";
import { writeAll } from "../lib/core/io.ts";
import { startServer, type TestServer } from "./_helpers.ts";
import { LinePeer } from "./_peer.ts";
import { defaultServerLoops, serverLoops } from "../lib/server/loops.ts";

const LOOPS = 4;

/** The loop (1, 2, …) each client was accepted on, by its address, from the `accept` trace lines. */
function loopsOf(server: TestServer): Map<string, number> {
  const byPeer = new Map<string, number>();
  for (const e of server.events) {
    if (e.type === "trace" && e.call === "accept" && e.peer && e.loop) byPeer.set(e.peer, e.loop);
  }
  return byPeer;
}

/** Connects `n` clients one after another, each seen "connected" before the next, and checks they span loops. */
async function spread(server: TestServer, n: number): Promise<Deno.Conn[]> {
  const conns: Deno.Conn[] = [];
  for (let i = 0; i < n; i++) {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    conns.push(conn);
    const peer = formatAddr(conn.localAddr);
    await server.waitFor((e) => e.type === "connect" && e.peer === peer);
  }
  const loops = loopsOf(server);
  const used = new Set(conns.map((c) => loops.get(formatAddr(c.localAddr))));
  assert.ok(used.size >= 2, `the clients should land on several loops, got ${[...used]}`);
  return conns;
}

Deno.test("loops: the default count keeps ~100 clients a loop with --max-conns, else at least 8", () => {
  assert.equal(defaultServerLoops(undefined, 2), 8);
  assert.equal(defaultServerLoops(undefined, 16), 16);
  assert.equal(defaultServerLoops(500, 2), 5);
  assert.equal(defaultServerLoops(50, 4), 4);
  const unix = { transport: "unix", path: "/tmp/sockkit-loops.sock" } as const;
  assert.deepEqual(serverLoops(undefined, { endpoint: unix }), { count: 1 });
  assert.throws(
    () => serverLoops(3, { endpoint: unix }),
    /--workers 3: a Unix socket listen address is served by one event loop \(leave --workers out\)/,
  );
  const tcp = { transport: "tcp", hostname: "127.0.0.1", port: 0 } as const;
  assert.deepEqual(serverLoops(undefined, { endpoint: tcp, io: "node" }), { count: 1 });
  assert.throws(() => serverLoops(0, { endpoint: tcp }), /--workers 0: at least 1 event loop/);
});

Deno.test("loops: chat is one room over four loops: names, /who, joins, leaves, renames and per-sender order", async () => {
  const server = await startServer({ mode: "chat", workers: LOOPS, trace: true });
  const peers: LinePeer[] = [];
  try {
    const n = 10;
    for (let i = 1; i <= n; i++) {
      const peer = await LinePeer.connect(server.port);
      const others = i - 1;
      assert.match(
        await peer.line(),
        new RegExp(`^\\* welcome user${i}, ${others} other${others === 1 ? "" : "s"} here`),
      );
      peers.push(peer);
      // everyone already in the room hears of the newcomer, whatever their loop
      for (const earlier of peers.slice(0, -1)) assert.equal(await earlier.line(), `* user${i} joined`);
    }
    const loops = loopsOf(server);
    const used = new Set(peers.map((p) => loops.get(formatAddr(p.conn.localAddr))));
    assert.ok(used.size >= 2, `the clients should land on several loops, got ${[...used]}`);

    await peers[0].send("/who\n");
    const who = await peers[0].line();
    assert.match(who, /^\* 10 here: /);
    const names = who.replace(/^\* 10 here: /, "").split(", ").sort();
    assert.deepEqual(names, Array.from({ length: n }, (_, i) => `user${i + 1}`).sort());

    // a name is the whole server's: taken on one loop, refused on every other
    await peers[1].send("/nick bob\n");
    for (const p of peers) assert.equal(await p.line(), "* user2 is now bob");
    await peers[2].send("/nick BOB\n");
    assert.equal(await peers[2].line(), "* BOB is taken: pick another name");

    // per-sender order: every other client gets the 30 lines of each of two senders in the order sent
    const lines = 30;
    for (let i = 0; i < lines; i++) {
      await peers[3].send(`a${i}\n`);
      await peers[4].send(`b${i}\n`);
    }
    for (const [k, p] of peers.entries()) {
      if (k === 3 || k === 4) continue;
      const got = { a: [] as string[], b: [] as string[] };
      for (let i = 0; i < 2 * lines; i++) {
        const line = await p.line();
        if (line.startsWith("<user4> ")) got.a.push(line.slice(8));
        else if (line.startsWith("<user5> ")) got.b.push(line.slice(8));
        else assert.fail(`unexpected line ${line}`);
      }
      assert.deepEqual(got.a, Array.from({ length: lines }, (_, i) => `a${i}`));
      assert.deepEqual(got.b, Array.from({ length: lines }, (_, i) => `b${i}`));
    }
    // each sender heard the other's lines, not its own
    for (const k of [3, 4]) {
      for (let i = 0; i < lines; i++) assert.match(await peers[k].line(), /^<user[45]> [ab]\d+$/);
    }

    await peers[5].send("/quit\n");
    assert.equal(await peers[5].line(), "* bye");
    for (const [k, p] of peers.entries()) if (k !== 5) assert.equal(await p.line(), "* user6 left");
    // the name is free again, for a client of any loop
    await peers[6].send("/nick user6\n");
    for (const [k, p] of peers.entries()) if (k !== 5) assert.equal(await p.line(), "* user7 is now user6");

    // the transcript is logged once, not once per loop
    const said = server.events.filter((e) => e.type === "chat" && e.text === "<user4> a0");
    assert.equal(said.length, 1);
  } finally {
    for (const p of peers) p.close();
    await server.stop();
  }
});

Deno.test("loops: broadcast over four loops cuts off the client that never reads; the others get every byte", async () => {
  const maxQueue = 256 * 1024;
  const server = await startServer({ mode: "broadcast", workers: LOOPS, maxQueue, trace: false, hex: false });
  // accept trace lines would show the loops, but tracing 16 MiB of calls is slow: connect until spread instead
  const conns: Deno.Conn[] = [];
  try {
    for (let i = 0; i < 9; i++) conns.push(await Deno.connect({ hostname: "127.0.0.1", port: server.port }));
    const [sender, slow, ...fast] = conns;
    let seen = 0;
    await server.waitFor((e) => e.type === "connect" && ++seen === conns.length);
    const total = 16 * 1024 * 1024;
    const chunk = new Uint8Array(64 * 1024);
    const progress = fast.map(() => 0);
    const readers = fast.map(async (conn, k) => {
      const buf = new Uint8Array(256 * 1024);
      let got = 0;
      let expected = 0;
      while (got < total) {
        const n = await conn.read(buf);
        if (n === null) throw new Error(`ended after ${got} bytes`);
        for (let i = 0; i < n; i++) {
          if (buf[i] !== (expected & 0xff)) throw new Error(`byte ${got + i} is wrong`);
          expected++;
        }
        got += n;
        progress[k] = got;
      }
      return got;
    });
    // The readers share this test's one event loop: the sender lets them catch up every 128 KiB, so only the
    // client that never reads can fall a queue behind, however loaded the machine is.
    for (let sent = 0; sent < total; sent += chunk.length) {
      for (let i = 0; i < chunk.length; i++) chunk[i] = (sent + i) & 0xff;
      await writeAll(sender, chunk);
      while (progress.some((got) => got < sent - 64 * 1024)) await new Promise((r) => setTimeout(r, 1));
    }
    assert.deepEqual(await Promise.all(readers), fast.map(() => total));
    const slowPeer = formatAddr(slow.localAddr);
    const cut = await server.waitFor((e) => e.type === "disconnect" && e.peer === slowPeer);
    assert.ok(cut.type === "disconnect");
    assert.equal(cut.reason, "too slow: more than 256.0 KiB waiting to be sent");
    const others = server.events.filter((e) => e.type === "disconnect" && e.peer !== slowPeer);
    assert.deepEqual(others, [], "no other client was disconnected");
  } finally {
    for (const c of conns) c.close();
    await server.stop();
  }
});

Deno.test("loops: --max-conns holds for the whole server over four loops", async () => {
  const server = await startServer({ workers: LOOPS, maxConns: 3, trace: true });
  const conns: Deno.Conn[] = [];
  try {
    for (let i = 0; i < 12; i++) conns.push(await Deno.connect({ hostname: "127.0.0.1", port: server.port }));
    const answers = await Promise.all(conns.map(async (conn) => {
      await writeAll(conn, new TextEncoder().encode("ping\n"));
      const buf = new Uint8Array(256);
      const n = await conn.read(buf);
      return n === null ? "" : new TextDecoder().decode(buf.subarray(0, n));
    }));
    assert.equal(answers.filter((a) => a === "ping\n").length, 3, answers.join("|"));
    assert.equal(answers.filter((a) => a === "server full (3 clients), try again later\n").length, 9);
    let connected = 0;
    await server.waitFor((e) => e.type === "connect" && ++connected === 3);
    const loops = new Set(loopsOf(server).values());
    assert.ok(loops.size >= 2, `12 clients should land on several loops, got ${[...loops]}`);
    const ids = server.events.flatMap((e) => (e.type === "connect" ? [e.id] : [])).sort();
    assert.deepEqual(ids, [1, 2, 3], "client numbers are the whole server's");
  } finally {
    for (const c of conns) c.close();
    const summary = await server.stop();
    assert.equal(summary.clients, 3);
    assert.equal(summary.refused, 9);
  }
});

Deno.test("loops: /metrics, the online count and the summary add every loop up", async () => {
  const server = await startServer({
    workers: LOOPS,
    trace: true,
    metrics: { hostname: "127.0.0.1", port: 0 },
  });
  let conns: Deno.Conn[] = [];
  try {
    const http = await server.waitFor((e) => e.type === "http") as Extract<ServerEvent, { type: "http" }>;
    conns = await spread(server, 8);
    for (const conn of conns) {
      await writeAll(conn, new TextEncoder().encode("12345"));
      const buf = new Uint8Array(5);
      let got = 0;
      while (got < 5) got += (await conn.read(buf.subarray(got))) ?? 5;
    }
    const last = server.events.filter((e) => e.type === "connect").at(-1);
    assert.ok(last?.type === "connect" && last.active === 8, "online counts every loop's clients");
    const text = await (await fetch(http.url)).text();
    assert.match(text, /^sockkit_connections_total 8$/m);
    assert.match(text, /^sockkit_connections_active\{transport="tcp"\} 8$/m);
    assert.match(text, /^sockkit_received_bytes_total 40$/m);
    assert.match(text, /^sockkit_sent_bytes_total 40$/m);
  } finally {
    for (const c of conns) c.close();
    const summary = await server.stop();
    assert.equal(summary.clients, 8);
    assert.equal(summary.bytes, 40);
  }
});

Deno.test("loops: a browser on --web meets chat clients of every loop", async () => {
  const server = await startServer({
    mode: "chat",
    workers: LOOPS,
    trace: true,
    web: { hostname: "127.0.0.1", port: 0 },
  });
  const peers: LinePeer[] = [];
  let ws: WebSocket | undefined;
  try {
    const http = await server.waitFor((e) => e.type === "http") as Extract<ServerEvent, { type: "http" }>;
    for (let i = 1; i <= 6; i++) {
      const peer = await LinePeer.connect(server.port);
      await peer.until(/^\* welcome/);
      peers.push(peer);
    }
    const loops = new Set(loopsOf(server).values());
    assert.ok(loops.size >= 2, `6 clients should land on several loops, got ${[...loops]}`);
    const url = http.url.replace(/^http/, "ws") + "ws";
    ws = new WebSocket(url);
    const messages: string[] = [];
    const next = () =>
      new Promise<string>((resolve, reject) => {
        const take = () => {
          const m = messages.shift();
          if (m !== undefined) return resolve(m);
          setTimeout(take, 10);
        };
        ws!.onerror = () => reject(new Error("the page's WebSocket failed"));
        take();
      });
    ws.onmessage = (e) => messages.push(String(e.data));
    assert.match(await next(), /^\* welcome user7, 6 others here/);
    for (const p of peers) assert.equal(await p.until(/user7/), "* user7 joined");
    ws.send("hello from the page");
    for (const p of peers) assert.equal(await p.line(), "<user7> hello from the page");
    await peers[5].send("hello page\n");
    assert.equal(await next(), "<user6> hello page");
  } finally {
    if (ws) {
      const closed = new Promise((resolve) => (ws!.onclose = resolve));
      ws.close();
      await closed;
    }
    for (const p of peers) p.close();
    await server.stop();
  }
});

Deno.test("loops: trace lines say which loop made the call", async () => {
  const server = await startServer({ workers: 2, trace: true });
  try {
    const binds = server.events.filter((e) => e.type === "trace" && e.call === "bind");
    assert.deepEqual(binds.map((e) => e.type === "trace" && e.loop).sort(), [1, 2]);
  } finally {
    await server.stop();
  }
});
