import assert from "node:assert/strict";
import { type BenchEvent, runBench } from "../lib/bench/run.ts";
import { formatProgress } from "../lib/bench/report.ts";
import { SockkitError } from "../lib/core/errors.ts";
import type { UdpEndpoint } from "../lib/transports/dispatch.ts";
import { runCli, startServer, type TestServer } from "./_helpers.ts";

const udp = (port: number): UdpEndpoint => ({ transport: "udp", hostname: "127.0.0.1", port });

/** sockkit's own UDP echo server in this process, with the per-source reply limit off. */
function udpEchoServer(): Promise<TestServer> {
  return startServer({ endpoint: udp(0), udp: { ratePerSecond: 0 } });
}

/**
 * A hand-made UDP peer on 127.0.0.1: `answer(n, data)` decides the replies to its n-th datagram (from 1), if
 * any; each reply is first also sent from `forger`, when given. Disposing of it closes the socket and waits
 * for its loop.
 */
function udpPeer(
  answer: (n: number, data: Uint8Array) => Uint8Array | Uint8Array[] | undefined,
  forger?: Deno.DatagramConn,
) {
  const conn = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
  let received = 0;
  const serving = (async () => {
    const buf = new Uint8Array(65_536);
    while (true) {
      let data: Uint8Array, from: Deno.Addr;
      try {
        [data, from] = await conn.receive(buf);
      } catch {
        return;
      }
      const answered = answer(++received, data) ?? [];
      for (const reply of Array.isArray(answered) ? answered : [answered]) {
        if (forger) await forger.send(reply, from).catch(() => {});
        await conn.send(reply, from).catch(() => {});
      }
    }
  })();
  return {
    port: (conn.addr as Deno.NetAddr).port,
    get received() {
      return received;
    },
    [Symbol.asyncDispose]: async () => {
      conn.close();
      await serving;
    },
  };
}

Deno.test("bench udp: closed loop with -n gets every datagram back, checked, counted per socket", async () => {
  const server = await udpEchoServer();
  try {
    const r = await runBench({ endpoint: udp(server.port), connections: 5, requests: 1000, size: 100 });
    assert.equal(r.errors, 0, JSON.stringify(r.errorKinds));
    assert.equal(r.transport, "udp");
    assert.deepEqual([r.sent, r.received, r.lost, r.lossPercent], [1000, 1000, 0, 0]);
    assert.equal(r.messages, 1000);
    assert.equal(r.bytes, 1000 * 100);
    assert.equal(r.connected, 5);
    assert.equal(r.latency?.count, 1000);
    assert.ok(r.fairness && r.fairness.min > 0, JSON.stringify(r.fairness));
    const summary = await server.stop();
    assert.equal(summary.clients, 5, "one source address per socket");
    assert.equal(summary.messages, 1000);
  } catch (err) {
    await server.stop();
    throw err;
  }
});

Deno.test("bench udp: --pipeline keeps several datagrams outstanding per socket and loses none", async () => {
  const server = await udpEchoServer();
  try {
    const r = await runBench({ endpoint: udp(server.port), connections: 2, requests: 2000, pipeline: 16 });
    assert.equal(r.errors, 0, JSON.stringify(r.errorKinds));
    assert.deepEqual([r.sent, r.received, r.lost], [2000, 2000, 0]);
    assert.equal(r.pipeline, 16);
  } finally {
    await server.stop();
  }
});

Deno.test("bench udp: open loop sends on schedule and counts latency from the due time", async () => {
  const server = await udpEchoServer();
  try {
    const r = await runBench({ endpoint: udp(server.port), connections: 4, rate: 1000, requests: 300 });
    assert.equal(r.errors, 0, JSON.stringify(r.errorKinds));
    assert.equal(r.loop, "open");
    assert.deepEqual([r.sent, r.received, r.lost], [300, 300, 0]);
    assert.ok(r.elapsedMs >= 200, `300 datagrams at 1000/s take about 300 ms, took ${r.elapsedMs} ms`);
  } finally {
    await server.stop();
  }
});

