import assert from "node:assert/strict";
import { runClient } from "../client.ts";
import { SockkitError, UsageError } from "../lib/core/errors.ts";
import type { ClientEvent, ServerSummary } from "../lib/report/events.ts";
import { TokenBuckets } from "../lib/core/ratelimit.ts";
import { UDP_PEER_LINES_PER_SECOND } from "../lib/transports/udp/client.ts";
import { runServer } from "../server.ts";
import type { UdpEndpoint } from "../lib/transports/dispatch.ts";
import { runCli, spawnCli, startServer } from "./_helpers.ts";
import { IS_LINUX } from "./_proc.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function udpAt(port: number, hostname = "127.0.0.1"): UdpEndpoint {
  return { transport: "udp", hostname, port };
}

/** A UDP socket on a free port, closed by `using`. */
function socket(hostname = "127.0.0.1"): Deno.DatagramConn & Disposable {
  const conn = Deno.listenDatagram({ hostname, port: 0, transport: "udp" });
  return Object.assign(conn, { [Symbol.dispose]: () => conn.close() });
}

function portOf(conn: { addr: Deno.Addr }): number {
  return (conn.addr as Deno.NetAddr).port;
}

/** A UDP peer that answers only some datagrams (`reply(n)` for the n-th, from 1), until closed. */
function lossyServer(reply: (n: number, data: Uint8Array) => Uint8Array | undefined) {
  const conn = socket();
  const serving = (async () => {
    const buf = new Uint8Array(65536);
    for (let n = 1;; n++) {
      let data: Uint8Array, from: Deno.Addr;
      try {
        [data, from] = await conn.receive(buf);
      } catch {
        return;
      }
      const answer = reply(n, data);
      if (answer) await conn.send(answer, from);
    }
  })();
  return {
    port: portOf(conn),
    [Symbol.asyncDispose]: async () => {
      conn.close();
      await serving;
    },
  };
}

Deno.test("udp: echo; a peer is connected on its first datagram and gone after the idle timeout", async () => {
  const server = await startServer({ endpoint: udpAt(0), idleTimeoutMs: 150 });
  try {
    const events: ClientEvent[] = [];
    const summary = await runClient({ endpoint: udpAt(server.port), message: encoder.encode("Hello UDP") }, {
      onEvent: (e) => events.push(e),
    });
    assert.deepEqual([summary.sent, summary.received, summary.lost], [1, 1, 0]);
    const reply = events.find((e) => e.type === "reply");
    assert.ok(reply?.type === "reply" && reply.text === "Hello UDP");
    const sending = events.find((e) => e.type === "sending");
    assert.ok(sending?.type === "sending" && sending.transport === "UDP");
    const gone = await server.waitFor((e) => e.type === "disconnect");
    assert.ok(gone.type === "disconnect");
    assert.equal(gone.reason, "gone after 150 ms of silence");
    assert.deepEqual([gone.messages, gone.bytes], [1, 9]);
    assert.match(gone.peer, /^127\.0\.0\.1:\d+$/);
  } finally {
    await server.stop();
  }
});

Deno.test("udp: per-peer counters, one peer per source address", async () => {
  const server = await startServer({ endpoint: udpAt(0) });
  using a = socket();
  using b = socket();
  try {
    const to: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port: server.port };
    for (const [sock, text] of [[a, "one"], [a, "two"], [b, "three"]] as const) {
      await sock.send(encoder.encode(text), to);
      const [reply] = await sock.receive();
      assert.equal(decoder.decode(reply), text);
    }
  } finally {
    const summary = await server.stop();
    assert.deepEqual([summary.clients, summary.messages, summary.bytes], [2, 3, 11]);
    const left = server.events.filter((e) => e.type === "disconnect");
    assert.deepEqual(
      left.map((e) => e.type === "disconnect" && [e.peer, e.messages, e.reason]),
      [[`127.0.0.1:${portOf(a)}`, 2, "server shutting down"], [
        `127.0.0.1:${portOf(b)}`,
        1,
        "server shutting down",
      ]],
    );
  }
});

