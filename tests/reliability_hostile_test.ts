import assert from "node:assert/strict";
import net from "node:net";
import { writeAll } from "../lib/core/io.ts";
import { runClient } from "../client.ts";
import type { ClientEvent } from "../lib/report/events.ts";
import { concat, randomBytes, startServer } from "./_helpers.ts";
import { LinePeer } from "./_peer.ts";
import { IS_LINUX, openFds, rssKiB, spawnServer, within } from "./_proc.ts";

const MAX_LINE = 64 * 1024;
const ENDLESS = 64 * 1024 * 1024;
/** The stated bound: a 64 MiB line without an end may grow the server's RSS by less than this. */
const RSS_GROWTH_BOUND_KIB = 32 * 1024;

const text = (s: string) => new TextEncoder().encode(s);

Deno.test({
  name: "hostile input: chat: random bytes, NULs, invalid UTF-8, \\r-only lines, a 64 MiB endless line",
  ignore: !IS_LINUX,
  async fn() {
    const server = await spawnServer({
      args: ["--mode", "chat"],
      keep: (e) => e.type === "chat" || e.type === "note",
    });
    const peers: LinePeer[] = [];
    let sampling: ReturnType<typeof setInterval> | undefined;
    try {
      for (let i = 1; i <= 3; i++) {
        const peer = await LinePeer.connect(server.port);
        peers.push(peer);
        await peer.until(new RegExp(`^\\* welcome user${i},`));
      }
      const [observer, hostile, friend] = peers;
      const hostileHears = hostile.until(/^\* line too long/);

      await hostile.send(randomBytes(256 * 1024));
      await hostile.send("\nnul\0in\0the\0middle\n");
      await hostile.send(
        new Uint8Array([0x62, 0x61, 0x64, 0x20, 0xff, 0xfe, 0xc0, 0xaf, 0xed, 0xa0, 0x80, 0x0a]),
      );
      await hostile.send("one\rtwo\rthree\r");
      // The baseline comes once the server is through what came before (thousands of lines from the random
      // bytes, relayed and logged): what follows measures the endless line alone.
      await within(observer.until(/^<user2> three\r?\n?$/), 20_000, "the lines before the endless one");

      const baseline = await rssKiB(server.pid);
      let peak = baseline;
      sampling = setInterval(() => rssKiB(server.pid).then((r) => (peak = Math.max(peak, r)), () => {}), 50);
      const block = text("A".repeat(64 * 1024));
      for (let sent = 0; sent < ENDLESS; sent += block.length) await writeAll(hostile.conn, block);
      await hostile.send("\nnormal after all\n");
      await within(hostileHears, 20_000, "the too-long notice");

      // The server may still be skipping the endless line: the line after it comes once it is through.
      await within(observer.until(/^<user2> normal after all$/), 20_000, "the line after the endless one");
      clearInterval(sampling);
      peak = Math.max(peak, await rssKiB(server.pid));
      await friend.send("hello from friend\n");
      await within(observer.until(/^<user3> hello from friend$/), 20_000, "the friend's line");
      const heard = observer.lines.map((l) => l.replace(/\r?\n$/, ""));
      for (
        const line of ["<user2> nul\\x00in\\x00the\\x00middle", "<user2> one", "<user2> two", "<user2> three"]
      ) {
        assert.ok(heard.includes(line), `the observer heard ${JSON.stringify(line)}`);
      }
      assert.ok(
        heard.includes("<user2> bad \\xff\\xfe\\xc0\\xaf\\xed\\xa0\\x80"),
        "the invalid UTF-8 line was passed on, its bytes shown as \\xNN",
      );
      assert.ok(
        heard.every((l) => !/(?!\t)[\p{Cc}\p{Cf}]/u.test(l)),
        "the other members are sent no raw control (but TAB) or format characters",
      );
      assert.ok(
        heard.every((l) => l.length <= 4 * MAX_LINE + 20),
        "no line longer than --max-line was passed on (a byte shown as \\xNN takes 4 characters)",
      );
      assert.ok(!heard.some((l) => l.includes("AAAA")), "nothing of the endless line was passed on");

      const log = server.events.map((e) => String(e.text));
      assert.ok(
        log.every((l) => !/\p{Cc}/u.test(l)),
        "the server's transcript shows no raw control characters",
      );
      assert.ok(log.includes("<user2> nul\\x00in\\x00the\\x00middle"), "NULs are escaped in the transcript");
      assert.ok(log.includes("line over 65536 bytes refused (--max-line)"), "the refusal is logged");
      assert.ok(
        peak - baseline < RSS_GROWTH_BOUND_KIB,
        `server RSS went from ${baseline} KiB to ${peak} KiB during the endless line`,
      );
      for (const p of peers.splice(0)) p.close();
      const exit = await server.stop("SIGTERM");
      assert.equal(exit.code, 0, server.otherLines.join("\n"));
    } finally {
      clearInterval(sampling);
      for (const p of peers) p.close();
      await server.stop("SIGKILL");
    }
  },
});