Deno.test("bench udp: two workers each drive their sockets; the counts add up", async () => {
  const server = await udpEchoServer();
  try {
    const r = await runBench({ endpoint: udp(server.port), connections: 4, workers: 2, requests: 1000 });
    assert.equal(r.errors, 0, JSON.stringify(r.errorKinds));
    assert.equal(r.workers, 2);
    assert.deepEqual([r.sent, r.received, r.lost], [1000, 1000, 0]);
    assert.equal(r.fairness && r.fairness.min > 0, true);
  } finally {
    await server.stop();
  }
});

Deno.test("bench udp: a peer that drops every other datagram shows about half lost, and no error", async () => {
  await using peer = udpPeer((n, data) => (n % 2 === 0 ? data.slice() : undefined));
  const events: BenchEvent[] = [];
  const r = await runBench(
    { endpoint: udp(peer.port), connections: 4, requests: 400, pipeline: 4, timeoutMs: 200 },
    { onEvent: (e) => events.push(e) },
  );
  assert.equal(r.errors, 0, JSON.stringify(r.errorKinds));
  assert.equal(r.sent, 400);
  assert.equal(r.received! + r.lost!, 400, "every datagram is either answered or lost");
  assert.ok(Math.abs(r.lossPercent! - 50) <= 5, `loss ${r.lossPercent}%`);
  assert.equal(r.messages, r.received);
  assert.equal(events.at(-1)?.type, "result");
});

Deno.test("bench udp: a peer that changes a byte gives 'reply differs' errors, not losses", async () => {
  await using peer = udpPeer((_, data) => {
    const reply = data.slice();
    reply[reply.length - 1] ^= 0x01;
    return reply;
  });
  const r = await runBench({ endpoint: udp(peer.port), connections: 2, requests: 50, timeoutMs: 1000 });
  assert.deepEqual(r.errorKinds, { "reply differs from what was sent": 50 });
  assert.deepEqual([r.messages, r.lost], [0, 0]);
});

Deno.test("bench udp: a reply after --timeout counts as late, a second reply to one datagram as an error", async () => {
  let held = new Uint8Array();
  // The first datagram is answered only when the second arrives, after it was counted lost.
  await using slow = udpPeer((n, data) => {
    if (n > 1) return [held, data.slice()];
    held = data.slice();
  });
  const r = await runBench({ endpoint: udp(slow.port), connections: 1, requests: 2, timeoutMs: 100 });
  assert.equal(r.errors, 0, JSON.stringify(r.errorKinds));
  assert.deepEqual([r.sent, r.received, r.lost, r.late], [2, 1, 1, 1]);
  await using twice = udpPeer((_, data) => [data.slice(), data.slice()]);
  const doubled = await runBench({ endpoint: udp(twice.port), connections: 1, requests: 2 });
  assert.equal(doubled.received, 2);
  assert.ok(
    doubled.errorKinds["reply to no datagram outstanding (a duplicate, or later than --timeout)"] >= 1,
  );
});

Deno.test("bench udp: copies of the replies from another address are ignored and counted", async () => {
  const forger = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
  try {
    await using peer = udpPeer((_, data) => data.slice(), forger);
    const r = await runBench({ endpoint: udp(peer.port), connections: 1, requests: 200 });
    assert.equal(r.errors, 0, JSON.stringify(r.errorKinds));
    assert.deepEqual([r.received, r.lost], [200, 0]);
    assert.ok(r.strays! >= 199 && r.strays! <= 200, `strays ${r.strays}`);
  } finally {
    forger.close();
  }
});

Deno.test("bench udp: a peer that never answers is a one-line no-reply error", async () => {
  await using peer = udpPeer(() => undefined);
  await assert.rejects(
    runBench({ endpoint: udp(peer.port), connections: 2, requests: 6, timeoutMs: 150 }),
    (err: Error) =>
      err instanceof SockkitError && err.exitCode === 1 &&
      err.message === `no reply from 127.0.0.1:${peer.port} within 150 ms (over UDP this means the ` +
          "datagrams or their replies were lost, or nothing listens there)",
  );
  assert.equal(peer.received, 6);
});

