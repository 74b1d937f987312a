import assert from "node:assert/strict";
import { parseCidr } from "../lib/endpoints/cidr.ts";
import { writeAll } from "../lib/core/io.ts";
import { echoRoundTrip, readToEnd, runCli, startServer } from "./_helpers.ts";

const text = (b: Uint8Array) => new TextDecoder().decode(b);
const hello = new TextEncoder().encode("hello");

Deno.test("max-conns: the client over the limit is told 'server full' and closed; a freed slot is reused", async () => {
  const server = await startServer({ maxConns: 2 });
  const a = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    using b = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    let connects = 0;
    await server.waitFor((e) => e.type === "connect" && ++connects === 2);
    using c = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    assert.equal(text(await readToEnd(c)), "server full (2 clients), try again later\n");
    const refused = await server.waitFor((e) => e.type === "refused");
    assert.ok(refused.type === "refused");
    assert.equal(refused.reason, "server full (2 clients, --max-conns)");

    a.close();
    await server.waitFor((e) => e.type === "disconnect");
    assert.equal(text(await echoRoundTrip(server.port, hello)), "hello", "a slot freed is taken again");
    assert.ok(b);
    const summary = await server.stop();
    assert.deepEqual([summary.clients, summary.refused], [3, 1]);
  } catch (err) {
    a.close();
    await server.stop();
    throw err;
  }
});

Deno.test("idle-timeout: a client that sends without reading its echo is closed as such, not as silent", async () => {
  const server = await startServer({ idleTimeoutMs: 300 });
  try {
    // Never reads: the server can write nothing to it; it goes, and the log says why.
    const hog = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    const hogging = writeAll(hog, new Uint8Array(32 * 1024 * 1024)).catch(() => {});
    const hogPort = (hog.localAddr as Deno.NetAddr).port;
    const gone = await server.waitFor((e) => e.type === "disconnect" && e.peer.endsWith(`:${hogPort}`));
    assert.ok(gone.type === "disconnect");
    assert.equal(gone.reason, "idle timeout: not reading its echo, nothing could be sent to it for 300 ms");
    hog.close();
    await hogging;
  } finally {
    await server.stop();
  }
});

Deno.test("idle-timeout: a client that stops reading, then reads, gets every byte echoed and a clean end, not a reset", async () => {
  const server = await startServer({ idleTimeoutMs: 300 });
  try {
    // More than the socket buffers of both directions hold: the echo stalls, the server stops reading, and
    // the write can only finish once the server, having closed the client, reads the rest away.
    const sent = new Uint8Array(64 * 1024 * 1024);
    for (let i = 0; i < 251; i++) sent[i] = i;
    for (let n = 251; n < sent.length; n *= 2) sent.copyWithin(n, 0, n);
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    try {
      await writeAll(conn, sent);
      const port = (conn.localAddr as Deno.NetAddr).port;
      const received = await readToEnd(conn);
      await conn.closeWrite();
      const gone = await server.waitFor((e) => e.type === "disconnect" && e.peer.endsWith(`:${port}`));
      assert.ok(gone.type === "disconnect");
      assert.equal(gone.reason, "idle timeout: not reading its echo, nothing could be sent to it for 300 ms");
      assert.ok(received.length > 0 && received.length < sent.length, `${received.length} bytes back`);
      assert.equal(received.length, gone.bytes, "every byte the server read was echoed and arrived");
      assert.ok(received.every((b, i) => b === sent[i]), "the echo is the start of what was sent");
    } finally {
      conn.close();
    }
  } finally {
    await server.stop();
  }
});

Deno.test("idle-timeout: a silent client is closed with the reason logged; a talking one is kept", async () => {
  const server = await startServer({ idleTimeoutMs: 300 });
  try {
    const started = performance.now();
    using silent = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    using talker = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    const silentClosed = readToEnd(silent).then(() => performance.now() - started);
    // The talker sends every 100 ms for 600 ms: never 300 ms of silence.
    for (let i = 0; i < 6; i++) {
      await writeAll(talker, hello);
      const echo = new Uint8Array(5);
      assert.equal(await talker.read(echo), 5);
      await new Promise((r) => setTimeout(r, 100));
    }
    const closedAfter = await silentClosed;
    assert.ok(closedAfter >= 290, `closed after ${closedAfter.toFixed(0)} ms`);
    const gone = server.events.filter((e) => e.type === "disconnect");
    assert.equal(gone.length, 1, "only the silent client was closed");
    assert.ok(gone[0].type === "disconnect");
    assert.equal(gone[0].reason, "idle timeout: nothing received for 300 ms");
    assert.equal(gone[0].peer, `127.0.0.1:${(silent.localAddr as Deno.NetAddr).port}`);
  } finally {
    await server.stop();
  }
});

