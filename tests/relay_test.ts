/**
 * `sockkit relay`, run as the real CLI: TCP, TLS (termination and origination, pinned), Unix and UDP, half-close
 * both ways, a dead target, guard rails, backpressure, usage errors, and socat/nc/openssl as peers.
 */
import assert from "node:assert/strict";
import {
  echoRoundTrip,
  freePort,
  hasCommand,
  portOf,
  readToEnd,
  runCli,
  sha256,
  spawnCli,
  startServer,
} from "./_helpers.ts";
import { closeQuietly, writeAll } from "../lib/core/io.ts";
import { checkRelayPair } from "../lib/relay/run.ts";
import { parseAddressSpec } from "../lib/endpoints/addressspec.ts";
import { IO_CORES } from "../lib/transports/types.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

// Both I/O cores (`--io`), and the default core on one event loop as on its default two (`--workers`), carry
// a pair the same way: every byte, and each end of stream.
const CONFIGS: string[][] = [...IO_CORES.map((io) => ["--io", io]), ["--io", "deno", "--workers", "1"]];
for (const config of CONFIGS) {
  const io = config.slice(1).join(" ");
  Deno.test(`relay (--io ${io}): TCP to TCP, 8 MiB both ways exact, a line per pair and a summary at Ctrl-C`, async () => {
    const echo = await startServer();
    const relay = spawnCli(["relay", "127.0.0.1:0", `127.0.0.1:${echo.port}`, ...config]);
    try {
      const port = Number(await portOf(relay));
      assert.match(
        relay.lines[0],
        new RegExp(`^Listening on 127\\.0\\.0\\.1:${port} \\(relay to 127\\.0\\.0\\.1:${echo.port}\\)`),
      );
      const data = crypto.getRandomValues(new Uint8Array(64 * 1024));
      const big = new Uint8Array(8 << 20);
      for (let i = 0; i < big.length; i += data.length) big.set(data, i);
      const back = await echoRoundTrip(port, big);
      assert.equal(await sha256(back), await sha256(big));
      const line = await relay.line(/ done/);
      assert.match(
        line,
        new RegExp(
          `^127\\.0\\.0\\.1:\\d+ => 127\\.0\\.0\\.1:${echo.port} done: 8\\.0 MiB up, 8\\.0 MiB down in `,
        ),
      );
    } finally {
      const out = await relay.stop();
      await echo.stop();
      assert.equal(out.code, 0);
      assert.match(out.stdout, /Stopped after .*: 1 client relayed, 8\.0 MiB up, 8\.0 MiB down/);
    }
  });

  Deno.test(`relay (--io ${io}): half-close carries each end of stream across, the other direction keeps flowing`, async () => {
    // The target reads until the client's end of stream, then answers and closes: only a relay that shuts
    // down the target's side on the client's end (and keeps the way back open) lets the answer through.
    const target = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const serving = (async () => {
      const conn = await target.accept();
      const got = await readToEnd(conn);
      await writeAll(conn, encoder.encode(`got ${got.length} bytes after your end of stream`));
      conn.close();
    })();
    const relay = spawnCli([
      "relay",
      "127.0.0.1:0",
      `127.0.0.1:${(target.addr as Deno.NetAddr).port}`,
      ...config,
    ]);
    try {
      const port = Number(await portOf(relay));
      const reply = await echoRoundTrip(port, encoder.encode("x".repeat(100_000)));
      assert.equal(decoder.decode(reply), "got 100000 bytes after your end of stream");
      await serving;
    } finally {
      target.close();
      await relay.stop();
    }
  });
}

