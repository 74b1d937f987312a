import assert from "node:assert/strict";
import { runClient } from "../client.ts";
import type { ClientEvent, HexEvent, TraceEvent } from "../lib/report/events.ts";
import { formatHex, formatTrace } from "../lib/server/wire.ts";
import { ECHO_SMALL_BUFFER_SIZE } from "../lib/modes/echo.ts";
import { echoRoundTrip, portOf, runCli, spawnCli, startServer } from "./_helpers.ts";
import { arrowOf, columnHeader, columnRow, LIVE_LAYOUT } from "../lib/report/columns.ts";
import { IO_CORES } from "../lib/transports/types.ts";

const hello = new TextEncoder().encode("Hello\n");

/** A trace event without its timing, for comparing. */
const call = (e: TraceEvent) => {
  const { elapsedMs: _, type: __, ...rest } = e;
  return rest;
};

Deno.test("trace: the server narrates bind, listen, accept, recv, send, recv 0, close", async () => {
  const server = await startServer({ trace: true });
  try {
    await echoRoundTrip(server.port, hello);
    await server.waitFor((e) => e.type === "trace" && e.call === "close");
    const traces = server.events.filter((e): e is TraceEvent => e.type === "trace");
    const address = `127.0.0.1:${server.port}`;
    const peer = traces[2].peer!;
    assert.match(peer, /^127\.0\.0\.1:\d+$/);
    assert.deepEqual(traces.map(call), [
      { call: "bind", address },
      { call: "listen", address },
      { call: "accept", address, peer },
      { call: "recv", peer, size: ECHO_SMALL_BUFFER_SIZE, result: 6 },
      { call: "send", peer, size: 6, result: 6 },
      { call: "recv", peer, size: ECHO_SMALL_BUFFER_SIZE, result: 0 },
      { call: "close", peer },
    ]);
    const times = traces.map((t) => t.elapsedMs);
    assert.deepEqual(times, [...times].sort((a, b) => a - b), "timestamps only go forward");
    assert.equal(server.events.some((e) => e.type === "hex"), false, "no hex without --hex");
  } finally {
    await server.stop();
  }
});

Deno.test("hex: the server reports each recv and send with its bytes and stream offset", async () => {
  const server = await startServer({ hex: true });
  try {
    using conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    for (const part of ["Hel", "lo\n"]) {
      await conn.write(new TextEncoder().encode(part));
      await conn.read(new Uint8Array(16));
    }
    conn.close();
    await server.waitFor((e) => e.type === "disconnect");
    const dumps = server.events.filter((e): e is HexEvent => e.type === "hex");
    assert.deepEqual(dumps.map(({ direction, offset, hex }) => ({ direction, offset, hex })), [
      { direction: "recv", offset: 0, hex: "48656c" },
      { direction: "send", offset: 0, hex: "48656c" },
      { direction: "recv", offset: 3, hex: "6c6f0a" },
      { direction: "send", offset: 3, hex: "6c6f0a" },
    ]);
    assert.equal(server.events.some((e) => e.type === "trace"), false, "no trace without --trace");
  } finally {
    await server.stop();
  }
});

Deno.test("trace: the client narrates connect, send, recv, close", async () => {
  const server = await startServer();
  try {
    const events: ClientEvent[] = [];
    await runClient(
      { endpoint: { transport: "tcp", hostname: "127.0.0.1", port: server.port }, trace: true },
      { onEvent: (e) => events.push(e) },
    );
    const traces = events.filter((e): e is TraceEvent => e.type === "trace").map(call);
    const peer = `127.0.0.1:${server.port}`;
    assert.equal(traces[0].call, "connect");
    assert.equal(traces[0].peer, peer);
    assert.match(traces[0].address!, /^127\.0\.0\.1:\d+$/);
    assert.deepEqual(traces.slice(1, 3), [
      { call: "send", peer, size: 5, result: 5 },
      { call: "recv", peer, size: 65536, result: 5 },
    ]);
    assert.deepEqual(traces.at(-1), { call: "close", peer });
    assert.equal(traces.filter((t) => t.call === "close").length, 1, "closed once");
  } finally {
    await server.stop();
  }
});

Deno.test("trace: a refused connect is narrated with its error", async () => {
  using spare = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (spare.addr as Deno.NetAddr).port;
  spare.close();
  const events: ClientEvent[] = [];
  await assert.rejects(() =>
    runClient({ endpoint: { transport: "tcp", hostname: "127.0.0.1", port }, trace: true }, {
      onEvent: (e) => events.push(e),
    })
  );
  const [trace] = events.filter((e): e is TraceEvent => e.type === "trace");
  assert.equal(trace.call, "connect");
  assert.match(trace.error!, /connection refused/);
});