Deno.test("udp: --repeat counts the datagrams a lossy server drops", async () => {
  await using lossy = lossyServer((n, data) => (n % 2 === 1 ? data : undefined));
  const events: ClientEvent[] = [];
  const summary = await runClient({
    endpoint: udpAt(lossy.port),
    message: encoder.encode("ping"),
    mode: "repeat",
    count: 6,
    intervalMs: 0,
    timeoutMs: 150,
  }, { onEvent: (e) => events.push(e) });
  assert.deepEqual([summary.sent, summary.received, summary.lost], [6, 3, 3]);
  assert.equal(summary.error, undefined, "loss is not an error");
  assert.deepEqual(events.filter((e) => e.type === "lost").map((e) => e.type === "lost" && e.seq), [2, 4, 6]);
  assert.deepEqual(events.filter((e) => e.type === "reply").map((e) => e.type === "reply" && e.seq), [
    1,
    3,
    5,
  ]);
});

/** What the client showed for each datagram, in order: `seq: text [flags]`, or `seq: lost`. */
function shown(events: ClientEvent[]): string[] {
  return events.flatMap((e) => {
    if (e.type === "lost") return [`${e.seq}: lost`];
    if (e.type !== "reply") return [];
    const flags = [e.differs && "differs", e.late && "late", e.duplicate && "duplicate"].filter(Boolean);
    return [`${e.seq}: ${e.text}${flags.length ? ` [${flags.join(", ")}]` : ""}`];
  });
}

Deno.test("udp: --repeat matches replies by content: a reply that is no echo answers no datagram", async () => {
  // Datagram 2 gets no echo; datagram 4 gets, instead of its echo, a reply that names datagram 2.
  const oddServer = () =>
    lossyServer((n, data) => n === 2 ? undefined : n === 4 ? encoder.encode("LATE-REPLY-TO-2") : data);
  await using odd = oddServer();
  const events: ClientEvent[] = [];
  const summary = await runClient({
    endpoint: udpAt(odd.port),
    message: encoder.encode("ping"),
    mode: "repeat",
    count: 6,
    intervalMs: 0,
    timeoutMs: 200,
  }, { onEvent: (e) => events.push(e) });
  assert.deepEqual(shown(events), [
    "1: ping",
    "2: lost",
    "3: ping",
    "4: LATE-REPLY-TO-2 [differs]",
    "4: lost",
    "5: ping",
    "6: ping",
  ]);
  assert.deepEqual([summary.sent, summary.received, summary.lost, summary.mismatched], [6, 4, 2, 1]);
  assert.equal(summary.bytesReceived, 4 * 4, "only the echoes count");
  await using fresh = oddServer(); // its datagrams are counted from 1 again
  const cli = await runCli([
    "client",
    "127.0.0.1",
    String(fresh.port),
    "ping",
    "--udp",
    "-c",
    "6",
    "-i",
    "0",
    "-t",
    "200ms",
  ]);
  assert.equal(cli.code, 0, "replies came back: UDP loss is no failure");
  assert.match(
    cli.stdout,
    /\n4: Received: LATE-REPLY-TO-2 \([\d.]+ ms\) \[not an echo: differs from what was sent\]\n/,
  );
  assert.match(cli.stdout, /\n6 sent, 4 received, 33% lost, time /);
  assert.equal(cli.stderr, "2: no reply: timed out after 200 ms\n4: no reply: timed out after 200 ms\n");
});

