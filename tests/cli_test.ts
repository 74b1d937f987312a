import assert from "node:assert/strict";
import { CLI_PERMISSIONS, portOf, randomBytes, runCli, spawnCli } from "./_helpers.ts";
import meta from "../deno.json" with { type: "json" };

Deno.test("cli: --version and --help exit 0", async () => {
  const version = await runCli(["--version"]);
  assert.equal(version.code, 0);
  assert.equal(version.stdout.trim(), meta.version);
  const help = await runCli(["server", "--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: sockkit server \[options\] \[port\]/);
});

Deno.test("cli: usage errors name the bad value and exit 2", async () => {
  const cases: [string[], RegExp][] = [
    [["server", "http"], /^sockkit: invalid port 'http': expected a whole number from 0 to 65535$/],
    [["server", "65536"], /^sockkit: invalid port '65536'/],
    [["client", "localhost", "0"], /^sockkit: invalid port '0': expected a whole number from 1 to 65535$/],
    [["client", "localhost"], /^sockkit: missing required argument 'port' \(see 'sockkit client --help'\)$/],
    [["client", "localhost", "1234", "--timeout", "soon"], /^sockkit: invalid --timeout 'soon': expected/],
    [["client", "localhost", "1234", "--count", "0"], /^sockkit: invalid --count '0'/],
    [["client", "localhost", "1234", ""], /^sockkit: the message is empty/],
    [["server", "--bogus"], /^sockkit: unknown option '--bogus' \(see 'sockkit server --help'\)$/],
    [["serve"], /^sockkit: unknown command 'serve'/],
    [["bench"], /^sockkit: missing the host and port: sockkit bench HOST PORT \[options\], or --unix PATH$/],
    [["bench", "127.0.0.1"], /^sockkit: missing required argument 'port' \(see 'sockkit bench --help'\)$/],
    [
      ["server", "--mode", "chatt"],
      /^sockkit: invalid --mode 'chatt': expected echo, chat, broadcast or discard \(did you mean chat\?\)$/,
    ],
    [["bench", "h", "1", "--mode", "x"], /^sockkit: invalid --mode 'x': expected pingpong or stream$/],
    [
      ["server", "--io", "nod"],
      /^sockkit: invalid --io 'nod': expected deno or node \(did you mean node\?\)$/,
    ],
    [
      ["server", "--unix", "/tmp/sockkit-io.sock", "--io", "node"],
      /^sockkit: --io node moves TCP only, not Unix socket: drop --io node, or use tcp:\/\/ addresses$/,
    ],
    [
      ["relay", "9", "tls://127.0.0.1:443", "--io", "node"],
      /^sockkit: --io node moves TCP only, not TLS: drop --io node/,
    ],
    [
      ["server", "--port", "1234"],
      /^sockkit: unknown option '--port': the port is an argument, as in 'sockkit server 1234' \(see/,
    ],
    [
      ["client", "h", "--port", "1"],
      /^sockkit: unknown option '--port': the port is an argument, as in 'sockkit client HOST 1234'/,
    ],
  ];
  for (const [args, expected] of cases) {
    const r = await runCli(args);
    assert.equal(r.code, 2, `exit code for ${args.join(" ")}`);
    assert.match(r.stderr.trim(), expected, `message for ${args.join(" ")}`);
    assert.equal(r.stderr.trim().split("\n").length, 1, `one line for ${args.join(" ")}`);
  }
});

Deno.test("cli: server and client round trip, then Ctrl-C prints the summary and exits 0", async () => {
  const server = spawnCli(["server", "0", "--host", "127.0.0.1"]);
  try {
    const listening = await server.line(/^Listening on 127\.0\.0\.1:\d+ \(echo\); Ctrl-C to stop$/);
    const port = listening.match(/:(\d+) /)![1];
    const client = await runCli(["client", "127.0.0.1", port]);
    assert.equal(client.code, 0, client.stderr);
    assert.match(client.stdout, /^Received: Hello \([\d.]+ ms\)$/m);
    await server.line(/^127\.0\.0\.1:\d+ left: 1 message, 5 bytes in [\d.]+ ms \(0 online\)$/);
  } finally {
    const result = await server.stop("SIGINT");
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^Stopped after [\d.]+\w* ?\w*: 1 client served, 1 message, 5 B received$/m);
  }
});

Deno.test("cli: SIGTERM stops the server cleanly too", async () => {
  const server = spawnCli(["server", "0", "--host", "127.0.0.1", "--json"]);
  const listening = JSON.parse(await server.line(/"type":"listening"/));
  assert.equal(listening.mode, "echo");
  const result = await server.stop("SIGTERM");
  assert.equal(result.code, 0, result.stderr);
  const summary = JSON.parse(result.stdout.trim().split("\n").at(-1)!);
  assert.equal(summary.type, "summary");
  assert.equal(summary.clients, 0);
});

Deno.test("cli: --verbose shows each message, --quiet shows nothing but errors", async () => {
  const verbose = spawnCli(["server", "0", "--host", "127.0.0.1", "--verbose"]);
  const port = await portOf(verbose);
  await runCli(["client", "127.0.0.1", port, "-c", "2", "-i", "10ms"]);
  await verbose.line(/^127\.0\.0\.1:\d+ 2 \(5 bytes\)$/);
  await verbose.stop();

  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const quietPort = (probe.addr as Deno.NetAddr).port;
  probe.close();
  const quiet = spawnCli(["server", String(quietPort), "--host", "127.0.0.1", "--quiet"]);
  const client = await runCli(["client", "127.0.0.1", String(quietPort), "--timeout", "10s"], {
    retryRefused: 50,
  });
  assert.equal(client.code, 0, client.stderr);
  const result = await quiet.stop();
  assert.equal(result.stdout, "");
  assert.equal(result.stderr, "");
  assert.equal(result.code, 0);
});

Deno.test("cli: repeat prints numbered replies and a ping-style summary", async () => {
  const server = spawnCli(["server", "0", "--host", "127.0.0.1"]);
  try {
    const port = await portOf(server);
    const r = await runCli(["client", "127.0.0.1", port, "ping", "--count", "3", "--interval", "50ms"]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split("\n");
    assert.match(lines[0], /^Connected to 127\.0\.0\.1:\d+ in [\d.]+ ms$/);
    assert.match(lines[1], /^1: Received: ping \([\d.]+ ms\)$/);
    assert.match(lines[3], /^3: Received: ping \([\d.]+ ms\)$/);
    assert.match(lines[4], /^--- 127\.0\.0\.1:\d+ echo statistics ---$/);
    assert.match(lines[5], /^3 sent, 3 received, 0% lost, time \d+ ms$/);
    assert.match(lines[6], /^rtt min\/avg\/max\/mdev = [\d.]+\/[\d.]+\/[\d.]+\/[\d.]+ ms$/);
  } finally {
    await server.stop();
  }
});

Deno.test("cli: repeat against a server that goes away says why once (on the reply it cost) and exits 1", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serving = (async () => {
    const conn = await listener.accept();
    const buf = new Uint8Array(64);
    for (let i = 0; i < 2; i++) {
      const n = await conn.read(buf);
      if (n === null) break;
      await conn.write(buf.subarray(0, n));
    }
    conn.close();
  })();
  try {
    const port = String((listener.addr as Deno.NetAddr).port);
    const r = await runCli(["client", "127.0.0.1", port, "ping", "--count", "5", "--interval", "50ms"]);
    assert.equal(r.code, 1, r.stderr);
    const reason = "the server closed the connection before the full reply (got 0 of 4 bytes)";
    assert.equal(r.stderr.trim(), `3: no reply: ${reason}`);
    assert.match(r.stdout, /^3 sent, 2 received, 33% lost, time /m);
  } finally {
    await serving;
    listener.close();
  }
});

Deno.test("cli: client -q still prints the one line that explains exit 1: a reply that is not an echo", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serving = (async () => {
    const conn = await listener.accept();
    await conn.read(new Uint8Array(64));
    await conn.write(new TextEncoder().encode("nope!"));
    await conn.read(new Uint8Array(64)).catch(() => null);
    conn.close();
  })();
  try {
    const port = String((listener.addr as Deno.NetAddr).port);
    const r = await runCli(["client", "127.0.0.1", port, "-q"]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /^Received: nope! \([\d.]+ ms\) \[not an echo: differs from what was sent\]\n$/);
  } finally {
    await serving;
    listener.close();
  }
});

Deno.test("cli: pipe mode stops quietly, exit 0, when whoever reads its output goes away (| head)", async () => {
  const server = spawnCli(["server", "0", "--host", "127.0.0.1"]);
  try {
    const port = await portOf(server);
    // `sockkit client … - < big | head -c 10`: read 10 bytes of its output, then close the pipe.
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", ...CLI_PERMISSIONS, "main.ts", "client", "127.0.0.1", port, "-"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stderr = new Response(child.stderr).text();
    const writer = child.stdin.getWriter();
    const feeding = (async () => {
      for (let i = 0; i < 300; i++) await writer.write(new Uint8Array(65536));
      await writer.close();
    })().catch(() => {});
    const reader = child.stdout.getReader();
    let got = 0;
    while (got < 10) got += (await reader.read()).value?.length ?? 10;
    await reader.cancel();
    const status = await child.status;
    await feeding;
    const errors = (await stderr).split("\n").filter((l) => l && !l.startsWith("Connected to"));
    assert.deepEqual(errors, [], "no error once the output is gone");
    assert.equal(status.code, 0);
  } finally {
    await server.stop();
  }
});

Deno.test("cli: pipe mode (-) carries stdin to the server and the echo to stdout, byte for byte", async () => {
  const server = spawnCli(["server", "0", "--host", "127.0.0.1"]);
  try {
    const port = await portOf(server);
    const data = randomBytes(2 * 1024 * 1024);
    const cmd = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--quiet",
        "--allow-net",
        new URL("../main.ts", import.meta.url).pathname,
        "client",
        "127.0.0.1",
        port,
        "-",
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = cmd.stdin.getWriter();
    await writer.write(data);
    await writer.close();
    const out = await cmd.output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    assert.deepEqual(out.stdout, data);
    assert.match(new TextDecoder().decode(out.stderr), /^Connected to 127\.0\.0\.1:\d+/);
  } finally {
    await server.stop();
  }
});

Deno.test("cli: connection refused and port in use are one-line errors with exit 1", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = String((taken.addr as Deno.NetAddr).port);
  try {
    const inUse = await runCli(["server", port, "--host", "127.0.0.1"]);
    assert.equal(inUse.code, 1);
    assert.equal(
      inUse.stderr.trim(),
      `sockkit: cannot listen on 127.0.0.1:${port}: address already in use (try another port, or stop the process using it)`,
    );
  } finally {
    taken.close();
  }
  const refused = await runCli(["client", "127.0.0.1", port]);
  assert.equal(refused.code, 1);
  assert.equal(
    refused.stderr.trim(),
    `sockkit: cannot connect to 127.0.0.1:${port}: connection refused (is a server listening on that port?)`,
  );
});

