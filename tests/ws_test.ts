/**
 * The WebSocket transport: interop with a real client (the npm `ws` package) and with `sockkit client`,
 * text/binary fidelity, chat/broadcast/discard per message, close codes and size limits, keep-alive pings,
 * the origin check, guard-rail refusals with their HTTP status, subprotocols, wss, relay and bench.
 */
import assert from "node:assert/strict";
import { parseAddressSpec } from "../lib/endpoints/addressspec.ts";
import {
  CLI_PERMISSIONS,
  echoRoundTrip,
  portOf,
  randomBytes,
  readToEnd,
  runCli,
  spawnCli,
  startServer,
} from "./_helpers.ts";
import { runRelay } from "../lib/relay/run.ts";
import { runBench } from "../lib/bench/run.ts";
import type { ServerEvent } from "../lib/report/events.ts";
import { IS_LINUX, rssKiB, spawnServer, within } from "./_proc.ts";
import { parseCidr } from "../lib/endpoints/cidr.ts";
import { writeAll } from "../lib/core/io.ts";
import { clientFrame, openWs, rawUpgrade, refusedWith, startWsServer } from "./_ws.ts";
import { upgradeStatus } from "./_web_ws.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const EVERY_BYTE = Uint8Array.from({ length: 256 }, (_, i) => i);
const TRICKY_TEXT = "line one\r\nline two 😀 ünïcødé, no trailing newline";

Deno.test("address specs: ws:// and wss:// with a path (default /), and one-line errors", () => {
  assert.deepEqual(parseAddressSpec("ws://0.0.0.0:8080/", "listen"), {
    transport: "ws",
    hostname: "0.0.0.0",
    port: 8080,
    path: "/",
    secure: false,
  });
  assert.deepEqual(parseAddressSpec("wss://[::1]:8443/chat", "connect"), {
    transport: "ws",
    hostname: "::1",
    port: 8443,
    path: "/chat",
    secure: true,
  });
  assert.equal((parseAddressSpec("ws://127.0.0.1:80", "connect") as { path: string }).path, "/");
  for (
    const [spec, why] of [
      ["ws://127.0.0.1/", /no port/],
      ["ws://127.0.0.1:80/a b", /spaces or control characters/],
      ["ws://127.0.0.1:80/?x=1", /query or fragment/],
      ["wss://:443/", /no host before the port/],
      ["ws://127.0.0.1:0/", /invalid port/],
    ] as const
  ) {
    assert.throws(() => parseAddressSpec(spec, "connect"), (err: Error) => {
      assert.match(err.message, why);
      assert.match(err.message, /ws:\/\/HOST:PORT\/PATH/);
      assert.ok(!err.message.includes("\n"));
      return true;
    });
  }
});

Deno.test("echo over ws: every message back whole and of its type (npm ws client), byte-exact", async () => {
  const server = await startWsServer();
  try {
    const peer = await openWs(server.url);
    const big = crypto.getRandomValues(new Uint8Array(60_000));
    peer.ws.send(EVERY_BYTE);
    peer.ws.send(TRICKY_TEXT);
    peer.ws.send(big);
    peer.ws.send("");
    const [a, b, c, d] = await Promise.all([1, 2, 3, 4].map((n) => peer.nth(n)));
    assert.equal(a.binary, true);
    assert.deepEqual(a.data, EVERY_BYTE);
    assert.equal(b.binary, false);
    assert.equal(decoder.decode(b.data), TRICKY_TEXT);
    assert.equal(c.binary, true);
    assert.deepEqual(c.data, big);
    assert.equal(d.binary, false);
    assert.equal(d.data.length, 0);
    peer.ws.close(1000);
    assert.equal((await peer.closed).code, 1000);
    const left = await server.waitFor((e) => e.type === "disconnect");
    assert.equal((left as { messages: number }).messages, 4, "one message counted per WebSocket message");
  } finally {
    await server.stop();
  }
});