Deno.test("trace/hex text: strace-like calls and an ncat-style hex dump", () => {
  assert.equal(
    formatTrace({
      type: "trace",
      call: "recv",
      elapsedMs: 12.5,
      peer: "127.0.0.1:5000",
      size: 1024,
      result: 0,
    }),
    "[+0.012500s] recv(127.0.0.1:5000, 1024) = 0 (end of stream)",
  );
  assert.equal(
    formatTrace({
      type: "trace",
      call: "send",
      elapsedMs: 1500,
      peer: "[::1]:80",
      size: 9,
      error: "broken pipe",
    }),
    "[+1.500000s] send([::1]:80, 9) = error: broken pipe",
  );
  const hex = Array.from(
    new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n"),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
  assert.deepEqual(formatHex({ type: "hex", direction: "send", peer: "[::1]:80", offset: 16, hex }), [
    "> send 25 bytes to [::1]:80",
    "[0010]   47 45 54 20 2F 20 48 54 54 50 2F 31 2E 31 0D 0A     GET / HTTP/1.1..",
    "[0020]   48 6F 73 74 3A 20 78 0D 0A                          Host: x..",
  ]);
});

// Both I/O cores narrate the same calls at the same moments.
for (const io of IO_CORES) {
  Deno.test(`CLI (--io ${io}): server and client --trace --hex print the socket calls and dumps; --json makes them objects`, async () => {
    const server = spawnCli(["server", "0", "--host", "127.0.0.1", "--trace", "--hex", "--io", io]);
    try {
      const listening = await server.line(/^Listening on/);
      const port = listening.match(/:(\d+) /)![1];
      const client = await runCli(["client", "127.0.0.1", port, "Hi", "--trace", "--hex", "--io", io]);
      assert.equal(client.code, 0, client.stderr);
      const lines = client.stdout.trimEnd().split("\n").map((l) => l.replace(/^\[\+\d+\.\d{6}s\] /, "[t] "));
      assert.match(
        lines[0],
        new RegExp(`^\\[t\\] connect\\(127\\.0\\.0\\.1:${port}\\) from 127\\.0\\.0\\.1:\\d+$`),
      );
      assert.match(lines[1], /^Connected to 127\.0\.0\.1:\d+ in /);
      assert.deepEqual(lines.slice(2, 8), [
        `[t] send(127.0.0.1:${port}, 2) = 2`,
        `> send 2 bytes to 127.0.0.1:${port}`,
        `[0000]   48 69${" ".repeat(45)}  Hi`,
        `[t] recv(127.0.0.1:${port}, 65536) = 2`,
        `< recv 2 bytes from 127.0.0.1:${port}`,
        `[0000]   48 69${" ".repeat(45)}  Hi`,
      ]);
      assert.match(lines.at(-1)!, new RegExp(`^\\[t\\] close\\(127\\.0\\.0\\.1:${port}\\)$`));
      await server.line(/\] close\(127\.0\.0\.1:\d+\)$/);
      for (
        const re of [/\] bind\(127\.0\.0\.1:\d+\)$/, /\] accept\(127\.0\.0\.1:\d+\) = 127\.0\.0\.1:\d+$/]
      ) {
        assert.ok(server.lines.some((l) => re.test(l)), `server printed ${re}`);
      }
      assert.ok(server.lines.includes(`[0000]   48 69${" ".repeat(45)}  Hi`));

      const json = await runCli([
        "client",
        "127.0.0.1",
        port,
        "Hi",
        "--trace",
        "--hex",
        "--json",
        "--io",
        io,
      ]);
      const events = json.stdout.trimEnd().split("\n").map((l) => JSON.parse(l));
      assert.deepEqual(events.filter((e) => e.type === "trace").map((e) => e.call), [
        "connect",
        "send",
        "recv",
        "close",
      ]);
      assert.deepEqual(
        events.filter((e) => e.type === "hex").map((e) => [e.direction, e.offset, e.hex]),
        [["send", 0, "4869"], ["recv", 0, "4869"]],
      );
    } finally {
      const stopped = await server.stop();
      assert.equal(stopped.code, 0, stopped.stderr);
    }
  });
}

