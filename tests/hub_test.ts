import assert from "node:assert/strict";
import { writeAll } from "../lib/core/io.ts";
import { type CliProcess, hasCommand, portOf, randomBytes, runCli, sha256, spawnCli } from "./_helpers.ts";
import { LinePeer } from "./_peer.ts";
import { within } from "./_proc.ts";
import { NO_REDIS, type RedisServer, startRedis } from "./_redis.ts";

/** A sockkit server sharing a room over the hub, spawned with the CLI's real permissions. */
async function instance(mode: "chat" | "broadcast", hub: string, extra: string[] = []) {
  const proc = spawnCli(["server", "0", "--host", "127.0.0.1", "--mode", mode, "--hub", hub, ...extra]);
  return { proc, port: Number(await portOf(proc)) };
}

async function join(port: number, welcome: RegExp): Promise<LinePeer> {
  const peer = await LinePeer.connect(port);
  assert.match(await peer.line(), welcome);
  return peer;
}

/** Runs `body` with a fresh redis-server, then stops what it started. */
function withRedis(body: (redis: RedisServer, procs: CliProcess[], peers: LinePeer[]) => Promise<void>) {
  return async () => {
    const redis = await startRedis();
    const procs: CliProcess[] = [];
    const peers: LinePeer[] = [];
    try {
      await body(redis, procs, peers);
    } finally {
      for (const p of peers) p.close();
      await Promise.all(procs.map((p) => p.stop()));
      await redis.stop();
    }
  };
}

Deno.test({
  name: "hub: chat across two instances: joins, lines, /nick, /who and leaves reach everyone",
  ignore: NO_REDIS !== undefined,
  fn: withRedis(async (redis, procs, peers) => {
    const a = await instance("chat", redis.url);
    const b = await instance("chat", redis.url);
    procs.push(a.proc, b.proc);
    assert.match(
      await a.proc.line(/^hub: /),
      /^hub: room lobby shared over redis:\/\/127\.0\.0\.1:\d+ as instance \w+$/,
    );
    const alice = await join(a.port, /^\* welcome user1, 0 others here/);
    peers.push(alice);
    const bob = await join(b.port, /^\* welcome user2, 1 other here/);
    peers.push(bob);
    assert.equal(await alice.line(), "* user2 joined", "a join on B is announced on A");

    await alice.send("/nick alice\n");
    assert.equal(await alice.line(), "* user1 is now alice");
    assert.equal(await bob.line(), "* user1 is now alice");
    await bob.send("hello from B\n");
    assert.equal(await alice.line(), "<user2> hello from B");
    await alice.send("hello from A\n");
    assert.equal(await bob.line(), "<alice> hello from A");

    const carol = await join(b.port, /^\* welcome user3, 2 others here/);
    peers.push(carol);
    assert.equal(await alice.line(), "* user3 joined");
    assert.equal(await bob.line(), "* user3 joined");
    await carol.send("/who\n");
    assert.equal(
      await carol.line(),
      "* 3 here: user2, user3, alice",
      "this server's members, then the others'",
    );
    await alice.send("/who\n");
    assert.equal(await alice.line(), "* 3 here: alice, user2, user3");

    await carol.send("/quit\n");
    assert.equal(await carol.line(), "* bye");
    assert.equal(await alice.line(), "* user3 left");
    assert.equal(await bob.line(), "* user3 left");
    assert.match(await a.proc.line(/^<user2> hello from B$/), /hello from B/, "A's log shows B's lines too");
  }),
});

Deno.test({
  name: "hub: a name is unique across instances, any case, and free again once its holder leaves",
  ignore: NO_REDIS !== undefined,
  fn: withRedis(async (redis, procs, peers) => {
    const a = await instance("chat", redis.url, ["--room", "names"]);
    const b = await instance("chat", redis.url, ["--room", "names"]);
    procs.push(a.proc, b.proc);
    const one = await join(a.port, /^\* welcome user1,/);
    const two = await join(b.port, /^\* welcome user2,/);
    peers.push(one, two);
    await one.send("/nick Bob\n");
    assert.equal(await two.until(/is now/), "* user1 is now Bob");
    await two.send("/nick bob\n");
    assert.equal(await two.line(), "* bob is taken: pick another name");
    await one.send("/quit\n");
    assert.equal(await two.line(), "* Bob left");
    await two.send("/nick bob\n");
    assert.equal(await two.line(), "* user2 is now bob");
  }),
});