Deno.test("ws server: another path is 404, plain HTTP without an upgrade is 426", async () => {
  const server = await startWsServer({ path: "/echo" });
  try {
    const other = await fetch(`http://127.0.0.1:${server.port}/`);
    assert.equal(other.status, 404);
    assert.match(await other.text(), /the WebSocket is at \/echo/);
    const plain = await fetch(`http://127.0.0.1:${server.port}/echo`);
    assert.equal(plain.status, 426);
    assert.equal(plain.headers.get("upgrade"), "websocket");
    await plain.body?.cancel();
    assert.match(await refusedWith(`ws://127.0.0.1:${server.port}/`), /404/);
    const peer = await openWs(server.url);
    peer.ws.send("ok");
    assert.equal(decoder.decode((await peer.nth(1)).data), "ok");
    peer.ws.close();
    await peer.closed;
  } finally {
    await server.stop();
  }
});

Deno.test("ws server: a Host that is not this server is 403 (DNS rebinding), with the reason in the log", async () => {
  const server = await startWsServer({ path: "/" });
  try {
    const evil = `evil.example:${server.port}`;
    const rebound = await upgradeStatus(server.port, "/", { Host: evil, Origin: `http://${evil}` });
    assert.equal(rebound.status, 403, "a page of a rebound name gets no WebSocket");
    assert.ok(server.events.some((e) => /Host evil\.example:\d+ is not this server/.test(JSON.stringify(e))));
    assert.equal((await upgradeStatus(server.port, "/", { Host: `localhost:${server.port}` })).status, 101);
    assert.equal((await upgradeStatus(server.port, "/", { Host: `127.0.0.1:${server.port}` })).status, 101);
  } finally {
    await server.stop();
  }
  const allowed = await startWsServer({ path: "/", ws: { allowOrigins: ["http://app.example"] } });
  try {
    const app = `app.example:${allowed.port}`;
    assert.equal(
      (await upgradeStatus(allowed.port, "/", { Host: app })).status,
      101,
      "--allow-origin's name",
    );
  } finally {
    await allowed.stop();
  }
});

Deno.test("ws server: a missing or malformed Sec-WebSocket-Key is 400, another version 426 naming 13", async () => {
  const server = await startWsServer({ path: "/" });
  try {
    assert.equal((await upgradeStatus(server.port, "/", { "Sec-WebSocket-Key": null })).status, 400);
    assert.equal((await upgradeStatus(server.port, "/", { "Sec-WebSocket-Key": "c2hvcnQ=" })).status, 400);
    const old = await upgradeStatus(server.port, "/", { "Sec-WebSocket-Version": "8" });
    assert.equal(old.status, 426);
    assert.equal(old.headers["sec-websocket-version"], "13");
    assert.ok(server.events.some((e) => /no Sec-WebSocket-Key/.test(JSON.stringify(e))), "said in the log");
    assert.ok(!server.events.some((e) => /TypeError/.test(JSON.stringify(e))), "no raw TypeError");
  } finally {
    await server.stop();
  }
});

Deno.test("--max-message: a larger message closes the connection with 1009 and the server says why", async () => {
  const server = await startWsServer({ ws: { maxMessage: 1024 } });
  try {
    const peer = await openWs(server.url);
    peer.ws.send(new Uint8Array(1024));
    assert.equal((await peer.nth(1)).data.length, 1024, "a message at the limit is served");
    peer.ws.send(new Uint8Array(1025));
    const closed = await peer.closed;
    assert.equal(closed.code, 1009);
    assert.equal(closed.reason, "a message over --max-message (1024 bytes)");
    const left = await server.waitFor((e) => e.type === "disconnect") as { reason?: string };
    assert.equal(left.reason, "a message over --max-message (1024 bytes)");
  } finally {
    await server.stop();
  }
});

Deno.test("keep-alive: a peer that stops answering pings is detected and closed (--ping-interval 1s)", async () => {
  const server = await startWsServer({ ws: { pingIntervalS: 1 } });
  try {
    // an answering client stays connected through several ping intervals
    const alive = await openWs(server.url);
    const silent = await rawUpgrade(server.port);
    const startedAt = performance.now();
    const frames: number[] = [];
    const buf = new Uint8Array(1024);
    for (;;) {
      const n = await silent.read(buf).catch(() => null);
      if (n === null) break;
      frames.push(buf[0]);
    }
    const tookMs = performance.now() - startedAt;
    assert.ok(frames.includes(0x89), "the server pinged the silent peer");
    assert.ok(frames.includes(0x88), "then sent it a close frame");
    assert.ok(tookMs < 6000, `dead peer closed after ${Math.round(tookMs)} ms`);
    const left = await server.waitFor((e) => e.type === "disconnect") as { reason?: string; id: number };
    assert.match(left.reason ?? "", /no answer to a ping within 1 s \(--ping-interval\)/);
    silent.close();
    alive.ws.send("still here");
    assert.equal(decoder.decode((await alive.nth(1)).data), "still here");
    alive.ws.close();
    await alive.closed;
  } finally {
    await server.stop();
  }
});

