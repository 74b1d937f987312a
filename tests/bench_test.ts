import assert from "node:assert/strict";
import { type BenchOptions, runBench } from "../lib/bench/run.ts";
import type { LoadMode } from "../lib/bench/load.ts";
import { LatencyHistogram } from "../lib/bench/histogram.ts";
import { PayloadStream } from "../lib/bench/payload.ts";
import { SockkitError } from "../lib/core/errors.ts";
import { closeQuietly, writeAll } from "../lib/core/io.ts";
import { runCli, startServer } from "./_helpers.ts";

/** A loopback server whose per-connection behaviour the test decides; stop() closes everything it opened. */
function rawServer(handle: (conn: Deno.Conn) => Promise<void>) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const tasks = new Set<Promise<void>>();
  const accepting = (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      const task = handle(conn).catch(() => {}).finally(() => {
        closeQuietly(conn);
        conns.delete(conn);
      });
      tasks.add(task);
    }
  })();
  return {
    port: listener.addr.port,
    async stop() {
      closeQuietly(listener);
      await accepting.catch(() => {});
      for (const conn of conns) closeQuietly(conn);
      await Promise.all(tasks);
    },
  };
}

/** Echoes like a plain echo server but changes byte number `at` of the stream. */
function corruptingEcho(at: number) {
  return async (conn: Deno.Conn) => {
    const buf = new Uint8Array(4096);
    let offset = 0;
    while (true) {
      const n = await conn.read(buf);
      if (n === null) return;
      if (offset <= at && at < offset + n) buf[at - offset] ^= 0x01;
      offset += n;
      await writeAll(conn, buf.subarray(0, n));
    }
  };
}

const tcp = (port: number): BenchOptions["endpoint"] => ({ transport: "tcp", hostname: "127.0.0.1", port });

Deno.test("bench: -n requests are all answered, counted once and spread over the connections", async () => {
  const server = await startServer();
  try {
    const r = await runBench({ endpoint: tcp(server.port), connections: 8, requests: 2000, size: 100 });
    assert.equal(r.errors, 0, JSON.stringify(r.errorKinds));
    assert.equal(r.messages, 2000);
    assert.equal(r.bytes, 2000 * 100);
    assert.equal(r.connected, 8);
    assert.equal(r.latency?.count, 2000);
    assert.ok(r.fairness && r.fairness.min > 0 && r.fairness.max <= 2000);
    const summary = await server.stop();
    assert.equal(summary.bytes, 2000 * 100, "the server received exactly what was sent");
  } catch (err) {
    await server.stop();
    throw err;
  }
});

Deno.test("bench: pipelined messages over two workers are all checked and counted", async () => {
  const server = await startServer();
  try {
    const r = await runBench({
      endpoint: tcp(server.port),
      connections: 4,
      workers: 2,
      requests: 4000,
      pipeline: 16,
      size: 33,
    });
    assert.equal(r.errors, 0, JSON.stringify(r.errorKinds));
    assert.equal(r.workers, 2);
    assert.equal(r.messages, 4000);
    assert.equal(r.bytes, 4000 * 33);
  } finally {
    await server.stop();
  }
});

Deno.test("bench: a server that changes one byte is caught as a reply error", async () => {
  const server = rawServer(corruptingEcho(1000));
  try {
    const r = await runBench({ endpoint: tcp(server.port), connections: 1, requests: 100, size: 64 });
    assert.deepEqual(r.errorKinds, { "reply differs from what was sent": 1 });
    assert.ok(r.messages < 1000 / 64 + 1, `only replies before the changed byte count, got ${r.messages}`);
  } finally {
    await server.stop();
  }
});

Deno.test("bench: a server that closes before echoing everything gives a short-reply error", async () => {
  const server = rawServer(async (conn) => {
    const buf = new Uint8Array(100);
    await conn.read(buf);
    await writeAll(conn, buf.subarray(0, 10));
  });
  try {
    const r = await runBench({ endpoint: tcp(server.port), connections: 2, requests: 10, size: 64 });
    assert.equal(r.messages, 0);
    assert.match(Object.keys(r.errorKinds).join(), /short reply/);
  } finally {
    await server.stop();
  }
});

Deno.test("bench: a server that never answers is reported after --timeout", async () => {
  const server = rawServer(async (conn) => {
    await conn.read(new Uint8Array(100));
    await conn.read(new Uint8Array(100));
  });
  try {
    const r = await runBench({ endpoint: tcp(server.port), connections: 1, requests: 5, timeoutMs: 300 });
    assert.deepEqual(r.errorKinds, { "no reply within 300 ms": 1 });
  } finally {
    await server.stop();
  }
});