Deno.test({
  name: "hub: broadcast bytes from one instance's client reach every other client on both, not the sender",
  ignore: NO_REDIS !== undefined,
  fn: withRedis(async (redis, procs) => {
    const a = await instance("broadcast", redis.url);
    const b = await instance("broadcast", redis.url);
    procs.push(a.proc, b.proc);
    const sender = await Deno.connect({ hostname: "127.0.0.1", port: a.port });
    const local = await Deno.connect({ hostname: "127.0.0.1", port: a.port });
    const remote = await Deno.connect({ hostname: "127.0.0.1", port: b.port });
    try {
      await new Promise((r) => setTimeout(r, 300)); // all three are members
      const data = new Uint8Array([0, 1, 2, 0xff, 0x0a, 3]);
      await sender.write(data);
      for (const conn of [local, remote]) {
        const got = new Uint8Array(data.length);
        let n = 0;
        while (n < data.length) n += (await conn.read(got.subarray(n))) ?? Infinity;
        assert.deepEqual(got, data);
      }
      const own = Promise.race([
        sender.read(new Uint8Array(16)),
        new Promise((r) => setTimeout(r, 300, "none")),
      ]);
      assert.equal(await own, "none", "the sender hears nothing back");
    } finally {
      for (const c of [sender, local, remote]) c.close();
    }
  }),
});

Deno.test({
  name: "hub: Redis killed and restarted while clients chat on two instances",
  ignore: NO_REDIS !== undefined,
  fn: withRedis(async (redis, procs, peers) => {
    const a = await instance("chat", redis.url);
    const b = await instance("chat", redis.url);
    procs.push(a.proc, b.proc);
    const a1 = await join(a.port, /^\* welcome user1,/);
    const a2 = await join(a.port, /^\* welcome user2,/);
    const b1 = await join(b.port, /^\* welcome user3,/);
    peers.push(a1, a2, b1);
    await a1.until(/user3 joined/);
    await a2.until(/user3 joined/);
    await a1.send("before\n");
    assert.equal(await b1.line(), "<user1> before");
    assert.equal(await a2.line(), "<user1> before");

    await redis.kill();
    for (const p of [a1, a2, b1]) {
      assert.equal(await p.line(), "* other servers unreachable: only this server's members hear you");
    }
    await a1.send("during\n");
    assert.equal(await a2.line(), "<user1> during", "the local room keeps working");
    await b1.send("/who\n");
    assert.equal(await b1.line(), "* 1 here: user3 (other servers unreachable)");

    await new Promise((r) => setTimeout(r, 1000)); // a few reconnection attempts fail
    await redis.restart();
    for (const p of [a1, a2, b1]) assert.equal(await p.line(), "* other servers reachable again");
    await a.proc.line(
      /^hub: Redis at .* is back after .*: resubscribed to room lobby, 2 names registered again/,
    );
    await b.proc.line(/^hub: Redis at .* is back/);

    await a1.send("after\n");
    assert.equal(await b1.line(), "<user1> after", "resubscribed; nothing sent meanwhile arrives late");
    await b1.send("/who\n");
    assert.equal(await b1.line(), "* 3 here: user3, user1, user2", "presence registered again");
    await b1.send("back from B\n");
    assert.equal(await a1.line(), "<user3> back from B");

    for (const p of peers) p.close();
    peers.length = 0;
    const { stderr } = await a.proc.stop();
    const warnings = stderr.split("\n").filter((l) => l.startsWith("warning: hub: lost Redis"));
    assert.equal(warnings.length, 1, stderr);
    assert.match(
      warnings[0],
      /^warning: hub: lost Redis at redis:\/\/127\.0\.0\.1:\d+ \(connection (closed|refused)\)/,
    );
  }),
});

Deno.test({
  name: "hub: a crashed instance's members leave /who elsewhere within the presence expiry (10 s)",
  ignore: NO_REDIS !== undefined,
  fn: withRedis(async (redis, procs, peers) => {
    const a = await instance("chat", redis.url);
    const b = await instance("chat", redis.url);
    procs.push(b.proc);
    const gone = await join(a.port, /^\* welcome user1,/);
    const stays = await join(b.port, /^\* welcome user2, 1 other here/);
    peers.push(gone, stays);
    await a.proc.stop("SIGKILL");
    const crashedAt = performance.now();
    let who = "";
    while (performance.now() - crashedAt < 15_000) {
      await stays.send("/who\n");
      who = await stays.until(/ here: /);
      if (who === "* 1 here: user2") break;
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.equal(who, "* 1 here: user2");
    assert.ok(performance.now() - crashedAt < 12_000, "within the 10 s expiry (and the polling)");
  }),
});

Deno.test({
  name: "hub: Redis down at start is one line and exit 1",
  ignore: NO_REDIS !== undefined,
  fn: async () => {
    const redis = await startRedis();
    const url = redis.url;
    await redis.stop();
    const result = await runCli(["server", "0", "--host", "127.0.0.1", "--mode", "chat", "--hub", url]);
    assert.equal(result.code, 1, result.stderr);
    const lines = result.stderr.trim().split("\n");
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0], /cannot use the hub at redis:\/\/127\.0\.0\.1:\d+ \(--hub\): connection refused/);
    assert.doesNotMatch(result.stdout, /Listening/);
  },
});