Deno.test("udp: an echo that comes after its datagram was counted lost is shown late, not counted", async () => {
  const held: [Uint8Array, Deno.Addr][] = [];
  const conn = socket();
  const serving = (async () => {
    const buf = new Uint8Array(1024);
    for (let n = 1;; n++) {
      let data: Uint8Array, from: Deno.Addr;
      try {
        [data, from] = await conn.receive(buf);
      } catch {
        return;
      }
      // Datagram 2's echo leaves 350 ms late: after the client's 150 ms timeout, before datagram 3 at 600 ms.
      if (n === 2) {
        held.push([data.slice(), from]);
        setTimeout(() => conn.send(held[0][0], held[0][1]).catch(() => {}), 350);
      } else await conn.send(data, from);
    }
  })();
  try {
    const events: ClientEvent[] = [];
    const summary = await runClient({
      endpoint: udpAt(portOf(conn)),
      message: encoder.encode("ping"),
      mode: "repeat",
      count: 3,
      intervalMs: 600,
      timeoutMs: 150,
    }, { onEvent: (e) => events.push(e) });
    assert.deepEqual(shown(events), ["1: ping", "2: lost", "2: ping [late]", "3: ping"]);
    assert.deepEqual([summary.sent, summary.received, summary.lost], [3, 2, 1]);
    const late = events.find((e) => e.type === "reply" && e.late);
    assert.ok(late?.type === "reply" && late.rttMs >= 300, "its round trip counts from datagram 2's send");
  } finally {
    conn.close();
    await serving;
  }
});

Deno.test("udp cli: partial loss exits 0, no reply at all exits 1", async () => {
  await using lossy = lossyServer((n, data) => (n % 2 === 1 ? data : undefined));
  const some = await runCli([
    "client",
    "127.0.0.1",
    String(lossy.port),
    "x",
    "--udp",
    "-c",
    "4",
    "-i",
    "0",
    "-t",
    "150ms",
  ]);
  assert.equal(some.code, 0, some.stderr);
  assert.match(some.stdout, /\n4 sent, 2 received, 50% lost, time /);
  assert.match(some.stderr, /^2: no reply: timed out after 150 ms\n4: no reply: timed out after 150 ms\n$/);

  using silent = socket();
  const port = String(portOf(silent));
  const none = await runCli(["client", "127.0.0.1", port, "x", "--udp", "-c", "2", "-i", "0", "-t", "100ms"]);
  assert.equal(none.code, 1);
  assert.match(none.stdout, /\n2 sent, 0 received, 100% lost, time /);
  const once = await runCli(["client", "127.0.0.1", port, "x", "--udp", "-t", "100ms"]);
  assert.equal(once.code, 1);
  assert.match(
    once.stderr,
    /^sockkit: no reply from 127\.0\.0\.1:\d+ within 100 ms \(over UDP this means the datagram or its reply was lost, or nothing listens there\)\n$/,
  );
});

Deno.test("udp: a message over the datagram limit is a usage error before anything is sent", async () => {
  await assert.rejects(
    () => runClient({ endpoint: udpAt(9), message: new Uint8Array(65_508) }),
    (err) =>
      err instanceof UsageError &&
      err.message ===
        "the message is 65508 bytes, more than one UDP datagram may carry (65507): send less, or use TCP",
  );
  const out = await runCli(["client", "127.0.0.1", "9", "x".repeat(11), "--udp", "--max-datagram", "10"]);
  assert.equal(out.code, 2);
  assert.match(out.stderr, /^sockkit: the message is 11 bytes, more than one UDP datagram may carry \(10\)/);
});

Deno.test("udp: a datagram over --max-datagram is reported truncated and not echoed", async () => {
  const server = await startServer({ endpoint: udpAt(0), udp: { maxDatagram: 100 } });
  using peer = socket();
  try {
    const to: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port: server.port };
    await peer.send(new Uint8Array(101), to);
    await peer.send(encoder.encode("small"), to);
    const [first] = await peer.receive();
    assert.equal(decoder.decode(first), "small", "the big datagram got no echo");
    const warning = await server.waitFor((e) => e.type === "warning");
    assert.ok(warning.type === "warning");
    assert.match(
      warning.message,
      /^dropped a datagram from 127\.0\.0\.1:\d+ larger than 100 bytes \(truncated on receive/,
    );
  } finally {
    await server.stop();
  }
});