Deno.test("bench: open loop counts a server stall in the latency of every message due during it", async () => {
  const STALL_MS = 400;
  const server = rawServer(async (conn) => {
    const buf = new Uint8Array(65536);
    let stalled = false;
    while (true) {
      const n = await conn.read(buf);
      if (n === null) return;
      if (!stalled) {
        stalled = true;
        await new Promise((resolve) => setTimeout(resolve, STALL_MS));
      }
      await writeAll(conn, buf.subarray(0, n));
    }
  });
  try {
    const r = await runBench({ endpoint: tcp(server.port), connections: 1, rate: 500, durationMs: 1000 });
    assert.equal(r.errors, 0, JSON.stringify(r.errorKinds));
    assert.equal(r.loop, "open");
    assert.ok(r.messages >= 400, `about 500 messages were due, ${r.messages} answered`);
    assert.ok(r.latency!.max >= STALL_MS * 0.9, `max ${r.latency!.max} ms`);
    // Messages due during the first 200 ms of the stall waited at least 200 ms: over a fifth of them all.
    assert.ok(r.latency!.p90 >= 100, `p90 ${r.latency!.p90} ms must show the stall, not hide it`);
  } finally {
    await server.stop();
  }
});

Deno.test("bench: --connect-only connects, echoes and closes once per request", async () => {
  const server = await startServer();
  try {
    const r = await runBench({ endpoint: tcp(server.port), mode: "connect", connections: 5, requests: 60 });
    assert.equal(r.errors, 0, JSON.stringify(r.errorKinds));
    assert.equal(r.messages, 60);
    assert.equal(r.connected, 60);
    assert.equal(r.connectTime.count, 60);
    assert.equal(r.fairness, undefined);
    const summary = await server.stop();
    assert.equal(summary.clients, 60);
  } catch (err) {
    await server.stop();
    throw err;
  }
});

Deno.test("bench: stream mode echoes a continuous stream and ends with a half-close", async () => {
  const server = await startServer();
  try {
    const r = await runBench({ endpoint: tcp(server.port), mode: "stream", connections: 2, durationMs: 300 });
    assert.equal(r.errors, 0, JSON.stringify(r.errorKinds));
    assert.equal(r.size, 262144, "256 KiB per write unless --size says otherwise");
    assert.ok(r.bytes > 1_000_000, `${r.bytes} bytes`);
    assert.equal(r.latency, undefined);
    assert.ok(r.mbPerSec > 0);
  } finally {
    await server.stop();
  }
});

/** Sends a banner on connect, then echoes: every reply is off by the banner's length. */
async function bannerEcho(conn: Deno.Conn): Promise<void> {
  await writeAll(conn, new TextEncoder().encode("BANNER-"));
  const buf = new Uint8Array(65536);
  while (true) {
    const n = await conn.read(buf);
    if (n === null) return;
    await writeAll(conn, buf.subarray(0, n));
  }
}

/** Echoes the first 10 bytes of the first read, then closes. */
async function closesEarly(conn: Deno.Conn): Promise<void> {
  const buf = new Uint8Array(100);
  await conn.read(buf);
  await writeAll(conn, buf.subarray(0, 10));
}

Deno.test("bench: stream and open-loop modes count a differing or short reply as an error, in one thread or two", async () => {
  const banner = rawServer(bannerEcho);
  const early = rawServer(closesEarly);
  const chat = await startServer({ mode: "chat" });
  try {
    const differs = /^reply differs from what was sent$/;
    const cases: [string, number, RegExp, LoadMode[]][] = [
      ["banner", banner.port, differs, ["stream", "pingpong"]],
      ["closes early", early.port, /short reply|reset|broken pipe/, ["stream", "pingpong"]],
      // In-process, a stream load can keep the event loop from the chat server's replies: the CLI test has it.
      ["chat", chat.port, differs, ["pingpong"]],
    ];
    for (const [name, port, kind, modes] of cases) {
      for (const mode of modes) {
        for (const workers of [1, 2]) {
          const what = `${name}, ${mode === "stream" ? "stream" : "--rate"}, ${workers} worker(s)`;
          const r = await runBench({
            endpoint: tcp(port),
            mode,
            size: mode === "stream" ? 1000 : 64,
            rate: mode === "stream" ? undefined : 200,
            connections: 2,
            workers,
            durationMs: 300,
          });
          assert.equal(r.errors, 2, `${what}: one error per connection, got ${JSON.stringify(r.errorKinds)}`);
          for (const k of Object.keys(r.errorKinds)) assert.match(k, kind, what);
          assert.equal(r.messages, 0, what);
        }
      }
    }
  } finally {
    await chat.stop();
    await early.stop();
    await banner.stop();
  }
});