Deno.test("deny: a peer in a denied IPv4 network is closed at once and logged", async () => {
  const server = await startServer({ deny: [parseCidr("127.0.0.0/8")] });
  try {
    using conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    await writeAll(conn, hello).catch(() => {});
    assert.equal((await readToEnd(conn).catch(() => new Uint8Array(0))).length, 0, "no echo");
    const refused = await server.waitFor((e) => e.type === "refused");
    assert.ok(refused.type === "refused");
    assert.equal(refused.reason, "denied by --deny 127.0.0.0/8");
    assert.match(refused.peer, /^127\.0\.0\.1:\d+$/);
    assert.equal(server.events.some((e) => e.type === "connect"), false, "never served");
  } finally {
    await server.stop();
  }
});

Deno.test("allow ::1/128 on a dual-stack listener: IPv6 loopback is served, IPv4 loopback refused", async () => {
  const server = await startServer({ hostname: "::", allow: [parseCidr("::1/128")] });
  try {
    assert.equal(text(await echoRoundTrip(server.port, hello, "::1")), "hello");
    using v4 = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    assert.equal((await readToEnd(v4).catch(() => new Uint8Array(0))).length, 0);
    const refused = await server.waitFor((e) => e.type === "refused");
    assert.ok(refused.type === "refused");
    assert.equal(refused.reason, "not in the --allow list");
    assert.match(refused.peer, /127\.0\.0\.1/);
    const summary = await server.stop();
    assert.deepEqual([summary.clients, summary.refused], [1, 1]);
  } catch (err) {
    await server.stop();
    throw err;
  }
});

Deno.test("deny an IPv6 network: ::1 is refused while IPv4 loopback is allowed", async () => {
  const server = await startServer({
    hostname: "::",
    allow: [parseCidr("127.0.0.0/8"), parseCidr("::/0")],
    deny: [parseCidr("::1")],
  });
  try {
    assert.equal(text(await echoRoundTrip(server.port, hello, "127.0.0.1")), "hello");
    using v6 = await Deno.connect({ hostname: "::1", port: server.port });
    assert.equal((await readToEnd(v6).catch(() => new Uint8Array(0))).length, 0);
    const refused = await server.waitFor((e) => e.type === "refused");
    assert.ok(refused.type === "refused" && refused.reason === "denied by --deny ::1/128");
  } finally {
    await server.stop();
  }
});

Deno.test("allow ::ffff:127.0.0.0/104 means 127.0.0.0/8 on an IPv4 listener as on a dual-stack one", async () => {
  const allow = [parseCidr("::ffff:127.0.0.0/104", "--allow")];
  const v4 = await startServer({ hostname: "127.0.0.1", allow });
  try {
    assert.equal(text(await echoRoundTrip(v4.port, hello, "127.0.0.1")), "hello", "IPv4 listener");
  } finally {
    const summary = await v4.stop();
    assert.equal(summary.refused, 0);
  }
  const dual = await startServer({ hostname: "::", allow });
  try {
    assert.equal(text(await echoRoundTrip(dual.port, hello, "127.0.0.1")), "hello", "dual-stack listener");
    using v6 = await Deno.connect({ hostname: "::1", port: dual.port });
    assert.equal((await readToEnd(v6).catch(() => new Uint8Array(0))).length, 0);
    const refused = await dual.waitFor((e) => e.type === "refused");
    assert.ok(refused.type === "refused" && refused.reason === "not in the --allow list");
  } finally {
    await dual.stop();
  }
  const deny = await startServer({ hostname: "127.0.0.1", deny: [parseCidr("::ffff:0:0/96", "--deny")] });
  try {
    using conn = await Deno.connect({ hostname: "127.0.0.1", port: deny.port });
    assert.equal((await readToEnd(conn).catch(() => new Uint8Array(0))).length, 0);
    const refused = await deny.waitFor((e) => e.type === "refused");
    assert.ok(refused.type === "refused" && refused.reason === "denied by --deny ::ffff:0:0/96");
  } finally {
    await deny.stop();
  }
});

Deno.test("CLI: bad guard-rail values are usage errors that name the value and the accepted form", async () => {
  const cases: [string[], RegExp][] = [
    [["--allow", "10.0.0.300/8"], /^sockkit: invalid --allow '10\.0\.0\.300\/8': expected an IPv4 or IPv6/],
    [["--deny", "::1/200"], /^sockkit: invalid --deny '::1\/200': expected an IPv4 or IPv6/],
    [["--max-conns", "0"], /^sockkit: invalid --max-conns '0': expected a whole number of 1 or more/],
    [["--idle-timeout", "soon"], /^sockkit: invalid --idle-timeout 'soon': expected a number with a unit/],
    [["--max-queue", "lots"], /^sockkit: invalid --max-queue 'lots': expected a size such as 65536, 64KiB/],
    [["--max-line", "0"], /^sockkit: invalid --max-line '0': must be at least 1 B/],
  ];
  for (const [args, expected] of cases) {
    const r = await runCli(["server", "0", ...args]);
    assert.equal(r.code, 2, args.join(" "));
    assert.match(r.stderr, expected);
  }
});
