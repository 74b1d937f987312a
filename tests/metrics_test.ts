import assert from "node:assert/strict";
import { parseCidr } from "../lib/endpoints/cidr.ts";
import { writeAll } from "../lib/core/io.ts";
import { hasCommand, readToEnd, runCli, spawnCli, startServer } from "./_helpers.ts";
import { httpUrl, samples, scrape, scrapeText, scrapeUntil } from "./_metrics.ts";
import { LinePeer } from "./_peer.ts";

const LOCAL = { hostname: "127.0.0.1", port: 0 };
const connect = (port: number) => Deno.connect({ hostname: "127.0.0.1", port });

Deno.test("metrics: 3 clients are 3 active and 3 in total; bytes and messages received and sent count up", async () => {
  const server = await startServer({ metrics: LOCAL });
  const conns: Deno.Conn[] = [];
  try {
    const url = await httpUrl(server, "metrics");
    for (let i = 0; i < 3; i++) conns.push(await connect(server.port));
    let m = await scrapeUntil(url, (m) => m.get('sockkit_connections_active{transport="tcp"}') === 3);
    assert.equal(m.get('sockkit_connections_active{transport="tcp"}'), 3);
    assert.equal(m.get("sockkit_connections_total"), 3);
    assert.equal(m.get("sockkit_received_bytes_total"), 0);

    const data = new Uint8Array(100_000).fill(0x61);
    await writeAll(conns[0], data);
    const echoed = new Uint8Array(data.length);
    for (let got = 0; got < data.length;) got += (await conns[0].read(echoed.subarray(got)))!;
    m = await scrape(url);
    assert.ok(
      m.get("sockkit_received_bytes_total")! >= data.length,
      `received ${m.get("sockkit_received_bytes_total")}`,
    );
    assert.ok(m.get("sockkit_sent_bytes_total")! >= data.length, `sent ${m.get("sockkit_sent_bytes_total")}`);
    assert.ok(m.get("sockkit_messages_received_total")! >= 1);

    conns.shift()!.close();
    m = await scrapeUntil(url, (m) => m.get('sockkit_connections_active{transport="tcp"}') === 2);
    assert.equal(
      m.get('sockkit_connections_active{transport="tcp"}'),
      2,
      "a client gone is no longer active",
    );
    assert.equal(m.get("sockkit_connections_total"), 3);
    assert.equal(m.get('sockkit_build_info{version="0.1.0",deno="' + Deno.version.deno + '"}'), 1);
  } finally {
    for (const c of conns) c.close();
    await server.stop();
  }
});

Deno.test("metrics: a client over --max-conns is refused_total{reason=max-conns} 1, as the summary says", async () => {
  const server = await startServer({ maxConns: 1, metrics: LOCAL });
  try {
    const url = await httpUrl(server, "metrics");
    using a = await connect(server.port);
    await server.waitFor((e) => e.type === "connect");
    using b = await connect(server.port);
    assert.match(new TextDecoder().decode(await readToEnd(b)), /^server full/);
    const m = await scrapeUntil(url, (m) => m.get('sockkit_refused_total{reason="max-conns"}') === 1);
    assert.equal(m.get('sockkit_refused_total{reason="max-conns"}'), 1);
    assert.equal(m.get('sockkit_refused_total{reason="deny"}'), 0);
    assert.equal(m.get('sockkit_connections_active{transport="tcp"}'), 1);
    assert.ok(a);
  } finally {
    const summary = await server.stop();
    assert.equal(summary.refused, 1);
  }
});

Deno.test("metrics: --deny, an idle client and a failed TLS handshake each count under their reason", async () => {
  const denied = await startServer({ deny: [parseCidr("127.0.0.0/8")], metrics: LOCAL });
  try {
    using c = await connect(denied.port);
    await readToEnd(c);
    const m = await scrapeUntil(
      await httpUrl(denied, "metrics"),
      (m) => m.get('sockkit_refused_total{reason="deny"}') === 1,
    );
    assert.equal(m.get('sockkit_refused_total{reason="deny"}'), 1);
    assert.equal(m.get("sockkit_connections_total"), 0);
  } finally {
    await denied.stop();
  }

  const idle = await startServer({ idleTimeoutMs: 200, metrics: LOCAL });
  try {
    using c = await connect(idle.port);
    await readToEnd(c);
    const m = await scrapeUntil(
      await httpUrl(idle, "metrics"),
      (m) => m.get('sockkit_refused_total{reason="idle"}') === 1,
    );
    assert.equal(m.get('sockkit_refused_total{reason="idle"}'), 1);
    assert.equal(m.get('sockkit_connections_active{transport="tcp"}'), 0);
  } finally {
    await idle.stop();
  }

  const tls = await startServer({
    endpoint: { transport: "tls", hostname: "127.0.0.1", port: 0, tls: { handshakeTimeoutMs: 5000 } },
    metrics: LOCAL,
  });
  try {
    using plain = await connect(tls.port);
    await writeAll(plain, new TextEncoder().encode("GET / HTTP/1.0\r\n\r\n"));
    await readToEnd(plain).catch(() => {});
    const url = await httpUrl(tls, "metrics");
    const m = await scrapeUntil(url, (m) => m.get('sockkit_refused_total{reason="handshake"}') === 1);
    assert.equal(
      m.get('sockkit_refused_total{reason="handshake"}'),
      1,
      "a plain-text client of a TLS server",
    );
  } finally {
    await tls.stop();
  }
});

