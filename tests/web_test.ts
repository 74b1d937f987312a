import assert from "node:assert/strict";
import { parseCidr } from "../lib/endpoints/cidr.ts";
import { writeAll } from "../lib/core/io.ts";
import { readToEnd, runCli, spawnCli, startServer, type TestServer } from "./_helpers.ts";
import { httpUrl, scrape, scrapeUntil } from "./_metrics.ts";
import { LinePeer } from "./_peer.ts";
import { rawUpgrade, readUntilClose, upgradeStatus, WsPeer } from "./_web_ws.ts";

const LOCAL = { hostname: "127.0.0.1", port: 0 };

/** The `/ws` URL of a test server started with `web`. */
async function wsUrl(server: TestServer): Promise<string> {
  return (await httpUrl(server, "web")).replace(/^http/, "ws") + "ws";
}

const webPortOf = async (server: TestServer) => Number(new URL(await httpUrl(server, "web")).port);

Deno.test("web: browsers on /ws and nc users share one chat room: lines, names, joins, leaves and /who", async () => {
  const server = await startServer({ mode: "chat", web: LOCAL });
  const closers: { close(): void }[] = [];
  try {
    const url = await wsUrl(server);
    const tcp = await LinePeer.connect(server.port);
    closers.push(tcp);
    assert.match(await tcp.line(), /^\* welcome user1, 0 others here/);
    const web = await WsPeer.open(url);
    closers.push(web);
    assert.match(await web.line(), /^\* welcome user2, 1 other here \(\/nick NAME/);
    assert.equal(await tcp.line(), "* user2 joined");

    web.send("/nick alice");
    assert.equal(await web.line(), "* user2 is now alice");
    assert.equal(await tcp.line(), "* user2 is now alice");
    web.send("hello from the browser");
    assert.equal(await tcp.line(), "<alice> hello from the browser", "one message in is one line");
    await tcp.send("hello from nc\n");
    assert.equal(await web.line(), "<user1> hello from nc", "one line out is one message, without its \\n");
    await tcp.send("telnet style\r\n");
    assert.equal(await web.line(), "<user1> telnet style", "\\r\\n is no part of the message either");

    const web2 = await WsPeer.open(url);
    closers.push(web2);
    assert.match(await web2.line(), /^\* welcome user3, 2 others here/);
    web2.send("/who");
    assert.equal(await web2.line(), "* 3 here: user1, alice, user3");
    await web.until(/^\* user3 joined$/);
    web2.close();
    assert.equal(await web.line(), "* user3 left");
    assert.equal(await tcp.until(/left/), "* user3 left");

    const m = await scrape((await httpUrl(server, "web")) + "metrics");
    assert.equal(m.get('sockkit_connections_active{transport="ws"}'), 1, "/metrics is on the --web listener");
    assert.equal(m.get('sockkit_connections_active{transport="tcp"}'), 1);
    assert.ok(server.events.some((e) => e.type === "connect" && /^127\.0\.0\.1:\d+ \(web\)$/.test(e.peer)));
  } finally {
    for (const c of closers) c.close();
    await server.stop();
  }
});

Deno.test("web: a page's message with a line break is one room line, the break shown escaped as ws:// shows it", async () => {
  const server = await startServer({ mode: "chat", web: LOCAL });
  const tcp = await LinePeer.connect(server.port);
  const web = await WsPeer.open(await wsUrl(server));
  try {
    assert.match(await tcp.line(), /^\* welcome user1/);
    assert.match(await web.line(), /^\* welcome user2/);
    assert.equal(await tcp.line(), "* user2 joined");
    web.send("one\n<user1> forged\n");
    assert.equal(
      await tcp.line(),
      "<user2> one\\n<user1> forged",
      "one message, one line: no forged second line",
    );
    web.send("after");
    assert.equal(await tcp.line(), "<user2> after");
  } finally {
    web.close();
    tcp.close();
    await server.stop();
  }
});

Deno.test("web: broadcast relays a browser's messages to nc users as lines, and their lines back as messages", async () => {
  const server = await startServer({ mode: "broadcast", web: LOCAL });
  const web = await WsPeer.open(await wsUrl(server));
  const tcp = await LinePeer.connect(server.port);
  try {
    let joined = 0;
    await server.waitFor((e) => e.type === "connect" && ++joined === 2);
    web.send("from the page");
    assert.equal(await tcp.line(), "from the page");
    await tcp.send("line one\nline two\n");
    assert.equal(await web.line(), "line one");
    assert.equal(await web.line(), "line two");
  } finally {
    web.close();
    tcp.close();
    await server.stop();
  }
});

Deno.test("web: a page from another origin is refused (403) and counted; the same host's page is let in", async () => {
  const server = await startServer({ mode: "chat", web: LOCAL });
  try {
    const port = await webPortOf(server);
    const foreign = await rawUpgrade(port, { Origin: "http://evil.example" });
    foreign.conn.close();
    assert.equal(foreign.status, "HTTP/1.1 403 Forbidden");
    const refused = await server.waitFor((e) => e.type === "refused");
    assert.ok(refused.type === "refused");
    assert.match(
      refused.reason,
      /^cross-site request: Origin http:\/\/evil\.example is not this server \(127\.0\.0\.1:\d+\): a page may only/,
    );
    const same = await rawUpgrade(port, { Origin: `http://127.0.0.1:${port}` });
    same.conn.close();
    assert.equal(same.status, "HTTP/1.1 101 Switching Protocols");
    const m = await scrape(`http://127.0.0.1:${port}/metrics`);
    assert.equal(m.get('sockkit_refused_total{reason="deny"}'), 1);
  } finally {
    await server.stop();
  }
});

Deno.test("web: /ws refuses a Host that is not this server (403, DNS rebinding) and a malformed handshake", async () => {
  const server = await startServer({ mode: "chat", web: LOCAL });
  try {
    const port = await webPortOf(server);
    const evil = `evil.example:${port}`;
    assert.equal((await upgradeStatus(port, "/ws", { Host: evil, Origin: `http://${evil}` })).status, 403);
    assert.ok(server.events.some((e) => /Host evil\.example:\d+ is not this server/.test(JSON.stringify(e))));
    assert.equal((await upgradeStatus(port, "/ws", { "Sec-WebSocket-Key": null })).status, 400);
    const old = await upgradeStatus(port, "/ws", { "Sec-WebSocket-Version": "8" });
    assert.equal(old.status, 426);
    assert.equal(old.headers["sec-websocket-version"], "13");
    assert.equal((await upgradeStatus(port, "/ws", { Host: `localhost:${port}` })).status, 101);
  } finally {
    await server.stop();
  }
});

Deno.test("web: the guard rails apply to browsers: --deny is 403, --max-conns says 'server full' and closes", async () => {
  const denied = await startServer({ mode: "chat", web: LOCAL, deny: [parseCidr("127.0.0.1/32")] });
  try {
    const port = await webPortOf(denied);
    const res = await fetch(`http://127.0.0.1:${port}/`);
    await res.body?.cancel();
    assert.equal(res.status, 403, "the page too");
    const ws = await rawUpgrade(port);
    ws.conn.close();
    assert.equal(ws.status, "HTTP/1.1 403 Forbidden");
    const m = await scrape(`http://127.0.0.1:${port}/metrics`);
    assert.equal(m.get('sockkit_refused_total{reason="deny"}'), 1);
  } finally {
    await denied.stop();
  }

  const full = await startServer({ mode: "chat", web: LOCAL, maxConns: 1 });
  try {
    const url = await wsUrl(full);
    const first = await WsPeer.open(url);
    assert.match(await first.line(), /^\* welcome user1/);
    const second = await WsPeer.open(url);
    assert.equal(await second.line(), "server full (1 client), try again later");
    assert.deepEqual(await second.whenClosed(), {
      code: 1013,
      reason: "server full (1 client, --max-conns)",
    });
    first.close();
  } finally {
    const summary = await full.stop();
    assert.equal(summary.refused, 1);
  }
});

Deno.test("web: a browser that does not read is cut off as too slow (--max-queue), and the others go on", async () => {
  const server = await startServer({ mode: "broadcast", web: LOCAL, maxQueue: 256 * 1024 });
  const sender = await LinePeer.connect(server.port);
  const stuck = await rawUpgrade(await webPortOf(server));
  try {
    assert.equal(stuck.status, "HTTP/1.1 101 Switching Protocols");
    const reader = await WsPeer.open(await wsUrl(server));
    let joined = 0;
    await server.waitFor((e) => e.type === "connect" && ++joined === 3);
    const gone = server.waitFor((e) => e.type === "disconnect" && /too slow/.test(e.reason ?? ""));
    const line = "x".repeat(1023) + "\n";
    const block = new TextEncoder().encode(line.repeat(64));
    let cut = false;
    gone.then(() => cut = true);
    // the reading browser keeps up (the sender waits for it); the stuck one falls behind until it is cut off
    for (let i = 0; i < 2000 && !cut; i++) {
      await writeAll(sender.conn, block);
      const until = performance.now() + 5000;
      while (reader.messages.length < i * 64 && performance.now() < until) {
        await new Promise((r) => setTimeout(r, 1));
      }
    }
    const e = await gone;
    assert.ok(e.type === "disconnect");
    assert.match(e.peer, /\(web\)$/);
    assert.equal(e.reason, "too slow: more than 256.0 KiB waiting to be sent");
    const m = await scrapeUntil(
      (await httpUrl(server, "web")) + "metrics",
      (m) => m.get('sockkit_connections_active{transport="ws"}') === 1,
    );
    assert.equal(m.get("sockkit_slow_consumer_disconnects_total"), 1);
    assert.equal(m.get('sockkit_connections_active{transport="ws"}'), 1, "the reading browser stays");
    await sender.send("still here\n");
    assert.equal(await reader.until(/^still/), "still here");
    assert.deepEqual(
      await readUntilClose(stuck.conn),
      { code: 1008, reason: "too slow: more than 256.0 KiB waiting to be sent" },
      "what was sent before the cut-off arrives, then the close frame says why (the page shows it)",
    );
    reader.close();
  } finally {
    stuck.conn.close();
    sender.close();
    await server.stop();
  }
});

Deno.test("web: at shutdown a browser is told, then closed with 1001 'server shutting down' as a ws:// client is", async () => {
  const server = await startServer({ mode: "chat", web: LOCAL });
  const web = await WsPeer.open(await wsUrl(server));
  assert.match(await web.line(), /^\* welcome/);
  await server.stop();
  assert.equal(await web.line(), "* server shutting down");
  assert.deepEqual(await web.whenClosed(), { code: 1001, reason: "server shutting down" });
});

Deno.test("web: the page, its script and style are served with a strict CSP; other paths are 404", async () => {
  const server = await startServer({ mode: "chat", web: LOCAL });
  try {
    const base = await httpUrl(server, "web");
    const page = await fetch(base);
    assert.equal(page.headers.get("content-type"), "text/html; charset=utf-8");
    assert.match(page.headers.get("content-security-policy")!, /default-src 'none'; script-src 'self'/);
    const html = await page.text();
    assert.match(html, /<body data-mode="chat">/);
    assert.match(html, /<script src="\/chat\.js" defer><\/script>/);
    const js = await fetch(base + "chat.js");
    assert.equal(js.headers.get("content-type"), "text/javascript; charset=utf-8");
    assert.doesNotMatch(await js.text(), /innerHTML|insertAdjacentHTML|document\.write/, "text only");
    for (const path of ["chat.css", "nope", "ws"]) {
      const res = await fetch(base + path);
      await res.body?.cancel();
      assert.equal(res.status, { "chat.css": 200, nope: 404, ws: 426 }[path], path);
    }
  } finally {
    await server.stop();
  }
});

Deno.test("web: --web needs chat or broadcast over a stream: echo, discard and --udp are one-line usage errors", async () => {
  for (const args of [["--mode", "echo"], ["--mode", "discard"], []]) {
    const r = await runCli(["server", "0", ...args, "--web", "127.0.0.1:0"]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(
      r.stderr.trim(),
      `sockkit: --web serves a chat page, which needs a room: add --mode chat or --mode broadcast (not --mode ${
        args[1] ?? "echo"
      })`,
    );
  }
  const udp = await runCli(["server", "udp://127.0.0.1:0", "--mode", "chat", "--web", "127.0.0.1:0"]);
  assert.equal(udp.code, 2);
  assert.equal(udp.stderr.trim(), "sockkit: --web works with chat and broadcast, which UDP does not serve");

  const server = spawnCli(["server", "0", "--host", "127.0.0.1", "--mode", "chat", "--web", "127.0.0.1:0"]);
  const line = await server.line(/^Chat page on /);
  const url = line.match(
    /^Chat page on (http:\/\/127\.0\.0\.1:\d+\/) \(its WebSocket at \/ws, metrics at \/metrics\)$/,
  )![1];
  const web = await WsPeer.open(url.replace(/^http/, "ws") + "ws");
  assert.match(await web.line(), /^\* welcome user1/, "served after file access was dropped");
  web.close();
  const done = await server.stop();
  assert.equal(done.code, 0, done.stderr);
  assert.ok(readToEnd);
});

Deno.test("web: /trace is served under the same CSP; /trace/ws sends each socket call the server makes as JSON", async () => {
  const server = await startServer({ mode: "chat", web: LOCAL, trace: true, sites: true });
  const closers: { close(): void }[] = [];
  try {
    const base = await httpUrl(server, "web");
    const page = await fetch(base + "trace");
    assert.match(page.headers.get("content-security-policy")!, /default-src 'none'; script-src 'self'/);
    assert.match(await page.text(), /<script src="\/trace\.js" defer><\/script>/);
    const js = await (await fetch(base + "trace.js")).text();
    assert.doesNotMatch(js, /innerHTML|insertAdjacentHTML|document\.write|eval\(/, "text only");
    const css = await fetch(base + "trace.css");
    await css.body?.cancel();
    assert.equal(css.status, 200);

    const tcp = await LinePeer.connect(server.port);
    closers.push(tcp.conn);
    await tcp.until(/^\* welcome user1/);
    const watcher = await WsPeer.open(base.replace(/^http/, "ws") + "trace/ws");
    closers.push(watcher);
    assert.deepEqual(JSON.parse(await watcher.line()), { type: "tracing", on: true });
    const peer = `127.0.0.1:${(tcp.conn.localAddr as Deno.NetAddr).port}`;
    const kept = [JSON.parse(await watcher.line()), JSON.parse(await watcher.line())];
    assert.deepEqual(kept.map((c) => c.call), ["bind", "listen"], "the calls made before the page opened");
    const accept = JSON.parse(await watcher.until(/"call":"accept"/));
    assert.equal(accept.peer, peer);
    assert.equal(accept.arrow, "right");
    assert.equal(accept.text, `accept() = ${peer}`);
    assert.match(accept.site, /^lib\/server\/accept\.ts:\d+$/);
    await tcp.send("hello\n");
    const recv = JSON.parse(await watcher.until(/"call":"recv"/));
    assert.deepEqual([recv.peer, recv.result, recv.arrow], [peer, 6, "right"]);

    const foreign = await upgradeStatus(Number(new URL(base).port), "/trace/ws", {
      Origin: "http://evil.example",
    });
    assert.equal(foreign.status, 403);
  } finally {
    closers.forEach((c) => c.close());
    await server.stop();
  }
});

Deno.test("web: on several event loops, /trace draws every loop's connections, not only the page's loop's", async () => {
  const server = await startServer({ mode: "chat", web: LOCAL, trace: true, workers: 4 });
  const closers: { close(): void }[] = [];
  try {
    const base = await httpUrl(server, "web");
    const watcher = await WsPeer.open(base.replace(/^http/, "ws") + "trace/ws");
    closers.push(watcher);
    assert.deepEqual(JSON.parse(await watcher.line()), { type: "tracing", on: true });
    // 16 clients: the kernel spreads them over the 4 loops by hash, so some land beyond the first
    const peers = new Set<string>();
    for (let i = 0; i < 16; i++) {
      const tcp = await LinePeer.connect(server.port);
      closers.push(tcp.conn);
      await tcp.until(/^\* welcome user/);
      peers.add(`127.0.0.1:${(tcp.conn.localAddr as Deno.NetAddr).port}`);
    }
    const accepted = new Map<string, number>();
    while (accepted.size < peers.size) {
      const call = JSON.parse(await watcher.until(/"call":"accept"/));
      if (peers.has(call.peer)) accepted.set(call.peer, call.loop);
    }
    const loops = new Set(accepted.values());
    assert.ok(loops.size > 1, `every accept is drawn, from loops ${[...loops].join(", ")}`);
  } finally {
    closers.forEach((c) => c.close());
    await server.stop();
  }
});

Deno.test("web: without --trace, /trace/ws says there is nothing to show", async () => {
  const server = await startServer({ mode: "chat", web: LOCAL });
  try {
    const watcher = await WsPeer.open((await httpUrl(server, "web")).replace(/^http/, "ws") + "trace/ws");
    assert.deepEqual(JSON.parse(await watcher.line()), { type: "tracing", on: false });
    watcher.close();
    await watcher.whenClosed();
  } finally {
    await server.stop();
  }
});