Deno.test("hub: --hub and --room outside chat and broadcast, or malformed, are usage errors", async () => {
  const cases: [string[], RegExp][] = [
    [["--hub", "redis://127.0.0.1:6379"], /--hub shares a chat or broadcast room, not --mode echo/],
    [["--mode", "chat", "--room", "x"], /--room names a room shared over --hub/],
    [["--mode", "chat", "--hub", "http://127.0.0.1:6379"], /unsupported scheme 'http:'/],
    [["--mode", "chat", "--hub", "redis://127.0.0.1"], /names no port/],
    [["--mode", "chat", "--hub", "redis://127.0.0.1:6379/x"], /database 'x' is not a number/],
    [["--mode", "chat", "--hub", "redis://u:secret@127.0.0.1/1"], /redis:\/\/u:\*\*\*@127\.0\.0\.1\/1/],
    [["--mode", "chat", "--hub", "redis://127.0.0.1:6379", "--room", "a b"], /--room 'a b': a room name is/],
    [
      ["--mode", "chat", "--udp", "--hub", "redis://127.0.0.1:6379"],
      /--hub works with chat and broadcast, which UDP does not serve/,
    ],
  ];
  for (const [args, message] of cases) {
    const result = await runCli(["server", "0", ...args]);
    assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
    assert.match(result.stderr, message, args.join(" "));
    assert.doesNotMatch(result.stderr, /secret/, "the password is never printed");
  }
});