Deno.test("cli: a --host that does not resolve is named, with what --host takes", async () => {
  const r = await runCli(["server", "0", "--host", "nosuch.invalid"]);
  assert.equal(r.code, 1);
  assert.equal(
    r.stderr.trim(),
    "sockkit: cannot listen on nosuch.invalid:0: name does not resolve (--host takes an address of this " +
      "machine, a name that resolves to one, or 0.0.0.0 / ::)",
  );
});

Deno.test("cli: --quiet on port 0 still says which port was picked, on stderr", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", ...CLI_PERMISSIONS, "main.ts", "server", "0", "--host", "127.0.0.1", "--quiet"],
    cwd: new URL("..", import.meta.url).pathname,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdout = new Response(child.stdout).text();
  const stderr = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  while (!seen.includes("\n")) {
    const { value, done } = await stderr.read();
    if (done) break;
    seen += value;
  }
  assert.match(seen, /^Listening on 127\.0\.0\.1:\d+ \(echo\); Ctrl-C to stop\n$/);
  child.kill("SIGINT");
  assert.equal((await child.status).code, 0);
  assert.equal(await stdout, "", "nothing else is printed");
  await stderr.cancel();
});

Deno.test("cli: a plain client talking to a TLS server is told it looks like TLS", async () => {
  const server = spawnCli(["server", "0", "--host", "127.0.0.1", "--tls"]);
  try {
    const port = (await server.line(/^Listening on/)).match(/:(\d+) /)![1];
    const r = await runCli(["client", "127.0.0.1", port]);
    assert.equal(r.code, 1);
    assert.match(
      r.stdout,
      /^Received: \\x15\\x03\\x03.* \[not an echo: differs from what was sent\] \[looks like TLS: add --tls\]$/m,
    );
  } finally {
    await server.stop();
  }
});