Deno.test("udp: a reply larger than the client's --max-datagram is shown as truncated, and is no echo", async () => {
  await using big = lossyServer(() => encoder.encode("0123456789abcdefghij"));
  const events: ClientEvent[] = [];
  await assert.rejects(
    runClient({
      endpoint: udpAt(big.port),
      message: encoder.encode("hi"),
      timeoutMs: 300,
      udp: { maxDatagram: 10 },
    }, { onEvent: (e) => events.push(e) }),
    (err: Error) =>
      err instanceof SockkitError &&
      /^no echo from 127\.0\.0\.1:\d+ within 300 ms: what came back differs from what was sent \(is it an echo server\?\)$/
        .test(err.message),
  );
  const reply = events.find((e) => e.type === "reply");
  assert.ok(reply?.type === "reply");
  assert.deepEqual([reply.text, reply.bytes, reply.truncated, reply.differs], ["0123456789", 10, true, true]);
});

Deno.test("udp: --udp-rate limits replies per source IP and logs the drops", async () => {
  const server = await startServer({ endpoint: udpAt(0), udp: { ratePerSecond: 5 } });
  using flood = socket();
  let summary: ServerSummary | undefined;
  try {
    const to: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port: server.port };
    for (let i = 0; i < 20; i++) await flood.send(encoder.encode(`n${i}`), to);
    await server.waitFor((e) => e.type === "message" && e.count === 20);
    summary = await server.stop();
  } finally {
    summary ??= await server.stop();
  }
  assert.equal(summary.messages, 20);
  assert.ok(summary.dropped! >= 14 && summary.dropped! <= 15, `dropped ${summary.dropped}`);
  const replies = [];
  for (let i = 0; i < 20 - summary.dropped!; i++) replies.push(decoder.decode((await flood.receive())[0]));
  assert.deepEqual(replies.slice(0, 5), ["n0", "n1", "n2", "n3", "n4"], "the first burst is answered");
  const warnings = server.events.filter((e) => e.type === "warning").map((e) =>
    e.type === "warning" && e.message
  );
  assert.ok(
    warnings.length >= 1 && warnings.length <= 2,
    "logged once a second at most, plus a final report",
  );
  assert.match(
    warnings[0] as string,
    /^rate limit: dropped 1 reply \(1 to 127\.0\.0\.1\): over --udp-rate 5\/s per source IP$/,
  );
});

/** Every datagram that reaches `sock` until `quietMs` pass without one. */
async function drain(sock: Deno.DatagramConn, quietMs = 200): Promise<number> {
  let got = 0;
  for (;;) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const quiet = new Promise<undefined>((resolve) => timer = setTimeout(() => resolve(undefined), quietMs));
    const next = sock.receive();
    next.catch(() => {});
    const reply = await Promise.race([next, quiet]);
    clearTimeout(timer);
    if (!reply) return got;
    got++;
  }
}

/** Sends `perSocket` datagrams from each socket, a round at a time; resolves once the server has them all. */
async function sendRounds(
  server: Awaited<ReturnType<typeof startServer>>,
  sockets: Deno.DatagramConn[],
  perSocket: number,
): Promise<void> {
  const to: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port: server.port };
  for (let round = 0; round < perSocket; round++) {
    await Promise.all(sockets.map((s) => s.send(encoder.encode(`r${round}`), to)));
  }
  let messages = 0;
  await server.waitFor((e) => e.type === "message" && ++messages === sockets.length * perSocket);
}