Deno.test("origin check: a cross-site Origin is refused with 403 unless --allow-origin lists it", async () => {
  const server = await startWsServer({ ws: { allowOrigins: ["https://app.example"] } });
  try {
    assert.match(await refusedWith(server.url, { origin: "https://evil.example" }), /403/);
    const refused = await server.waitFor((e) => e.type === "refused") as { reason: string };
    assert.match(refused.reason, /cross-site request: Origin https:\/\/evil\.example is not this server/);
    assert.equal(await refusedWith(server.url, { origin: "https://app.example" }), "connected");
    assert.equal(await refusedWith(server.url, { origin: `http://127.0.0.1:${server.port}` }), "connected");
    assert.equal(await refusedWith(server.url), "connected", "no Origin (not a browser) is let in");
  } finally {
    const summary = await server.stop();
    assert.equal(summary.refused, 1);
  }
});

Deno.test("guard rails: --deny is 403 and --max-conns 503, before the upgrade; --idle-timeout closes with 1008", async () => {
  const denied = await startWsServer({ deny: [parseCidr("127.0.0.0/8")] });
  try {
    assert.match(await refusedWith(denied.url), /Unexpected server response: 403/);
    const r = await denied.waitFor((e) => e.type === "refused") as { reason: string };
    assert.match(r.reason, /denied by --deny 127\.0\.0\.0\/8/);
  } finally {
    await denied.stop();
  }
  const full = await startWsServer({ maxConns: 1, idleTimeoutMs: 600 });
  try {
    const first = await openWs(full.url);
    assert.match(await refusedWith(full.url), /Unexpected server response: 503/);
    const closed = await first.closed;
    assert.equal(closed.code, 1008);
    assert.match(closed.reason, /idle timeout/);
  } finally {
    const summary = await full.stop();
    assert.equal(summary.refused, 1);
  }
});

Deno.test("--subprotocol: agreed when the client asks for it, not otherwise", async () => {
  const server = await startWsServer({ ws: { subprotocol: "chat.v1" } });
  try {
    const asking = await openWs(server.url, {}, ["other", "chat.v1"]);
    assert.equal(asking.ws.protocol, "chat.v1");
    asking.ws.close();
    const plain = await openWs(server.url);
    assert.equal(plain.ws.protocol, "");
    plain.ws.close();
    const cli = await runCli(["client", server.url, "hi", "--subprotocol", "chat.v2"]);
    assert.equal(cli.code, 1);
    assert.match(cli.stderr, /did not agree to the subprotocol chat\.v2/);
    const ok = await runCli(["client", server.url, "hi", "--subprotocol", "chat.v1"]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /\(WebSocket, subprotocol chat\.v1\)/);
  } finally {
    await server.stop();
  }
});

Deno.test("chat over ws: one message is one line in the room; each line is one text message without its ending", async () => {
  const server = await startWsServer({ mode: "chat" });
  try {
    const ws = await openWs(server.url);
    assert.match(decoder.decode((await ws.nth(1)).data), /^\* welcome user1, 0 others here/);
    const other = await openWs(server.url);
    await other.nth(1);
    assert.equal(decoder.decode((await ws.nth(2)).data), "* user2 joined");
    ws.ws.send("hello\r\n");
    ws.ws.send("two\nlines in one message");
    const a = await other.nth(2);
    const b = await other.nth(3);
    assert.equal(a.binary, false);
    assert.equal(decoder.decode(a.data), "<user1> hello");
    assert.equal(decoder.decode(b.data), "<user1> two\\nlines in one message", "one message, one line");
    other.ws.send("/who");
    assert.equal(decoder.decode((await other.nth(4)).data), "* 2 here: user1, user2");
    ws.ws.close();
    other.ws.close();
  } finally {
    await server.stop();
  }
});