const FIXTURES = new URL("./fixtures/", import.meta.url).pathname;
const HOSTILE_PER_KIND = 50;

/** What hostile clients send a TLS server instead of a proper handshake. */
const GARBAGE_HANDSHAKES: Record<string, () => Uint8Array> = {
  "plain text": () => text("GET / HTTP/1.0\r\nHost: sockkit\r\n\r\n"),
  "random bytes": () => randomBytes(1024),
  "truncated ClientHello": () =>
    concat([new Uint8Array([0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0x00, 0x3f, 0xfc]), randomBytes(10)]),
  "ClientHello full of garbage": () =>
    concat([new Uint8Array([0x16, 0x03, 0x01, 0x00, 0xc8, 0x01, 0x00, 0x00, 0xc4]), randomBytes(196)]),
  "oversized record": () => concat([new Uint8Array([0x16, 0x03, 0x03, 0xff, 0xff]), randomBytes(100)]),
  "nothing (closes at once)": () => new Uint8Array(0),
};

/** Sends `bytes` and waits (at most `ms`) for the server to close; true when it did. */
async function serverCloses(port: number, bytes: Uint8Array, ms: number): Promise<boolean> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    if (bytes.length === 0) return true;
    await writeAll(conn, bytes);
    const buf = new Uint8Array(4096);
    const closed = (async () => {
      try {
        while (await conn.read(buf) !== null);
      } catch { /* reset: closed as well */ }
      return true;
    })();
    return await within(closed, ms, "the server to close").catch(() => false);
  } finally {
    conn.close();
  }
}

async function tlsEcho(port: number, message: string): Promise<string | undefined> {
  const events: ClientEvent[] = [];
  await runClient({
    endpoint: { transport: "tls", hostname: "127.0.0.1", port, tls: { caFile: FIXTURES + "ca.pem" } },
    message: text(message),
    timeoutMs: 10_000,
  }, { onEvent: (e) => events.push(e) });
  const reply = events.find((e) => e.type === "reply");
  return reply?.type === "reply" ? reply.text : undefined;
}

/** The descriptors this process has open, once they are back to `baseline` or after 5 s. */
async function fdsSettled(baseline: number): Promise<number> {
  let fds = await openFds("self");
  for (let i = 0; i < 50 && fds !== baseline; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    fds = await openFds("self");
  }
  return fds;
}

Deno.test({
  name: `hostile input: TLS: ${
    6 * HOSTILE_PER_KIND
  } clients send plain text or garbage handshakes; server serves on`,
  ignore: !IS_LINUX,
  async fn() {
    const server = await startServer({
      endpoint: {
        transport: "tls",
        hostname: "127.0.0.1",
        port: 0,
        tls: {
          certFile: FIXTURES + "server.pem",
          keyFile: FIXTURES + "server-key.pem",
          handshakeTimeoutMs: 1000,
        },
      },
    });
    try {
      const baselineFds = await openFds("self");
      const startedAt = performance.now();
      const kinds = Object.entries(GARBAGE_HANDSHAKES);
      const hostile = Promise.all(
        Array.from({ length: kinds.length * HOSTILE_PER_KIND }, (_, i) => {
          const [kind, bytes] = kinds[i % kinds.length];
          return serverCloses(server.port, bytes(), 2500).then((closed) => ({ kind, closed }));
        }),
      );
      assert.equal(await tlsEcho(server.port, "served during the flood"), "served during the flood");
      const results = await hostile;
      const elapsedS = (performance.now() - startedAt) / 1000;

      // Deno keeps the socket of a handshake that stalls open until the peer sends or leaves, even after
      // sockkit gave up on it at the handshake timeout; every other kind is closed by the server.
      const held = new Set(results.filter((r) => !r.closed).map((r) => r.kind));
      held.delete("truncated ClientHello");
      assert.deepEqual([...held], [], "the server closed every other hostile connection");
      const warnings = server.events.filter((e) =>
        e.type === "warning" && e.message.startsWith("TLS handshake")
      );
      assert.ok(
        warnings.some((w) => w.type === "warning" && /no complete handshake within 1000 ms/.test(w.message)),
        "stalled handshakes are given up at the handshake timeout",
      );
      assert.ok(
        warnings.length <= 5 + 5 * Math.ceil(elapsedS),
        `${warnings.length} handshake warnings in ${elapsedS.toFixed(1)} s: at most 5 a second`,
      );
      assert.equal(await tlsEcho(server.port, "and after"), "and after");
      assert.equal(await fdsSettled(baselineFds), baselineFds, "open descriptors are back to the baseline");
      assert.equal(
        server.events.filter((e) => e.type === "connect").length,
        2,
        "only the real clients got in",
      );
    } finally {
      await server.stop();
    }
  },
});

/**
 * Sends `message` from a fresh socket and returns the echo, trying up to 5 times (a second each): right
 * after a flood the server's receive buffer can still be full, and UDP drops what does not fit.
 */