Deno.test({
  name: "hub: a slow client on another instance is cut off by its own server; everyone else gets every byte",
  ignore: NO_REDIS !== undefined,
  fn: withRedis(async (redis, procs) => {
    const a = await instance("broadcast", redis.url);
    const b = await instance("broadcast", redis.url, ["--max-queue", "1MiB"]);
    procs.push(a.proc, b.proc);
    const sender = await Deno.connect({ hostname: "127.0.0.1", port: a.port });
    const localFast = await Deno.connect({ hostname: "127.0.0.1", port: a.port });
    const slow = await Deno.connect({ hostname: "127.0.0.1", port: b.port });
    const remoteFast = await Deno.connect({ hostname: "127.0.0.1", port: b.port });
    try {
      await new Promise((r) => setTimeout(r, 300));
      const data = randomBytes(12 * 1024 * 1024);
      const readAll = async (conn: Deno.Conn) => {
        const got = new Uint8Array(data.length);
        let n = 0;
        while (n < data.length) {
          const m = await conn.read(got.subarray(n));
          if (m === null) break;
          n += m;
        }
        return got.subarray(0, n);
      };
      const reading = Promise.all([readAll(localFast), readAll(remoteFast)]);
      // in 64 KiB steps, as a client streaming steadily would: what Redis relays comes in bursts, and a
      // burst larger than --max-queue would cut off even a client that reads as fast as it can
      for (let at = 0; at < data.length; at += 64 * 1024) {
        await writeAll(sender, data.subarray(at, at + 64 * 1024));
        await new Promise((r) => setTimeout(r, 2));
      }
      const [local, remote] = await within(reading, 20_000, "both fast readers to get everything");
      assert.equal(await sha256(local), await sha256(data), "the sender's instance");
      assert.equal(
        await sha256(remote),
        await sha256(data),
        "the other instance, while its slow client lags",
      );
      assert.match(
        await within(b.proc.line(/ left \(too slow/), 5_000, "the slow client cut off"),
        /too slow: more than 1\.0 MiB waiting to be sent/,
      );
    } finally {
      for (const c of [sender, localFast, slow, remoteFast]) c.close();
    }
  }),
});

Deno.test({
  name: "hub: broadcast carries on across a Redis restart, and --json shows the hub's state",
  ignore: NO_REDIS !== undefined,
  fn: withRedis(async (redis, procs) => {
    const json = (mode: string) =>
      spawnCli([
        "server",
        "0",
        "--host",
        "127.0.0.1",
        "--mode",
        mode,
        "--hub",
        redis.url,
        "--room",
        "game",
        "--json",
      ]);
    const a = json("broadcast");
    const b = json("broadcast");
    procs.push(a, b);
    const portIn = async (p: CliProcess) =>
      Number(JSON.parse(await p.line(/"type":"listening"/)).address.split(":")[1]);
    const connected = JSON.parse(await a.line(/"type":"hub"/));
    assert.equal(connected.state, "connected");
    assert.equal(connected.room, "game");
    assert.match(connected.instance, /^[0-9a-f]{8}$/);
    const sender = await Deno.connect({ hostname: "127.0.0.1", port: await portIn(a) });
    const receiver = await Deno.connect({ hostname: "127.0.0.1", port: await portIn(b) });
    try {
      await new Promise((r) => setTimeout(r, 300));
      await redis.kill();
      await redis.restart();
      assert.equal(JSON.parse(await a.line(/"state":"up"/)).type, "hub");
      await b.line(/"state":"up"/);
      await sender.write(new TextEncoder().encode("after the restart\n"));
      const buf = new Uint8Array(64);
      const n = await receiver.read(buf);
      assert.equal(new TextDecoder().decode(buf.subarray(0, n ?? 0)), "after the restart\n");
    } finally {
      sender.close();
      receiver.close();
    }
    const { stderr } = await a.stop();
    const down = stderr.split("\n").filter((l) => l.includes('"state":"down"'));
    assert.equal(down.length, 1, stderr);
    assert.match(JSON.parse(down[0]).message, /^lost Redis at redis:\/\/127\.0\.0\.1:\d+/);
  }),
});

Deno.test({
  name: "hub: rediss:// verifies the certificate: a self-signed one is one line and exit 1",
  ignore: NO_REDIS !== undefined || !hasCommand("openssl"),
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "sockkit-rediss-" });
    const redis = await startRedis({ tlsDir: dir });
    try {
      const result = await runCli([
        "server",
        "0",
        "--mode",
        "chat",
        "--hub",
        `rediss://localhost:${redis.port}`,
      ]);
      assert.equal(result.code, 1, result.stderr);
      assert.equal(
        result.stderr.trim(),
        `sockkit: cannot use the hub at rediss://localhost:${redis.port} (--hub): self-signed certificate: ` +
          "rediss:// needs a certificate this machine trusts",
      );
    } finally {
      await redis.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "hub: one sender's lines reach another instance complete and in the order they were said",
  ignore: NO_REDIS !== undefined,
  fn: withRedis(async (redis, procs, peers) => {
    const a = await instance("chat", redis.url);
    const b = await instance("chat", redis.url);
    procs.push(a.proc, b.proc);
    const talker = await join(a.port, /^\* welcome user1,/);
    const listener = await join(b.port, /^\* welcome user2,/);
    peers.push(talker, listener);
    await talker.until(/user2 joined/);
    await talker.send(Array.from({ length: 500 }, (_, i) => `line ${i}\n`).join(""));
    for (let i = 0; i < 500; i++) assert.equal(await listener.line(), `<user1> line ${i}`);
  }),
});

/** Runs `redis-cli` on `redis` with `args`, the last argument read from `stdin` (`-x`: any bytes, any size). */
async function redisCli(redis: RedisServer, args: string[], stdin: string | Uint8Array): Promise<string> {
  const child = new Deno.Command("redis-cli", {
    args: ["-p", String(redis.port), "-x", ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(typeof stdin === "string" ? new TextEncoder().encode(stdin) : stdin);
  await writer.close();
  const out = await child.output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout).trim();
}

/** The value of one metric in `/metrics` text. */
async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(url)).text();
  return Number(new RegExp(`^${name} (\\d+)$`, "m").exec(text)?.[1]);
}

/**
 * The value of a metric once it reaches `atLeast` (or after 5 s): the event loop that counts a hub drop is
 * not always the one that serves the client who saw the next line, so the count may trail that line a little.
 */