Deno.test("broadcast and discard over ws: per message, and a member that never reads is cut off as too slow", async () => {
  const server = await startWsServer({
    mode: "broadcast",
    maxQueue: 128 * 1024,
    ws: { maxQueue: 128 * 1024 },
  });
  try {
    const sender = await openWs(server.url);
    const reader = await openWs(server.url);
    const hog = await rawUpgrade(server.port); // upgraded, then never reads
    await server.waitFor((e) => e.type === "connect" && e.active === 3);
    sender.ws.send("text message");
    sender.ws.send(EVERY_BYTE);
    const [t, b] = [await reader.nth(1), await reader.nth(2)];
    assert.deepEqual([t.binary, decoder.decode(t.data)], [false, "text message"]);
    assert.deepEqual([b.binary, b.data], [true, EVERY_BYTE]);
    // paced by the reader (two chunks at a time), so only the member that never reads falls behind
    const chunk = new Uint8Array(60 * 1024);
    let sent = 0;
    const isCut = (e: { type: string; reason?: string }) =>
      e.type === "disconnect" && /too slow/.test(e.reason ?? "");
    while (sent < 400) { // 24 MiB: more than the kernel buffers of the member that never reads hold
      sender.ws.send(chunk);
      sender.ws.send(chunk);
      sent += 2;
      await reader.nth(2 + sent);
    }
    await within(server.waitFor(isCut), 10_000, "the member that never reads to be cut off");
    const cut = server.events.filter(isCut);
    assert.equal(cut.length, 1, "only the member that never reads is cut off");
    assert.equal((cut[0] as { id: number }).id, 3);
    assert.match((cut[0] as { reason: string }).reason, /too slow: more than 128\.0 KiB waiting to be sent/);
    hog.close();
    sender.ws.close();
    reader.ws.close();
  } finally {
    await server.stop();
  }
  const discard = await startWsServer({ mode: "discard" });
  try {
    const peer = await openWs(discard.url);
    peer.ws.send(new Uint8Array(100_000));
    peer.ws.send("x");
    peer.ws.close();
    const left = await discard.waitFor((e) => e.type === "disconnect") as { messages: number; bytes: number };
    assert.deepEqual([left.messages, left.bytes], [2, 100_001]);
  } finally {
    await discard.stop();
  }
});

Deno.test("backpressure: clients that send and never read are cut off; server memory stays bounded", async () => {
  const server = await startWsServer({ maxQueue: 256 * 1024, ws: { maxQueue: 256 * 1024 } });
  try {
    const hogs = await Promise.all(Array.from({ length: 8 }, () => rawUpgrade(server.port)));
    const frame = clientFrame(new Uint8Array(16 * 1024));
    const sent = await Promise.all(hogs.map(async (hog) => {
      let bytes = 0;
      try {
        while (bytes < 64 * 1024 * 1024) {
          await writeAll(hog, frame);
          bytes += frame.length;
        }
      } catch {
        // cut off by the server
      }
      return bytes;
    }));
    assert.ok(sent.every((n) => n < 64 * 1024 * 1024), `every hog was cut off before 64 MiB: ${sent}`);
    const cut = server.events.filter((e) => e.type === "disconnect" && /too slow/.test(e.reason ?? ""));
    for (let i = 0; cut.length < 8 && i < 100; i++) {
      await new Promise((r) => setTimeout(r, 50));
      cut.splice(
        0,
        cut.length,
        ...server.events.filter((e) => e.type === "disconnect" && /too slow/.test(e.reason ?? "")),
      );
    }
    assert.equal(cut.length, 8);
    assert.match(
      (cut[0] as { reason: string }).reason,
      /too slow: more than 1\.0 MiB of its messages waiting/,
    );
    for (const hog of hogs) hog.close();
    // and a well-behaved client is served all the while
    const peer = await openWs(server.url);
    peer.ws.send("fine");
    assert.equal(decoder.decode((await peer.nth(1)).data), "fine");
    peer.ws.close();
  } finally {
    await server.stop();
  }
});