async function udpEchoAfterFlood(to: Deno.NetAddr, message: string): Promise<string | undefined> {
  const socket = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
  try {
    const replies = socket.receive();
    replies.catch(() => {});
    for (let attempt = 0; attempt < 5; attempt++) {
      await socket.send(text(message), to);
      const reply = await within(replies, 1000, "an echo").catch(() => undefined);
      if (reply) return new TextDecoder().decode(reply[0]);
    }
    return undefined;
  } finally {
    socket.close();
  }
}

Deno.test({
  name:
    "hostile input: UDP: 50 sources flood 64 KiB datagrams over --max-datagram; none echoed, server serves on",
  ignore: !IS_LINUX,
  async fn() {
    const maxDatagram = 1024;
    const server = await startServer({
      endpoint: { transport: "udp", hostname: "127.0.0.1", port: 0 },
      udp: { maxDatagram, ratePerSecond: 0 },
    });
    const sockets = Array.from(
      { length: 50 },
      () => Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" }),
    );
    try {
      const to: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port: server.port };
      const startedAt = performance.now();
      const largest = new Uint8Array(65_507); // the largest UDP payload over IPv4
      let echoedBig = 0;
      const listening = sockets.map(async (s) => {
        try {
          for (;;) {
            const [data] = await s.receive(new Uint8Array(65_536));
            if (data.length > maxDatagram) echoedBig++;
          }
        } catch { /* closed at the end */ }
      });
      for (let round = 0; round < 20; round++) {
        await Promise.all(
          sockets.map((s, k) => s.send(round % 2 ? largest : randomBytes(maxDatagram + 1 + k * 1000), to)),
        );
      }
      const elapsedS = (performance.now() - startedAt) / 1000;

      assert.equal(await udpEchoAfterFlood(to, "still here"), "still here");
      for (const s of sockets) s.close();
      await Promise.all(listening);
      assert.equal(echoedBig, 0, "no datagram over --max-datagram was echoed");
      const warnings = server.events.filter((e) =>
        e.type === "warning" && e.message.startsWith("dropped a datagram")
      );
      assert.ok(warnings.length > 0, "oversized datagrams are reported");
      assert.ok(
        warnings.length <= 5 + 5 * Math.ceil(elapsedS + 1),
        `${warnings.length} warnings: at most 5 a second`,
      );
      const summary = await server.stop();
      assert.ok(
        summary.bytes > 0 && summary.bytes % "still here".length === 0,
        "only normal datagrams were served",
      );
    } finally {
      for (const s of sockets) {
        try {
          s.close();
        } catch { /* already closed */ }
      }
      await server.stop();
    }
  },
});

/**
 * Holds `count` TCP connections to `port` from `localAddress` that never send a byte, reopening each one the
 * server closes, until `stop()`: the handshake flood of a TLS lock-out attack.
 */
function silentFlood(port: number, count: number, localAddress: string) {
  let stopped = false;
  const sockets = new Set<net.Socket>();
  let opened = 0;
  const open = () => {
    if (stopped) return;
    opened++;
    const socket = net.connect({ port, host: "127.0.0.1", localAddress });
    sockets.add(socket);
    socket.on("error", () => {});
    socket.on("close", () => {
      sockets.delete(socket);
      setTimeout(open, 10);
    });
  };
  for (let i = 0; i < count; i++) open();
  return {
    get opened() {
      return opened;
    },
    stop() {
      stopped = true;
      for (const socket of sockets) socket.destroy();
    },
  };
}

Deno.test({
  name: `hostile input: a flood of silent TLS connections never holds up real clients${
    IS_LINUX ? "" : " (ignored: needs a second loopback address)"
  }`,
  ignore: !IS_LINUX,
  async fn() {
    const server = await spawnServer({
      args: ["--tls", "--cert", FIXTURES + "server.pem", "--key", FIXTURES + "server-key.pem"],
      keep: (e) => e.type === "connect",
    });
    // The attacker comes from 127.0.0.2, the real clients from 127.0.0.1: a TLS client waits 5 s by default.
    const flood = silentFlood(server.port, 700, "127.0.0.2");
    try {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const connectMs: number[] = [];
      for (let i = 0; i < 6; i++) {
        const events: ClientEvent[] = [];
        await runClient({
          endpoint: {
            transport: "tls",
            hostname: "127.0.0.1",
            port: server.port,
            tls: { caFile: FIXTURES + "ca.pem" },
          },
          message: text(`real client ${i}`),
          timeoutMs: 5_000,
        }, { onEvent: (e) => events.push(e) });
        const connected = events.find((e) => e.type === "connected");
        if (connected?.type === "connected") connectMs.push(connected.connectMs);
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
      assert.equal(connectMs.length, 6, "every real client got in");
      assert.ok(Math.max(...connectMs) < 1000, `real clients connected in ${connectMs.map(Math.round)} ms`);
      assert.ok(flood.opened >= 700, "the flood ran");
      console.log(
        `flood: ${flood.opened} silent connections opened; real clients connected in ` +
          `${connectMs.map((ms) => ms.toFixed(1)).join(", ")} ms`,
      );
    } finally {
      flood.stop();
      await server.stop();
    }
  },
});