Deno.test("relay: a dead target closes each client with the reason logged, a few lines a second, and keeps running", async () => {
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const deadPort = (closed.addr as Deno.NetAddr).port;
  closed.close();
  const relay = spawnCli([
    "relay",
    "127.0.0.1:0",
    `127.0.0.1:${deadPort}`,
    "--connect-timeout",
    "2s",
    "--workers",
    "1",
  ]);
  try {
    const port = Number(await portOf(relay));
    // 60 clients in a row: each is closed, and the log says so ten times a second (after a burst of ten)
    for (let i = 0; i < 60; i++) {
      const back = await echoRoundTrip(port, encoder.encode("anyone?"));
      assert.equal(back.length, 0);
    }
    const line = await relay.line(/done \(/);
    assert.match(
      line,
      new RegExp(`done \\(cannot connect to 127\\.0\\.0\\.1:${deadPort}: connection refused\\): 0 B up`),
    );
  } finally {
    const out = await relay.stop();
    assert.equal(out.code, 0, "still running until Ctrl-C");
    assert.match(out.stdout, /60 clients relayed/);
    const failures = relay.lines.filter((l) => / done \(cannot connect/.test(l));
    assert.ok(failures.length >= 1 && failures.length < 60, `${failures.length} lines:\n${out.stdout}`);
  }
});

Deno.test("relay: TLS termination with an ephemeral certificate, trusted by the client with --pin", async () => {
  const echo = await startServer();
  // four event loops: one certificate, made and printed once, served by all of them
  const relay = spawnCli(["relay", "tls://127.0.0.1:0", `127.0.0.1:${echo.port}`, "--workers", "4"]);
  try {
    const port = await portOf(relay);
    const fingerprint = (await relay.line(/^SHA-256 fingerprint /)).split(" ").at(-1)!;
    assert.match(await relay.line(/^Listening/), /\(TLS relay to 127\.0\.0\.1:\d+\)/);
    assert.equal(relay.lines.filter((line) => line.startsWith("SHA-256 fingerprint")).length, 1);
    for (let i = 0; i < 8; i++) {
      const out = await runCli(["client", "127.0.0.1", port, "through TLS", "--tls", "--pin", fingerprint]);
      assert.equal(out.code, 0, out.stderr);
      assert.match(out.stdout, /Received: through TLS/);
    }
    if (hasCommand("openssl")) {
      const s = await new Deno.Command("sh", {
        args: [
          "-c",
          `(printf 'hello from openssl\\n'; sleep 1) | timeout 10 openssl s_client -connect 127.0.0.1:${port} -quiet -no_ign_eof`,
        ],
        stdout: "piped",
        stderr: "null",
      }).output();
      const got = decoder.decode(s.stdout);
      assert.equal(got, "hello from openssl\n");
    }
  } finally {
    await relay.stop();
    await echo.stop();
  }
});

Deno.test("relay: TLS origination is verified: --pin lets it through, a wrong pin closes the client with the reason", async () => {
  const tlsEcho = await startServer({
    endpoint: { transport: "tls", hostname: "127.0.0.1", port: 0, tls: {} },
  });
  const cert = tlsEcho.events.find((e) => e.type === "certificate");
  assert.ok(cert && cert.type === "certificate");
  const good = spawnCli([
    "relay",
    "127.0.0.1:0",
    `tls://127.0.0.1:${tlsEcho.port}`,
    "--pin",
    cert.fingerprint,
  ]);
  const wrong = "AA:".repeat(31) + "AA";
  const bad = spawnCli(["relay", "127.0.0.1:0", `tls://127.0.0.1:${tlsEcho.port}`, "--pin", wrong]);
  const unverified = spawnCli(["relay", "127.0.0.1:0", `tls://127.0.0.1:${tlsEcho.port}`]);
  const insecure = spawnCli(["relay", "127.0.0.1:0", `tls://127.0.0.1:${tlsEcho.port}`, "--insecure"]);
  try {
    assert.match(await good.line(/^Listening/), /\(relay to 127\.0\.0\.1:\d+ over TLS/);
    const back = await echoRoundTrip(Number(await portOf(good)), encoder.encode("plain in, TLS out"));
    assert.equal(decoder.decode(back), "plain in, TLS out");
    assert.equal((await echoRoundTrip(Number(await portOf(bad)), encoder.encode("x"))).length, 0);
    assert.match(await bad.line(/done \(/), /not the pinned AA:AA/);
    assert.equal((await echoRoundTrip(Number(await portOf(unverified)), encoder.encode("x"))).length, 0);
    assert.match(await unverified.line(/done \(/), /TLS handshake with 127\.0\.0\.1:\d+ failed/);
    const through = await echoRoundTrip(Number(await portOf(insecure)), encoder.encode("unverified"));
    assert.equal(decoder.decode(through), "unverified");
    assert.match((await insecure.stop()).stderr, /certificate was not verified \(--insecure\)/);
  } finally {
    await Promise.all([good.stop(), bad.stop(), unverified.stop(), insecure.stop()]);
    await tlsEcho.stop();
  }
});

Deno.test("relay: a Unix socket exposed on TCP, and TCP reached through a Unix socket", async () => {
  const dir = await Deno.makeTempDir();
  const echo = await startServer({ endpoint: { transport: "unix", path: `${dir}/echo.sock` } });
  const toUnix = spawnCli(["relay", "127.0.0.1:0", `unix:${dir}/echo.sock`]);
  const tcpEcho = await startServer();
  const fromUnix = spawnCli(["relay", `unix:${dir}/relay.sock`, `127.0.0.1:${tcpEcho.port}`]);
  try {
    const back = await echoRoundTrip(Number(await portOf(toUnix)), encoder.encode("over unix"));
    assert.equal(decoder.decode(back), "over unix");
    await fromUnix.line(/^Listening on unix:/);
    const conn = await Deno.connect({ transport: "unix", path: `${dir}/relay.sock` });
    await writeAll(conn, encoder.encode("to tcp"));
    await conn.closeWrite();
    assert.equal(decoder.decode(await readToEnd(conn)), "to tcp");
    conn.close();
  } finally {
    await Promise.all([toUnix.stop(), fromUnix.stop()]);
    await echo.stop();
    await tcpEcho.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("relay: UDP to UDP, each source gets its own session and its own replies", async () => {
  const echo = await startServer({ endpoint: { transport: "udp", hostname: "127.0.0.1", port: 0 } });
  const relay = spawnCli([
    "relay",
    "udp://127.0.0.1:0",
    `udp://127.0.0.1:${echo.port}`,
    "--idle-timeout",
    "300ms",
  ]);
  try {
    const port = Number(await portOf(relay));
    const a = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    const b = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    const to: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port };
    for (let i = 0; i < 5; i++) {
      await a.send(encoder.encode(`a${i}`), to);
      await b.send(encoder.encode(`b${i}`), to);
      const [ra] = await a.receive();
      const [rb] = await b.receive();
      assert.equal(decoder.decode(ra), `a${i}`);
      assert.equal(decoder.decode(rb), `b${i}`);
    }
    a.close();
    b.close();
    const expired = await relay.line(/done \(idle timeout/);
    assert.match(expired, /10 B up, 10 B down/);
  } finally {
    const out = await relay.stop();
    await echo.stop();
    assert.match(out.stdout, /2 clients relayed, 20 B up, 20 B down/);
  }
});

Deno.test("relay: --max-conns refuses one more client and --deny refuses a network, both logged", async () => {
  const echo = await startServer();
  const relay = spawnCli(["relay", "127.0.0.1:0", `127.0.0.1:${echo.port}`, "--max-conns", "1"]);
  const denied = spawnCli(["relay", "127.0.0.1:0", `127.0.0.1:${echo.port}`, "--deny", "127.0.0.0/8"]);
  try {
    const port = Number(await portOf(relay));
    const first = await Deno.connect({ hostname: "127.0.0.1", port });
    await writeAll(first, encoder.encode("first"));
    await relay.line(/connected in|connected \(1 online\)/);
    const second = await echoRoundTrip(port, encoder.encode("second"));
    assert.equal(second.length, 0);
    assert.match(await relay.line(/refused/), /refused: relay full \(1 client, --max-conns\)/);
    first.close();
    assert.equal((await echoRoundTrip(Number(await portOf(denied)), encoder.encode("x"))).length, 0);
    assert.match(await denied.line(/refused/), /refused: denied by --deny 127\.0\.0\.0\/8/);
  } finally {
    await Promise.all([relay.stop(), denied.stop()]);
    await echo.stop();
  }
});

Deno.test("relay: on several event loops (--workers 3) each binds the port, and --max-conns holds for the whole relay", async () => {
  const echo = await startServer();
  const relay = spawnCli([
    "relay",
    "127.0.0.1:0",
    `127.0.0.1:${echo.port}`,
    "--workers",
    "3",
    "--max-conns",
    "3",
    "--trace",
  ]);
  const conns: Deno.Conn[] = [];
  try {
    const port = Number(await portOf(relay));
    const binds = relay.lines.filter((line) => / bind\(127\.0\.0\.1:\d+\)$/.test(line));
    assert.equal(binds.length, 3, relay.lines.join("\n"));
    for (const line of binds) assert.ok(line.endsWith(`bind(127.0.0.1:${port})`), line);
    // Twelve clients at once: the kernel spreads them over the three loops, and exactly three are relayed.
    for (let i = 0; i < 12; i++) conns.push(await Deno.connect({ hostname: "127.0.0.1", port }));
    const answers = await Promise.all(conns.map(async (conn) => {
      await writeAll(conn, encoder.encode("x")).catch(() => {});
      const buf = new Uint8Array(1);
      return await conn.read(buf).catch(() => null);
    }));
    assert.equal(answers.filter((n) => n === 1).length, 3, `answers: ${answers.join(" ")}`);
    const refused = relay.lines.filter((line) => /refused: relay full \(3 clients, --max-conns\)/.test(line));
    assert.equal(refused.length, 9, relay.lines.join("\n"));
    const online = relay.lines.map((line) => /connected \((\d+) online\)/.exec(line)?.[1]).filter(Boolean);
    assert.deepEqual(online.map(Number).sort(), [1, 2, 3]);
  } finally {
    for (const conn of conns) closeQuietly(conn);
    const out = await relay.stop();
    await echo.stop();
    assert.match(out.stdout, /Stopped after .*: 3 clients relayed, 3 B up, 3 B down, 9 refused/);
  }
});

Deno.test("relay: without read access its workers cannot load, so it says so and relays from one event loop", async () => {
  const echo = await startServer();
  const relay = spawnCli(["relay", "127.0.0.1:0", `127.0.0.1:${echo.port}`], {
    permissions: ["--allow-net"],
  });
  try {
    const port = Number(await portOf(relay));
    assert.equal(decoder.decode(await echoRoundTrip(port, encoder.encode("one loop"))), "one loop");
  } finally {
    const out = await relay.stop();
    await echo.stop();
    assert.equal(out.code, 0);
    assert.equal(
      out.stderr.trim(),
      "sockkit: warning: relaying from one event loop: its workers need --allow-read",
    );
  }
  // asked for by name, the same is a usage error
  const out = await runCli(["relay", "127.0.0.1:0", "127.0.0.1:1", "--workers", "2"], {
    permissions: ["--allow-net", "--allow-read"],
  });
  assert.equal(out.code, 2);
  assert.match(out.stderr, /^sockkit: --workers 2 needs Deno's --unstable-net: add it$/m);
});

Deno.test("relay: a target that does not read holds the client back; the relay buffers one chunk, not the stream", async () => {
  const target = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const c of target) held.push(c); // never read
  })().catch(() => {});
  const relay = spawnCli(["relay", "127.0.0.1:0", `127.0.0.1:${(target.addr as Deno.NetAddr).port}`]);
  try {
    const port = Number(await portOf(relay));
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const chunk = new Uint8Array(256 * 1024);
    let accepted = 0;
    for (;;) {
      const wrote = await Promise.race([
        writeAll(conn, chunk).then(() => true),
        new Promise<false>((r) => setTimeout(() => r(false), 500)),
      ]);
      if (!wrote) break;
      accepted += chunk.length;
      assert.ok(accepted < 64 << 20, "64 MiB accepted: nothing pushed back");
    }
    // What was accepted is what the kernel buffers of the three sockets hold, plus one relay chunk.
    assert.ok(accepted < 32 << 20, `the client got ${accepted} bytes in before being held back`);
    conn.close();
  } finally {
    await relay.stop();
    for (const c of held) closeQuietly(c);
    target.close();
    await accepting;
  }
});

Deno.test("relay: streams to datagrams and malformed addresses are usage errors (exit 2) naming the problem", async () => {
  assert.throws(
    () =>
      checkRelayPair(parseAddressSpec("8080", "listen"), parseAddressSpec("udp://127.0.0.1:53", "connect")),
    /cannot relay TCP to UDP: a byte stream has no datagram boundaries to keep/,
  );
  const cases: [string[], RegExp][] = [
    [["relay", "8080", "udp://127.0.0.1:53"], /cannot relay TCP to UDP/],
    [["relay", "udp://0.0.0.0:5353", "unix:/tmp/x.sock"], /cannot relay UDP to Unix socket/],
    [["relay", "8080", "9090"], /invalid address '9090': a port alone says where to listen/],
    [["relay", "ftp://h:1", "127.0.0.1:1"], /unknown scheme 'ftp:\/\/'/],
    [["relay", "::1:80", "127.0.0.1:1"], /put an IPv6 address in brackets/],
    [["relay", "127.0.0.1:99999", "127.0.0.1:1"], /invalid port '99999'/],
    [["relay", "8080", "127.0.0.1:80", "--cert", "c.pem"], /--cert is for a TLS listen address/],
    [["relay", "8080", "127.0.0.1:80", "--pin", "AA".repeat(32)], /--pin is for a TLS target/],
    [
      ["relay", "unix:/tmp/x.sock", "127.0.0.1:1", "--workers", "2"],
      /a Unix socket listen address is served by one/,
    ],
    [
      ["relay", "8080", "127.0.0.1:1", "--io", "node", "--workers", "2"],
      /--io node serves every connection from one/,
    ],
    [["relay", "8080", "127.0.0.1:1", "--workers", "0"], /invalid --workers '0'/],
    [["relay", "8080", "127.0.0.1:1", "--workers", "65"], /--workers 65: at most 64 event loops/],
  ];
  for (const [args, re] of cases) {
    const out = await runCli(args);
    assert.equal(out.code, 2, `${args.join(" ")}: ${out.stderr}`);
    assert.match(out.stderr, re);
    assert.equal(out.stderr.trim().split("\n").length, 1, out.stderr);
  }
});

Deno.test("relay: a target that is its own listen address is a usage error (exit 2) saying what to do", async () => {
  const ep = (spec: string, role: "listen" | "connect") => parseAddressSpec(spec, role);
  const loops: [string, string][] = [
    ["127.0.0.1:24011", "127.0.0.1:24011"],
    ["0.0.0.0:24011", "localhost:24011"],
    ["24011", "127.0.0.2:24011"],
    ["24011", "tls://127.0.0.1:24011"],
    ["[::]:24011", "[::ffff:127.0.0.1]:24011"],
    ["[::1]:24011", "[::1]:24011"],
    ["udp://127.0.0.1:24011", "udp://127.0.0.1:24011"],
    ["unix:/tmp/sockkit-loop.sock", "unix:/tmp/sockkit-loop.sock"],
  ];
  for (const [listen, target] of loops) {
    assert.throws(
      () => checkRelayPair(ep(listen, "listen"), ep(target, "connect")),
      /is this relay's own listen address .*: every pair would connect back to the relay itself \(give the address of another server as the target\)$/,
      `${listen} -> ${target}`,
    );
  }
  // not loops: another port, another loopback address, IPv6 against an IPv4-only listener, a port picked
  // by the system, a Unix socket elsewhere
  const fine: [string, string][] = [
    ["127.0.0.1:24011", "127.0.0.1:24012"],
    ["127.0.0.1:24011", "127.0.0.2:24011"],
    ["0.0.0.0:24011", "[::1]:24011"],
    ["127.0.0.1:0", "127.0.0.1:24011"],
    ["unix:/tmp/sockkit-loop.sock", "unix:/tmp/sockkit-other.sock"],
  ];
  for (const [listen, target] of fine) checkRelayPair(ep(listen, "listen"), ep(target, "connect"));

  const out = await runCli(["relay", "127.0.0.1:24011", "127.0.0.1:24011"]);
  assert.equal(out.code, 2);
  assert.equal(
    out.stderr.trim(),
    "sockkit: the target 127.0.0.1:24011 is this relay's own listen address 127.0.0.1:24011: every pair " +
      "would connect back to the relay itself (give the address of another server as the target)",
  );
});

Deno.test("relay: a name for its own address (127.1) is a loop it tells at run time: cut at once, one warning", async () => {
  const port = freePort();
  const relay = spawnCli(["relay", `127.0.0.1:${port}`, `127.1:${port}`]);
  try {
    await portOf(relay);
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    assert.equal((await readToEnd(conn)).length, 0, "the client is closed");
    conn.close();
    assert.match(
      await relay.line(/ => 127\.1:\d+ done/),
      /done \(loop: the target 127\.1:\d+ leads back to this relay\)/,
    );
    await relay.line(/refused: loop: the target 127\.1:\d+ leads back to this relay/);
  } finally {
    const out = await relay.stop();
    const connects = relay.lines.filter((line) => / connected \(/.test(line));
    assert.ok(connects.length >= 1 && connects.length <= 3, `the loop went on:\n${out.stdout}`);
    assert.deepEqual(
      out.stderr.trim().split("\n"),
      [
        `warning: loop: the target 127.1:${port} leads back to this relay: pairs to it are cut ` +
        "(give the address of another server as the target)",
      ],
    );
  }
});

Deno.test("relay: two relays pointed at each other stop at the default ceiling of 1024 pairs, and unwind", async () => {
  const pa = freePort();
  const pb = freePort(pa);
  const a = spawnCli(["relay", `127.0.0.1:${pa}`, `127.0.0.1:${pb}`]);
  const b = spawnCli(["relay", `127.0.0.1:${pb}`, `127.0.0.1:${pa}`, "--max-conns", "5000"]);
  try {
    await Promise.all([portOf(a), portOf(b)]);
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: pa });
    await writeAll(conn, encoder.encode("x"));
    await a.line(/refused: relay full \(1024 clients, --max-conns\)/);
    conn.close();
    // the client gone, every pair on both ends
    await Promise.all([a.line(/ done.*\(0 online\)$/), b.line(/ done.*\(0 online\)$/)]);
  } finally {
    const [outA] = await Promise.all([a.stop(), b.stop()]);
    assert.match(outA.stdout, /Stopped after .*: 1024 clients relayed, .*, 1 refused$/);
    assert.deepEqual(outA.stderr.trim().split("\n"), [
      "warning: relay full: 1024 pairs open (--max-conns, default 1024): new clients are turned away until " +
      "pairs end (raise --max-conns for more; if one client made them, the target leads back to this relay " +
      "through another relay or a port forward)",
    ]);
  }
});

Deno.test({
  name: "relay: interop: nc through sockkit relay to a socat echo server, and socat through it",
  ignore: !hasCommand("socat") || !hasCommand("nc"),
  async fn() {
    const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const socatPort = (probe.addr as Deno.NetAddr).port;
    probe.close();
    const socat = new Deno.Command("socat", {
      args: [`TCP-LISTEN:${socatPort},bind=127.0.0.1,fork,reuseaddr`, "PIPE"],
      stdout: "null",
      stderr: "null",
    }).spawn();
    const relay = spawnCli(["relay", "127.0.0.1:0", `127.0.0.1:${socatPort}`, "--connect-timeout", "2s"]);
    try {
      const port = await portOf(relay);
      let out = "";
      for (let i = 0; i < 20 && out === ""; i++) {
        const nc = await new Deno.Command("sh", {
          args: ["-c", `printf 'via nc\\n' | nc -N 127.0.0.1 ${port}`],
          stdout: "piped",
        }).output();
        out = decoder.decode(nc.stdout);
        if (out === "") await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(out, "via nc\n");
      const sc = await new Deno.Command("sh", {
        args: ["-c", `printf 'via socat\\n' | socat -t 2 - TCP:127.0.0.1:${port}`],
        stdout: "piped",
      }).output();
      assert.equal(decoder.decode(sc.stdout), "via socat\n");
    } finally {
      await relay.stop();
      socat.kill();
      await socat.status;
    }
  },
});