Deno.test({
  name:
    "backpressure: 10 clients that flood and never read are cut off, server RSS grows < 32 MiB, others served",
  ignore: !IS_LINUX,
  async fn() {
    const server = await spawnServer({
      listen: "ws://127.0.0.1:0/",
      args: ["--max-queue", "128KiB", "--max-message", "128KiB"],
      keep: (e) => e.type === "disconnect",
      // what a hog can make the server hold, without V8's young generation: frames are parsed in JS (the npm
      // ws framing), and at a flood's rate V8 grows its semi-spaces with garbage by up to ~40 MiB whatever
      // the number of hogs (measured: 38–43 MiB with 10 hogs by default, under 32 MiB with 1 MiB semi-spaces)
      v8Flags: ["--max-semi-space-size=1"],
    });
    const url = `ws://127.0.0.1:${server.port}/`;
    const fastRound = async () => {
      const peer = await openWs(url);
      for (let i = 1; i <= 20; i++) {
        peer.ws.send(EVERY_BYTE);
        assert.deepEqual((await peer.nth(i)).data, EVERY_BYTE);
      }
      peer.ws.close();
      await peer.closed;
    };
    try {
      await Promise.all(Array.from({ length: 10 }, fastRound));
      const baseline = await rssKiB(server.pid);
      const hogs = await Promise.all(Array.from({ length: 10 }, () => rawUpgrade(server.port)));
      const frame = clientFrame(new Uint8Array(32 * 1024));
      let peak = baseline;
      const sampling = setInterval(() => rssKiB(server.pid).then((kib) => (peak = Math.max(peak, kib))), 50);
      const sent = await within(
        Promise.all(hogs.map(async (hog) => {
          let bytes = 0;
          try {
            for (; bytes < 256 * 1024 * 1024; bytes += frame.length) await writeAll(hog, frame);
          } catch {
            // cut off
          }
          return bytes;
        })),
        60_000,
        "every hog to be cut off",
      );
      await Promise.all(Array.from({ length: 10 }, fastRound));
      clearInterval(sampling);
      peak = Math.max(peak, await rssKiB(server.pid));
      for (const hog of hogs) hog.close();
      assert.ok(sent.every((n) => n < 256 * 1024 * 1024), `every hog was cut off: ${sent}`);
      await server.waitForCount("disconnect", 30, 10_000);
      const slow = server.events.filter((e) => /too slow/.test(String(e.reason ?? "")));
      assert.equal(slow.length, 10, "each hog was cut off as too slow");
      assert.ok(
        peak - baseline < 32 * 1024,
        `server RSS went from ${baseline} KiB to ${peak} KiB with 10 hogs`,
      );
    } finally {
      await server.stop("SIGKILL");
    }
  },
});