Deno.test("bench CLI: stream, --rate and --workers 2 report a server that is no echo as errors, exit 1", async () => {
  const banner = rawServer(bannerEcho);
  const chat = await startServer({ mode: "chat" });
  try {
    const runs: [string[], number][] = [
      [["--mode", "stream"], chat.port],
      [["--mode", "stream", "--workers", "2"], chat.port],
      [["--rate", "100"], banner.port],
      [["--rate", "100", "--workers", "2"], chat.port],
    ];
    for (const [args, port] of runs) {
      const r = await runCli(["bench", "127.0.0.1", String(port), "-c", "2", "-d", "500ms", ...args]);
      assert.equal(r.code, 1, `${args.join(" ")}: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /Uncaught/, args.join(" "));
      assert.equal(
        r.stderr.trim(),
        `sockkit: nothing came back from 127.0.0.1:${port} as sent: 2 × reply differs from what was sent ` +
          "(sockkit bench loads echo servers: is this one?)",
        args.join(" "),
      );
    }
    // Replies that match for a while, then differ: the table, with the error counted.
    const late = rawServer(corruptingEcho(2_000_000));
    try {
      const r = await runCli([
        "bench",
        "127.0.0.1",
        String(late.port),
        "-c",
        "1",
        "-d",
        "1s",
        "--mode",
        "stream",
        "--size",
        "1000",
      ]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stdout, /errors +1: 1 × reply differs from what was sent/);
    } finally {
      await late.stop();
    }
  } finally {
    await chat.stop();
    await banner.stop();
  }
});

Deno.test("bench: a refused connection is a one-line error", async () => {
  const server = rawServer(() => Promise.resolve());
  const port = server.port;
  await server.stop();
  await assert.rejects(
    runBench({ endpoint: tcp(port), connections: 3, durationMs: 200 }),
    (err: Error) =>
      err instanceof SockkitError &&
      /cannot connect to 127\.0\.0\.1:\d+: connection refused/.test(err.message),
  );
});

Deno.test("bench: --connect-only against a dead server gives only the error, at once", async () => {
  const server = rawServer(() => Promise.resolve());
  const port = server.port;
  await server.stop();
  const events: string[] = [];
  const startedAt = performance.now();
  await assert.rejects(
    runBench({ endpoint: tcp(port), mode: "connect", connections: 4, workers: 2, durationMs: 5000 }, {
      onEvent: (e) => events.push(e.type),
    }),
    (err: Error) =>
      err instanceof SockkitError &&
      /cannot connect to 127\.0\.0\.1:\d+: connection refused/.test(err.message),
  );
  assert.deepEqual(events.filter((t) => t !== "progress"), [], "no start line before the error");
  assert.ok(performance.now() - startedAt < 4000, "does not churn against a dead server for the whole run");
});

Deno.test("bench: an abort ends a long run early with what was measured", async () => {
  const server = await startServer();
  try {
    const ac = new AbortController();
    const r = await runBench({ endpoint: tcp(server.port), connections: 3, durationMs: 60_000 }, {
      signal: ac.signal,
      onEvent: (e) => e.type === "progress" && e.messages > 0 && ac.abort(),
    });
    assert.ok(r.elapsedMs < 30_000);
    assert.ok(r.messages > 0);
    assert.equal(r.errors, 0, JSON.stringify(r.errorKinds));
  } finally {
    await server.stop();
  }
});

Deno.test("bench CLI: --json prints one result object with the documented fields", async () => {
  const server = await startServer();
  try {
    const out = await runCli(["bench", "127.0.0.1", String(server.port), "-c", "3", "-n", "300", "--json"]);
    assert.equal(out.code, 0, out.stderr);
    const lines = out.stdout.trim().split("\n");
    assert.equal(lines.length, 1);
    const r = JSON.parse(lines[0]);
    assert.equal(r.type, "result");
    assert.equal(r.messages, 300);
    assert.equal(r.errors, 0);
    for (const key of ["p50", "p90", "p99", "p999", "max"]) {
      assert.equal(typeof r.latency[key], "number", key);
    }
    for (const key of ["messagesPerSec", "mbPerSec", "elapsedMs"]) assert.equal(typeof r[key], "number", key);
    assert.deepEqual(Object.keys(r.fairness), ["min", "median", "max"]);
    assert.equal(r.connectTime.count, 3);
  } finally {
    await server.stop();
  }
});

Deno.test("bench CLI: the table and --histogram chart; errors exit 1; bad options exit 2", async () => {
  const server = await startServer();
  const bad = rawServer(corruptingEcho(1000));
  const notEcho = rawServer(async (conn) => {
    await conn.read(new Uint8Array(100));
    await writeAll(
      conn,
      new TextEncoder().encode("nope, not an echo server, not at all: go away please\n!!!!!!!!!!!"),
    );
    await conn.read(new Uint8Array(100));
  });
  try {
    const ok = await runCli([
      "bench",
      "127.0.0.1",
      String(server.port),
      "-c",
      "2",
      "-n",
      "100",
      "--histogram",
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^Benchmarking 127\.0\.0\.1:\d+: ping-pong, closed loop, 2 connections/);
    assert.match(ok.stdout, /throughput +[\d,]+ messages\/s/);
    assert.match(ok.stdout, /p99\.9 +[\d.]+ ms █+/);
    const failed = await runCli(["bench", "127.0.0.1", String(bad.port), "-c", "1", "-n", "100"]);
    assert.equal(failed.code, 1);
    assert.match(failed.stdout, /total +\d+ messages/);
    assert.match(failed.stdout, /errors +1: 1 × reply differs from what was sent/);
    // A server that echoes nothing back as sent gets the errors, not a table of zeros.
    const nothing = await runCli(["bench", "127.0.0.1", String(notEcho.port), "-c", "3", "-d", "2s"]);
    assert.equal(nothing.code, 1);
    assert.doesNotMatch(nothing.stdout, /total|throughput/);
    assert.equal(
      nothing.stderr.trim(),
      `sockkit: nothing came back from 127.0.0.1:${notEcho.port} as sent: 3 × reply differs from what was sent ` +
        "(sockkit bench loads echo servers: is this one?)",
    );
    const usage = await runCli([
      "bench",
      "127.0.0.1",
      String(server.port),
      "--rate",
      "10",
      "--pipeline",
      "2",
    ]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--rate and --pipeline exclude each other/);
    const zero = await runCli(["bench", "127.0.0.1", String(server.port), "-c", "0"]);
    assert.equal(zero.code, 2);
    assert.match(zero.stderr, /invalid --connections '0'/);
  } finally {
    await notEcho.stop();
    await bad.stop();
    await server.stop();
  }
});

Deno.test("payload: every byte value occurs, and a changed, missing or foreign byte is detected", () => {
  const a = new PayloadStream(0, 1024);
  const b = new PayloadStream(37, 1024);
  const chunk = a.slice(100, 600).slice();
  assert.equal(new Set(a.slice(0, 1024)).size, 256);
  assert.ok(a.matches(100, chunk));
  assert.ok(!a.matches(101, chunk), "shifted by a byte");
  assert.ok(!b.matches(100, chunk), "another connection's bytes");
  chunk[599] ^= 0x80;
  assert.ok(!a.matches(100, chunk));
});

Deno.test("histogram: percentiles within 0.1% and merging adds counts", () => {
  const a = new LatencyHistogram();
  const b = new LatencyHistogram();
  for (let i = 1; i <= 1000; i++) a.record(i / 100);
  for (let i = 0; i < 10; i++) b.record(5000);
  a.merge(LatencyHistogram.decode(b.encode()));
  const s = a.summary();
  assert.equal(s.count, 1010);
  assert.ok(Math.abs(s.p50 - 5.05) / 5.05 < 0.002, `p50 ${s.p50}`);
  assert.ok(Math.abs(s.max - 5000) / 5000 < 0.001, `max ${s.max}`);
  assert.ok(s.p999 > 4990, `p99.9 ${s.p999} falls among the 10 slow values`);
});

const FIXTURES = new URL("./fixtures/", import.meta.url).pathname;

Deno.test("bench: loads a TLS echo server, checking every reply", async () => {
  const server = await startServer({
    endpoint: {
      transport: "tls",
      hostname: "127.0.0.1",
      port: 0,
      tls: { certFile: `${FIXTURES}server.pem`, keyFile: `${FIXTURES}server-key.pem` },
    },
  });
  try {
    const r = await runBench({
      endpoint: {
        transport: "tls",
        hostname: "127.0.0.1",
        port: server.port,
        tls: { caFile: `${FIXTURES}ca.pem` },
      },
      connections: 4,
      requests: 400,
    });
    assert.equal(r.errors, 0, JSON.stringify(r.errorKinds));
    assert.equal(r.messages, 400);
    assert.equal(r.address, `127.0.0.1:${server.port}`);
  } finally {
    await server.stop();
  }
});

Deno.test({
  name: "bench: loads a Unix-socket echo server, closed loop and stream",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    const dir = await Deno.makeTempDir();
    const path = `${dir}/echo.sock`;
    const server = await startServer({ endpoint: { transport: "unix", path } });
    try {
      const pingpong = await runBench({
        endpoint: { transport: "unix", path },
        connections: 3,
        requests: 300,
      });
      assert.equal(pingpong.errors, 0, JSON.stringify(pingpong.errorKinds));
      assert.equal(pingpong.messages, 300);
      const stream = await runBench({
        endpoint: { transport: "unix", path },
        mode: "stream",
        connections: 1,
        durationMs: 200,
      });
      assert.equal(stream.errors, 0, JSON.stringify(stream.errorKinds));
      assert.ok(stream.bytes > 0);
    } finally {
      await server.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