Deno.test("metrics: a broadcast client that does not read is cut off: too-slow, slow consumer, queued bytes back to 0", async () => {
  const maxQueue = 1024 * 1024;
  const server = await startServer({ mode: "broadcast", maxQueue, metrics: LOCAL });
  try {
    const url = await httpUrl(server, "metrics");
    using _slow = await connect(server.port);
    using sender = await connect(server.port);
    let joined = 0;
    await server.waitFor((e) => e.type === "connect" && ++joined === 2);
    // A reader that never reads: the socket buffers fill, then its queue (seen in /metrics), then it is cut off
    const chunk = new Uint8Array(64 * 1024).fill(0x62);
    let queuedSeen = 0;
    const gone = server.waitFor((e) => e.type === "disconnect" && /too slow/.test(e.reason ?? ""));
    for (let i = 0; i < 1024 && !server.events.some((e) => e.type === "disconnect"); i++) {
      await writeAll(sender, chunk);
      if (queuedSeen === 0) {
        const m = await scrapeUntil(url, (m) => m.get("sockkit_messages_received_total")! > 0, 1000);
        queuedSeen = m.get("sockkit_queued_bytes")!;
      }
    }
    await gone;
    const m = await scrapeUntil(url, (m) => m.get("sockkit_queued_bytes") === 0);
    assert.ok(queuedSeen > 0 && queuedSeen <= maxQueue, `queued bytes seen: ${queuedSeen}`);
    assert.equal(m.get("sockkit_slow_consumer_disconnects_total"), 1);
    assert.equal(m.get('sockkit_refused_total{reason="too-slow"}'), 1);
    assert.equal(m.get("sockkit_queued_bytes"), 0, "what the cut-off client had queued is dropped");
    assert.equal(m.get('sockkit_connections_active{transport="tcp"}'), 1);
  } finally {
    await server.stop();
  }
});

Deno.test("metrics: UDP datagrams over --udp-rate are udp_dropped_total, as the summary counts them", async () => {
  const server = await startServer({
    endpoint: { transport: "udp", hostname: "127.0.0.1", port: 0 },
    udp: { ratePerSecond: 5 },
    metrics: LOCAL,
  });
  const sock = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  let summaryDropped = -1;
  let m = new Map<string, number>();
  try {
    const url = await httpUrl(server, "metrics");
    const to = { transport: "udp" as const, hostname: "127.0.0.1", port: server.port };
    for (let i = 0; i < 20; i++) await sock.send(new TextEncoder().encode(`datagram ${i}`), to);
    m = await scrapeUntil(url, (m) => m.get("sockkit_messages_received_total") === 20);
    assert.equal(m.get("sockkit_messages_received_total"), 20);
    assert.equal(m.get('sockkit_connections_active{transport="udp"}'), 1, "one peer heard from");
    assert.ok(m.get("sockkit_udp_dropped_total")! >= 14, `dropped ${m.get("sockkit_udp_dropped_total")}`);
    assert.equal(m.get("sockkit_sent_bytes_total"), (20 - m.get("sockkit_udp_dropped_total")!) * 10);
  } finally {
    sock.close();
    summaryDropped = (await server.stop()).dropped!;
  }
  assert.equal(summaryDropped, m.get("sockkit_udp_dropped_total"), "the summary and /metrics agree");
});

const PROMTOOL = hasCommand("promtool");