Deno.test("bench udp: a --duration run stops on time and settles what was outstanding", async () => {
  const server = await udpEchoServer();
  try {
    const events: BenchEvent[] = [];
    const r = await runBench({ endpoint: udp(server.port), connections: 3, durationMs: 700, pipeline: 2 }, {
      onEvent: (e) => events.push(e),
    });
    assert.equal(r.errors, 0, JSON.stringify(r.errorKinds));
    assert.ok(r.messages > 0);
    assert.equal(r.sent, r.received! + r.lost!);
    const progress = events.filter((e) => e.type === "progress");
    const last = progress.at(-1);
    assert.ok(last?.type === "progress" && last.lost === 0, JSON.stringify(last));
    assert.match(
      formatProgress(last),
      /^\d+\.\d s {2}[\d,]+ messages {2}[\d,]+ msg\/s {2}0 errors {2}0 lost$/,
    );
  } finally {
    await server.stop();
  }
});

Deno.test("bench udp CLI: --json has the loss fields and exits 0; a silent peer exits 1 with one line", async () => {
  const server = await udpEchoServer();
  try {
    const out = await runCli(["bench", "127.0.0.1", String(server.port), "--udp", "-n", "200", "--json"]);
    assert.equal(out.code, 0, out.stderr);
    const lines = out.stdout.trim().split("\n");
    assert.equal(lines.length, 1);
    const r = JSON.parse(lines[0]);
    assert.equal(r.type, "result");
    assert.equal(r.transport, "udp");
    assert.deepEqual([r.sent, r.received, r.lost, r.lossPercent, r.errors], [200, 200, 0, 0, 0]);
    for (const key of ["late", "strays", "messagesPerSec", "mbPerSec"]) assert.equal(typeof r[key], "number");
    const table = await runCli(["bench", "127.0.0.1", String(server.port), "--udp", "-c", "2", "-n", "100"]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(
      table.stdout,
      /^Benchmarking 127\.0\.0\.1:\d+: ping-pong over UDP, closed loop, 2 sockets, 64 bytes per datagram/,
    );
    assert.match(table.stdout, /datagrams +sent 100 {2}received 100 {2}lost 0 \(0\.0%\)/);
  } finally {
    await server.stop();
  }
  await using silent = udpPeer(() => undefined);
  const none = await runCli(["bench", "127.0.0.1", String(silent.port), "--udp", "-n", "3", "-t", "200ms"]);
  assert.equal(none.code, 1);
  assert.match(
    none.stderr,
    /^sockkit: no reply from 127\.0\.0\.1:\d+ within 200 ms \(over UDP this means [^\n]*\)\n$/,
  );
});

Deno.test("bench udp CLI: heavy loss prints the --udp-rate hint", async () => {
  await using peer = udpPeer((n, data) => (n % 4 === 0 ? data.slice() : undefined));
  const out = await runCli([
    "bench",
    "127.0.0.1",
    String(peer.port),
    "--udp",
    "-c",
    "2",
    "-n",
    "40",
    "-t",
    "100ms",
  ]);
  assert.equal(out.code, 0, out.stderr);
  assert.match(out.stdout, /lost \d+ \(7\d\.\d%\)/);
  assert.match(out.stdout, /hint +a sockkit server answers each source IP at most --udp-rate .*--udp-rate 0/);
});

Deno.test("bench udp CLI: options that do not fit UDP are one-line usage errors", async () => {
  const cases: [string[], RegExp][] = [
    [["--mode", "stream"], /--mode stream needs a byte stream: it does not work with --udp/],
    [["--connect-only"], /--connect-only churns connections: UDP has none/],
    [["--tls"], /--tls and --udp do not go together/],
    [["--unix", "/tmp/x.sock"], /--unix and --udp do not go together/],
    [["--size", "65508"], /invalid --size '65508' with --udp: one datagram carries at most 65507 bytes/],
    [
      ["--size", "4"],
      /invalid --size '4' with --udp: each datagram starts with an 8-byte header .*use --size 8 or more/,
    ],
  ];
  for (const [args, message] of cases) {
    const out = await runCli(["bench", "127.0.0.1", "9", "--udp", ...args]);
    assert.equal(out.code, 2, `${args.join(" ")}: ${out.stderr}`);
    assert.match(out.stderr, message, args.join(" "));
    assert.equal(out.stderr.trim().split("\n").length, 1, out.stderr);
  }
});