Deno.test("udp: --udp-rate is per source IP: sockets on many ports share one budget", async () => {
  const rate = 5;
  const server = await startServer({ endpoint: udpAt(0), udp: { ratePerSecond: rate } });
  const sockets = Array.from({ length: 10 }, () => socket());
  let summary: ServerSummary | undefined;
  try {
    const startedAt = performance.now();
    await sendRounds(server, sockets, rate); // each port alone stays within its burst
    const elapsedS = (performance.now() - startedAt) / 1000;
    summary = await server.stop();
    const replies = (await Promise.all(sockets.map((s) => drain(s)))).reduce((a, b) => a + b, 0);
    const budget = rate + Math.ceil(rate * elapsedS);
    assert.ok(
      replies >= rate && replies <= budget,
      `${replies} replies to 10 ports of 127.0.0.1: the one IP's budget is ${budget}, not 10 × ${rate}`,
    );
    assert.equal(summary.dropped, 50 - replies, "every datagram not answered is counted dropped");
    const warnings = server.events.flatMap((e) => e.type === "warning" ? [e.message] : []);
    assert.match(warnings[0], /^rate limit: dropped \d+ repl(y|ies) \(\d+ to 127\.0\.0\.1\)/);
  } finally {
    summary ??= await server.stop();
    for (const s of sockets) s.close();
  }
});

Deno.test({
  name: "udp: --udp-rate: each source IP has a budget of its own (127.0.0.2 and 127.0.0.3)",
  ignore: !IS_LINUX, // any 127.x.y.z is loopback on Linux; elsewhere only 127.0.0.1 is
  async fn() {
    const rate = 5;
    const server = await startServer({ endpoint: udpAt(0), udp: { ratePerSecond: rate } });
    const [a, b] = [socket("127.0.0.2"), socket("127.0.0.3")];
    try {
      const startedAt = performance.now();
      await sendRounds(server, [a, b], rate);
      const elapsedS = (performance.now() - startedAt) / 1000;
      await server.stop();
      const budget = rate + Math.ceil(rate * elapsedS);
      for (const [sock, got] of [[a, await drain(a)], [b, await drain(b)]] as const) {
        assert.ok(got >= rate && got <= budget, `${got} replies to ${(sock.addr as Deno.NetAddr).hostname}`);
      }
    } finally {
      await server.stop();
      a.close();
      b.close();
    }
  },
});

Deno.test("udp: the per-source budgets stay bounded in memory: idle ones are forgotten, the table is capped", () => {
  const buckets = new TokenBuckets(10, 100);
  for (let i = 0; i < 10_000; i++) buckets.take(`10.0.${i >> 8}.${i & 255}`, 0);
  assert.equal(buckets.size, 100, "capped: the sources used longest ago are forgotten");
  assert.equal(buckets.take("10.0.39.15", 0), true, "the newest source still has its budget");
  for (let i = 0; i < 9; i++) buckets.take("10.0.39.15", 0);
  assert.equal(buckets.take("10.0.39.15", 0), false, "and it runs out");
  buckets.sweep(50);
  assert.equal(buckets.size, 100, "50 ms later nobody is full again yet");
  buckets.sweep(150);
  assert.equal(buckets.size, 1, "100 ms refilled the token each of the others spent: they are forgotten");
  buckets.sweep(1000);
  assert.equal(buckets.size, 0, "a second later every bucket is full again and forgotten");
});