Deno.test("trace columns: the client's calls on the left, the server's on the right, arrows the way bytes go", () => {
  const send = {
    type: "trace",
    call: "send",
    elapsedMs: 1.5,
    size: 5,
    result: 5,
    site: "lib/core/io.ts:24",
  } as const;
  const header = columnHeader();
  const client = columnRow(send, "client");
  const server = columnRow({ ...send, peer: "127.0.0.1:50112" }, "server", { ...LIVE_LAYOUT, peers: true });
  assert.match(client, /^ {5}1500 {2}send\(5\) = 5 +─+▶ +lib\/core\/io\.ts:24$/);
  assert.equal(client.indexOf("send"), header.indexOf("client"));
  assert.match(server, /^ {5}1500 +◀─+ send\(127\.0\.0\.1:50112, 5\) = 5 +lib\/core\/io\.ts:24$/);
  assert.equal(server.indexOf("send"), header.indexOf("server"));
  assert.equal(arrowOf("recv", "server"), "right");
  assert.equal(arrowOf("handshake", "client"), "both");
  assert.equal(arrowOf("bind", "server"), undefined);
});

Deno.test("CLI: --trace=columns draws real traffic, the server's calls on the right with the line of each", async () => {
  const server = spawnCli(["server", "0", "--host", "127.0.0.1", "--workers", "1", "--trace=columns"]);
  try {
    const port = await portOf(server);
    const client = await runCli(["client", "127.0.0.1", port, "Hi", "--trace=columns"]);
    assert.equal(client.code, 0, client.stderr);
    const lines = client.stdout.trimEnd().split("\n");
    assert.match(lines[0], /^ +µs {2}client +server +line$/);
    const calls = lines.filter((l) => /^ +\d+ {2}\w/.test(l)).map((l) => l.trim().split(/\s+/)[1]);
    assert.deepEqual(calls, [`connect(127.0.0.1:${port})`, "send(2)", "recv(65536)", "close()"]);
    assert.match(lines.find((l) => l.includes("connect("))!, /─+▶ +lib\/client\/run\.ts:\d+$/);
    const closed = await server.line(/◀─+ close\(127\.0\.0\.1:\d+\) +lib\/core\/io\.ts:\d+$/);
    const column = server.lines[0].indexOf("server");
    assert.equal(closed.indexOf("close("), column);
    const accept = server.lines.find((l) => /accept\(\) = 127\.0\.0\.1:\d+/.test(l))!;
    assert.match(accept, /─+▶ accept\(\) = 127\.0\.0\.1:\d+ +lib\/server\/accept\.ts:\d+$/);
    assert.equal(accept.indexOf("accept("), column);

    const bad = await runCli(["client", "--trace", "127.0.0.1", port]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^sockkit: invalid --trace '127\.0\.0\.1': expected --trace, --trace=lines or/);
  } finally {
    const stopped = await server.stop();
    assert.equal(stopped.code, 0, stopped.stderr);
  }
});

Deno.test("CLI over UDP: --trace shows bind, then a sendto and a recvfrom per datagram (no accept, no connect)", async () => {
  const server = spawnCli(["server", "0", "--host", "127.0.0.1", "--udp", "--trace"]);
  try {
    const port = await portOf(server);
    const client = await runCli(["client", "127.0.0.1", port, "Hi", "--udp", "--trace"]);
    assert.equal(client.code, 0, client.stderr);
    const calls = client.stdout.split("\n").flatMap((l) => /^\[\+\d+\.\d{6}s\] (.*)$/.exec(l)?.[1] ?? []);
    assert.match(calls[0], /^bind\(0\.0\.0\.0:\d+\)$/);
    assert.deepEqual(calls.slice(1), [
      `sendto(127.0.0.1:${port}, 2) = 2`,
      `recvfrom(127.0.0.1:${port}, 65508) = 2`,
    ]);
    await server.line(/\] sendto\(127\.0\.0\.1:\d+, 2\) = 2$/);
    const traced = server.lines.flatMap((l) => /^\[\+\d+\.\d{6}s\] (\w+)\(/.exec(l)?.[1] ?? []);
    assert.deepEqual(traced, ["bind", "recvfrom", "sendto"]);
    const relay = await runCli(["relay", "udp://127.0.0.1:0", "udp://127.0.0.1:9", "--trace"]);
    assert.equal(relay.code, 2);
    assert.match(relay.stderr, /^sockkit: --trace follows socket calls: it does not work with udp:\/\//);
  } finally {
    const stopped = await server.stop();
    assert.equal(stopped.code, 0, stopped.stderr);
  }
});