Deno.test("sockkit client: one message, --binary, --count, and pipe mode that exits at EOF after the replies", async () => {
  const server = await startWsServer();
  try {
    const once = await runCli(["client", server.url, "hello ws"]);
    assert.equal(once.code, 0, once.stderr);
    assert.match(
      once.stdout,
      /^Connected to ws:\/\/127\.0\.0\.1:\d+\/ \(WebSocket\) in [\d.]+ ms\nReceived: hello ws \(/,
    );
    const binary = await runCli(["client", server.url, "bytes", "--binary", "-c", "3", "-i", "10ms"]);
    assert.equal(binary.code, 0, binary.stderr);
    assert.match(binary.stdout, /3 sent, 3 received, 0% lost/);
    const piped = await runCli(["client", server.url, "-"], {
      stdin: encoder.encode("one\r\ntwo\nno newline"),
    });
    assert.equal(piped.code, 0, piped.stderr);
    assert.equal(
      piped.stdout,
      "one\ntwo\nno newline\n",
      "each line one text message, each text message one line",
    );
    const echoHi = await runCli(["client", server.url, "-"], { stdin: encoder.encode("hi\n") });
    assert.deepEqual([echoHi.code, echoHi.stdout], [0, "hi\n"]);
    const raw = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--quiet",
        ...CLI_PERMISSIONS,
        new URL("../main.ts", import.meta.url).pathname,
        "client",
        server.url,
        "-",
        "--binary",
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const w = raw.stdin.getWriter();
    await w.write(EVERY_BYTE);
    await w.close();
    const rawOut = await raw.output();
    assert.equal(rawOut.code, 0, decoder.decode(rawOut.stderr));
    assert.deepEqual(rawOut.stdout, EVERY_BYTE, "--binary: stdin bytes out and back, untouched");
  } finally {
    const summary = await server.stop();
    assert.ok(summary.clients >= 5);
  }
});

Deno.test("sockkit client: a close with an error code is printed with its name, and the run fails", async () => {
  const server = await startWsServer({ ws: { maxMessage: 10 } });
  try {
    const big = await runCli(["client", server.url, "far more than ten bytes"]);
    assert.equal(big.code, 1);
    assert.equal(
      big.stderr.trim(),
      "sockkit: closed by peer: 1009 message too big (a message over --max-message (10 bytes))",
    );
    const piped = await runCli(["client", server.url, "-"], {
      stdin: encoder.encode("ok\nfar more than ten bytes\n"),
    });
    assert.equal(piped.code, 1);
    assert.equal(piped.stdout, "ok\n");
    assert.match(piped.stderr, /^sockkit: closed by peer: 1009 message too big/m);
  } finally {
    await server.stop();
  }
});

Deno.test("shutdown: ws clients are told goodbye with 1001 going away", async () => {
  const server = await startWsServer();
  const peer = await openWs(server.url);
  await server.waitFor((e) => e.type === "connect");
  await server.stop();
  const closed = await peer.closed;
  assert.deepEqual(closed, { code: 1001, reason: "server shutting down" });
});

Deno.test("wss: an ephemeral certificate (fingerprint reported); --insecure, --ca and --pin trust it, nothing else does", async () => {
  const certFile = await Deno.makeTempFile({ suffix: ".pem" });
  const server = await startWsServer({ secure: true, tls: { writeCertFile: certFile } });
  try {
    const cert = await server.waitFor((e) => e.type === "certificate") as {
      fingerprint: string;
      ephemeral: boolean;
    };
    assert.equal(cert.ephemeral, true);
    const untrusted = await runCli(["client", server.url, "hi"]);
    assert.equal(untrusted.code, 1);
    assert.match(
      untrusted.stderr,
      /cannot connect to wss:\/\/127\.0\.0\.1:\d+\/: TLS: the server's certificate is not trusted/,
    );
    const insecure = await runCli(["client", server.url, "hi", "--insecure"]);
    assert.equal(insecure.code, 0, insecure.stderr);
    assert.match(insecure.stdout, /\(WebSocket over TLS, not verified\)/);
    assert.match(insecure.stderr, /was not verified \(--insecure\)/);
    const ca = await runCli(["client", server.url, "hi", "--ca", certFile]);
    assert.equal(ca.code, 0, ca.stderr);
    assert.match(ca.stdout, /Received: hi/);
    const pinned = await runCli(["client", server.url, "hi", "--pin", cert.fingerprint]);
    assert.equal(pinned.code, 0, pinned.stderr);
    assert.match(pinned.stdout, /\(WebSocket over TLS, pinned\)/);
    const npm = await openWs(server.url, { ca: await Deno.readTextFile(certFile) });
    npm.ws.send(EVERY_BYTE);
    assert.deepEqual((await npm.nth(1)).data, EVERY_BYTE);
    npm.ws.close();
    await npm.closed;
    // A relay to it with --insecure works, and says the certificate goes unverified, as the client does.
    const relay = spawnCli(["relay", "127.0.0.1:0", server.url, "--insecure", "--workers", "1"]);
    const back = await echoRoundTrip(Number(await portOf(relay)), new TextEncoder().encode("unverified"));
    assert.equal(new TextDecoder().decode(back), "unverified");
    const { stderr } = await relay.stop();
    assert.match(stderr, /certificate was not verified \(--insecure\)/);
  } finally {
    await server.stop();
    await Deno.remove(certFile);
  }
});

Deno.test("relay ws→tcp: each WebSocket client gets a TCP connection, payloads ↔ bytes; and tcp→ws back", async () => {
  const tcpEcho = await startServer();
  const wsEcho = await startWsServer();
  const events: ServerEvent[] = [];
  const ac = new AbortController();
  const toTcp = runRelay({
    listen: { transport: "ws", hostname: "127.0.0.1", port: 0, path: "/", secure: false },
    target: { transport: "tcp", hostname: "127.0.0.1", port: tcpEcho.port },
  }, { signal: ac.signal, onEvent: (e) => events.push(e) });
  const toWs = runRelay({
    listen: { transport: "tcp", hostname: "127.0.0.1", port: 0 },
    target: { transport: "ws", hostname: "127.0.0.1", port: wsEcho.port, path: "/", secure: false },
  }, { signal: ac.signal, onEvent: (e) => events.push(e) });
  try {
    while (events.filter((e) => e.type === "listening").length < 2) {
      await new Promise((r) => setTimeout(r, 10));
    }
    const [wsSide, tcpSide] = events.filter((e) => e.type === "listening") as { address: string }[];
    const wsUrl = [wsSide, tcpSide].find((l) => l.address.startsWith("ws://"))!.address;
    const tcpAddress = [wsSide, tcpSide].find((l) => !l.address.startsWith("ws://"))!.address;
    const peer = await openWs(wsUrl);
    peer.ws.send(EVERY_BYTE);
    const back = await peer.nth(1);
    assert.equal(back.binary, true, "a TCP chunk comes back as one binary message");
    assert.deepEqual(back.data, EVERY_BYTE);
    peer.ws.close();
    await peer.closed;

    const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(tcpAddress.split(":").at(-1)) });
    const payload = randomBytes(100_000);
    const [, echoed] = await Promise.all([
      (async () => {
        await conn.write(payload);
        await conn.closeWrite();
      })(),
      readToEnd(conn),
    ]);
    assert.deepEqual(echoed, payload, "bytes over TCP, through ws messages, and back");
    conn.close();
  } finally {
    ac.abort();
    const [a, b] = await Promise.all([toTcp, toWs]);
    assert.equal(a.clients + b.clients, 2);
    await tcpEcho.stop();
    await wsEcho.stop();
  }
});