Deno.test("udp: a flood of new source ports writes a bounded number of log lines, with exact counts", async () => {
  const server = spawnCli(["server", "0", "--host", "127.0.0.1", "--udp", "--idle-timeout", "300ms"]);
  const sockets: Deno.DatagramConn[] = [];
  try {
    const listening = await server.line(/^Listening/);
    const to: Deno.NetAddr = {
      transport: "udp",
      hostname: "127.0.0.1",
      port: Number(listening.match(/:(\d+) /)![1]),
    };
    for (let i = 0; i < 500; i++) sockets.push(socket());
    const startedAt = performance.now();
    for (let i = 0; i < sockets.length; i += 50) {
      await Promise.all(sockets.slice(i, i + 50).map((s) => s.send(encoder.encode("x"), to)));
      await new Promise((r) => setTimeout(r, 10)); // paced, so the kernel keeps them all
    }
    await new Promise((r) => setTimeout(r, 1000)); // every peer goes idle
    const elapsedS = (performance.now() - startedAt) / 1000;
    const out = await server.stop();
    assert.equal(out.code, 0, out.stderr);
    const lines = (out.stdout + out.stderr).split("\n").filter((l) => l !== "");
    const served = Number(out.stdout.match(/Stopped after [^:]+: (\d+) clients? served/)![1]);
    assert.ok(served >= 200, `${served} of 500 datagrams arrived: too few to be a flood`);
    const limit = UDP_PEER_LINES_PER_SECOND * (Math.ceil(elapsedS) + 2) + Math.ceil(elapsedS) + 4;
    assert.ok(lines.length <= limit, `${lines.length} lines for ${served} new ports (at most ${limit})`);
    const shown = (re: RegExp) => lines.filter((l) => re.test(l)).length;
    const hidden = (re: RegExp) => lines.map((l) => Number(l.match(re)?.[1] ?? 0)).reduce((a, b) => a + b, 0);
    const notShown = /^warning: not shown \(over \d+ peer lines a second\): /;
    assert.ok(shown(notShown) >= 1, "the lines not shown are counted");
    assert.equal(
      shown(/ connected \(\d+ online\)$/) + hidden(/not shown .*: (\d+) peers? connected/),
      served,
    );
    assert.equal(shown(/ left \(.*online\)$/) + hidden(/not shown .*[:,] (\d+) peers? left/), served);
  } finally {
    await server.stop();
    for (const s of sockets) s.close();
  }
});

Deno.test("udp: discard mode counts datagrams and answers none", async () => {
  const server = await startServer({ endpoint: udpAt(0), mode: "discard" });
  try {
    await assert.rejects(
      () =>
        runClient({ endpoint: udpAt(server.port), message: encoder.encode("into the void"), timeoutMs: 200 }),
      (err) =>
        err instanceof SockkitError && /^no reply from 127\.0\.0\.1:\d+ within 200 ms/.test(err.message),
    );
  } finally {
    const summary = await server.stop();
    assert.deepEqual([summary.messages, summary.bytes, summary.dropped], [1, 13, 0]);
  }
  await assert.rejects(
    () => runServer({ endpoint: udpAt(0), mode: "chat" }),
    (err) =>
      err instanceof UsageError && err.message === "--mode chat does not work over UDP: use echo or discard",
  );
});

Deno.test("udp cli: server and client over UDP, option misuse is a usage error", async () => {
  const server = spawnCli(["server", "0", "--host", "127.0.0.1", "--udp"]);
  try {
    const listening = await server.line(/^Listening/);
    assert.match(listening, /^Listening on 127\.0\.0\.1:\d+ \(echo over UDP\); Ctrl-C to stop$/);
    const port = listening.match(/:(\d+) /)![1];
    const out = await runCli(["client", "127.0.0.1", port, "hi udp", "--udp"]);
    assert.equal(out.code, 0, out.stderr);
    assert.match(
      out.stdout,
      /^Sending to 127\.0\.0\.1:\d+ over UDP from 0\.0\.0\.0:\d+\nReceived: hi udp \(/,
    );
    await server.line(/ connected \(1 online\)$/);
  } finally {
    const out = await server.stop();
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /left \(server shutting down\): 1 message, 6 bytes/);
  }
  for (
    const [args, pattern] of [
      [["server", "--udp-rate", "5"], /--udp-rate needs --udp/],
      [["server", "--udp", "--mode", "chat"], /--mode chat does not work over UDP: use echo or discard/],
      [
        ["server", "--udp", "--hex"],
        /^sockkit: --hex follows socket calls: it does not work with udp:\/\/ \(UDP; try -v\)/,
      ],
      [["server", "--udp", "--unix", "/tmp/x.sock"], /--unix and --udp do not go together/],
      [["client", "127.0.0.1", "9", "-", "--udp"], /pipe mode \(-\) does not work with --udp/],
    ] as const
  ) {
    const usage = await runCli([...args]);
    assert.equal(usage.code, 2, args.join(" "));
    assert.match(usage.stderr, pattern);
  }
});