async function settledMetric(url: string, name: string, atLeast: number): Promise<number> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const value = await metric(url, name);
    if (value >= atLeast || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

Deno.test({
  name:
    "hub: what a raw Redis client publishes is passed on only as a line an instance sends; the rest is counted",
  ignore: NO_REDIS !== undefined || !hasCommand("redis-cli"),
  fn: withRedis(async (redis, procs, peers) => {
    const a = await instance("chat", redis.url, ["--metrics", "127.0.0.1:0"]);
    procs.push(a.proc);
    await a.proc.line(/^hub: room lobby shared/);
    const metricsUrl = (await a.proc.line(/^Metrics on /)).replace(/^Metrics on /, "");
    const alice = await join(a.port, /^\* welcome user1, 0 others here/);
    peers.push(alice);
    const channel = "sockkit:chat:lobby";
    // (the warnings are rate-limited: the ones asserted below come first, within the first second's burst)
    const hostile: (string | Uint8Array)[] = [
      new TextEncoder().encode(`0badc0de\n<bob> ${"x".repeat(2 * 1024 * 1024)}`),
      "0badc0de\n<bob> hi\n<admin> a forged second line",
      "0badc0de\n<bob> \x1b[2J\x1b]0;pwned\x07 cleared",
      "0badc0de\n<bob> \u202eevil",
      "0badc0de\nSYSTEM: the server restarts now",
      "0badc0de\n<b\u200bob> an invisible character in the name",
      "0badc0de\n* user1 is now root",
      "0badc0de\n<user1> in the name of a member here",
      "not-an-instance\n<bob> hi",
      "no tag at all",
      new Uint8Array([...new TextEncoder().encode("0badc0de\n<bob> "), 0xff, 0xfe]),
    ];
    for (const message of hostile) await redisCli(redis, ["PUBLISH", channel], message);
    await redisCli(redis, ["PUBLISH", channel], "0badc0de\n<bob> hello, \\x1b as text is fine");
    assert.equal(await alice.line(), "<bob> hello, \\x1b as text is fine", "the hostile ones never arrived");
    const dropped = "sockkit_hub_dropped_total";
    assert.equal(await settledMetric(metricsUrl, dropped, hostile.length), hostile.length);

    // planted names: one with an escape, one under another name's key, one without an instance, one valid
    await redisCli(redis, ["SET", `${channel}:name:evil`], "0badc0de \x1b[31mroot");
    await redisCli(redis, ["SET", `${channel}:name:mallory`], "0badc0de user1");
    await redisCli(redis, ["SET", `${channel}:name:junk`], "junk");
    await redisCli(redis, ["SET", `${channel}:name:carol`], "0badc0de carol");
    await alice.send("/who\n");
    assert.equal(await alice.line(), "* 2 here: user1, carol");
    assert.equal(await settledMetric(metricsUrl, dropped, hostile.length + 3), hostile.length + 3);

    const { stdout, stderr } = await a.proc.stop();
    const raw = [...stdout + stderr].filter((c) => /[\p{Cc}\p{Cf}]/u.test(c) && c !== "\n" && c !== "\t");
    assert.deepEqual(raw, [], "no raw control or invisible character in the log");
    const warned = stderr.split("\n").filter((l) => l.startsWith("warning: hub: dropped a message"));
    assert.ok(warned.length >= 10, stderr);
    assert.match(stderr, /not one line of screen-safe text: '<bob> hi\\n<admin> a forged second line'/);
    assert.match(stderr, /a line in the name of user1, a member here/);
    assert.match(stderr, /2\.0 MiB, over the 1\.0 MiB a message may carry/);
  }),
});

Deno.test({
  name: "hub: an instance publishes nothing over 1 MiB: a longer line reaches its own members only",
  ignore: NO_REDIS !== undefined,
  fn: withRedis(async (redis, procs, peers) => {
    const a = await instance("chat", redis.url, ["--max-line", "4MiB"]);
    const b = await instance("chat", redis.url);
    procs.push(a.proc, b.proc);
    const alice = await join(a.port, /^\* welcome user1/);
    peers.push(alice);
    const bob = await join(b.port, /^\* welcome user2/);
    peers.push(bob);
    const carol = await join(a.port, /^\* welcome user3/);
    peers.push(carol);
    assert.equal(await bob.line(), "* user3 joined");
    const long = "x".repeat(2 * 1024 * 1024);
    await alice.send(`${long}\n`);
    const local = await carol.line();
    assert.ok(local === `<user1> ${long}`, `this server's members get it, not ${local.length} characters`);
    await alice.send("small\n");
    const remote = await bob.line();
    assert.ok(
      remote === "<user1> small",
      `the other server's got ${remote.slice(0, 40)}… (${remote.length})`,
    );
    const { stderr } = await a.proc.stop();
    assert.match(
      stderr,
      /^warning: hub: a message of 2\.0 MiB reached this server's clients only: over the 1\.0 MiB a message may carry to the other instances$/m,
    );
  }),
});