Deno.test("bench ws://: message round trips, every reply checked", async () => {
  const server = await startWsServer();
  try {
    const result = await runBench({
      endpoint: { transport: "ws", hostname: "127.0.0.1", port: server.port, path: "/", secure: false },
      connections: 4,
      durationMs: 500,
      size: 3000,
    });
    assert.equal(result.connected, 4);
    assert.equal(result.errors, 0);
    assert.ok(result.messages > 100, `${result.messages} round trips in 0.5 s`);
    assert.ok(
      result.latency!.p50 < 20,
      `p50 ${result.latency!.p50} ms (no Nagle delay on 3000-byte messages)`,
    );
  } finally {
    await server.stop();
  }
});

Deno.test("command line: WebSocket options need a ws:// address, and ws:// refuses what it cannot do", async () => {
  for (
    const [args, message] of [
      [
        ["server", "8080", "--ping-interval", "5s"],
        /^sockkit: --ping-interval is for WebSocket: listen on ws:\/\/HOST:PORT\/PATH, wss:\/\/…$/m,
      ],
      [
        ["server", "udp://127.0.0.1:0", "--allow-origin", "*"],
        /--allow-origin is for WebSocket: listen on ws:/,
      ],
      [
        ["server", "ws://127.0.0.1:0/", "--trace"],
        /--trace follows socket calls: it does not work with ws:\/\//,
      ],
      [
        ["server", "ws://127.0.0.1:0/", "--cert", "c.pem", "--key", "k.pem"],
        /--cert needs a wss:\/\/ address/,
      ],
      [["server", "ws://127.0.0.1:0/", "--ping-interval", "500ms"], /whole seconds/],
      [["server", "ws://127.0.0.1:0/", "--allow-origin", "evil"], /invalid --allow-origin 'evil'/],
      [["client", "127.0.0.1", "1", "hi", "--binary"], /--binary is for WebSocket: connect to ws:\/\//],
      [
        ["client", "unix:/tmp/x.sock", "hi", "--subprotocol", "v1"],
        /--subprotocol is for WebSocket: connect to/,
      ],
      [["bench", "ws://127.0.0.1:1/", "--mode", "stream"], /--mode stream never waits for the echo/],
      [["client", "ws://127.0.0.1:1/ x", "hi"], /invalid address/],
    ] as const
  ) {
    const r = await runCli([...args]);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split("\n").length, 1, "one line");
  }
});