Deno.test({
  name: "metrics: promtool check metrics passes on what a chat server with traffic serves" +
    (PROMTOOL ? "" : " (ignored: promtool is not installed; Debian package prometheus)"),
  ignore: !PROMTOOL,
}, async () => {
  const server = await startServer({ mode: "chat", maxConns: 2, metrics: LOCAL });
  try {
    const url = await httpUrl(server, "metrics");
    const a = await LinePeer.connect(server.port);
    const b = await LinePeer.connect(server.port);
    await a.until(/joined/);
    await b.send("hello\n");
    assert.equal(await a.line(), "<user2> hello");
    using c = await connect(server.port);
    await readToEnd(c);
    const text = await scrapeText(url);
    const res = await fetch(url);
    assert.equal(res.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    await res.body?.cancel();
    const check = new Deno.Command("promtool", {
      args: ["check", "metrics"],
      stdin: "piped",
      stderr: "piped",
      stdout: "piped",
    }).spawn();
    const w = check.stdin.getWriter();
    await w.write(new TextEncoder().encode(text));
    await w.close();
    const out = await check.output();
    const said = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, said);
    assert.equal(said.trim(), "", "no lint warnings");
    for (
      const name of [
        "sockkit_connections_active",
        "sockkit_connections_total",
        "sockkit_refused_total",
        "sockkit_received_bytes_total",
        "sockkit_sent_bytes_total",
        "sockkit_messages_received_total",
        "sockkit_slow_consumer_disconnects_total",
        "sockkit_queued_bytes",
        "sockkit_hub_dropped_total",
        "sockkit_udp_dropped_total",
        "sockkit_build_info",
      ]
    ) {
      assert.match(text, new RegExp(`^# HELP ${name} \\S`, "m"));
      assert.match(text, new RegExp(`^# TYPE ${name} (counter|gauge)$`, "m"));
    }
    assert.equal(samples(text).get('sockkit_refused_total{reason="max-conns"}'), 1);
    a.close();
    b.close();
  } finally {
    await server.stop();
  }
});

Deno.test("metrics: only GET /metrics is served; other paths are 404", async () => {
  const server = await startServer({ metrics: LOCAL });
  try {
    const base = (await httpUrl(server, "metrics")).replace(/\/metrics$/, "");
    for (const path of ["/", "/ws", "/metricsx"]) {
      const res = await fetch(base + path);
      await res.body?.cancel();
      assert.equal(res.status, 404, path);
    }
  } finally {
    await server.stop();
  }
});

Deno.test("metrics: the CLI prints where /metrics is, and refuses a bad --metrics or a port in use in one line", async () => {
  const bad = await runCli(["server", "0", "--metrics", "localhost"]);
  assert.equal(bad.code, 2);
  assert.equal(
    bad.stderr.trim(),
    "sockkit: invalid --metrics 'localhost': expected HOST:PORT, such as 127.0.0.1:9464, [::1]:9464 or 0.0.0.0:9464",
  );
  using busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (busy.addr as Deno.NetAddr).port;
  const inUse = await runCli(["server", "0", "--host", "127.0.0.1", "--metrics", `127.0.0.1:${port}`]);
  assert.equal(inUse.code, 1);
  assert.match(
    inUse.stderr.trim(),
    new RegExp(`^sockkit: cannot listen on 127\\.0\\.0\\.1:${port} \\(--metrics\\): address already in use`),
  );
  assert.equal(inUse.stderr.trim().split("\n").length, 1);

  const server = spawnCli(["server", "0", "--host", "127.0.0.1", "--metrics", "127.0.0.1:0"]);
  const line = await server.line(/^Metrics on /);
  const url = line.match(/^Metrics on (http:\/\/127\.0\.0\.1:\d+\/metrics)$/)![1];
  const m = await scrape(url);
  assert.equal(m.get("sockkit_connections_total"), 0, "served after the server dropped file access");
  const done = await server.stop();
  assert.equal(done.code, 0, done.stderr);
});

Deno.test("metrics: a Unix socket server counts its clients under transport=unix", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sockkit-metrics-" });
  const path = `${dir}/s.sock`;
  const server = await startServer({
    endpoint: { transport: "unix", path },
    mode: "discard",
    metrics: LOCAL,
  });
  try {
    using conn = await Deno.connect({ transport: "unix", path });
    await writeAll(conn, new TextEncoder().encode("twelve bytes"));
    const url = await httpUrl(server, "metrics");
    const m = await scrapeUntil(url, (m) => m.get("sockkit_received_bytes_total") === 12);
    assert.equal(m.get('sockkit_connections_active{transport="unix"}'), 1);
    assert.equal(m.get('sockkit_connections_active{transport="tcp"}'), 0);
    assert.equal(m.get("sockkit_received_bytes_total"), 12);
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
