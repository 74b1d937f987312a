/**
 * Hostile peers on the HTTP side (ws://, wss://, --web, --metrics): fragmented messages past --max-message,
 * framing errors, half-sent request heads, and running out of descriptors. Each case failed on 934fc0e.
 * @module
 */
import assert from "node:assert/strict";
import { writeAll } from "../lib/core/io.ts";
import { IS_LINUX, type JsonEvent, openFds, spawnServer, within } from "./_proc.ts";
import { readUntilClose } from "./_web_ws.ts";
import { rawUpgrade } from "./_ws.ts";

const encoder = new TextEncoder();

/** A masked client frame: `first` byte (FIN, RSV, opcode), any payload length (64-bit lengths included). */
function frame(first: number, payload: Uint8Array, opts: { masked?: boolean; length?: bigint } = {}) {
  const masked = opts.masked ?? true;
  const n = opts.length ?? BigInt(payload.length);
  const head: number[] = [first];
  const m = masked ? 0x80 : 0;
  if (n < 126n) head.push(m | Number(n));
  else if (n < 65536n) head.push(m | 126, Number(n >> 8n), Number(n & 255n));
  else {
    head.push(m | 127);
    for (let i = 7; i >= 0; i--) head.push(Number((n >> BigInt(8 * i)) & 255n));
  }
  const mask = [9, 8, 7, 6];
  const out = new Uint8Array(head.length + (masked ? 4 : 0) + payload.length);
  out.set(head);
  if (masked) out.set(mask, head.length);
  const at = head.length + (masked ? 4 : 0);
  for (let i = 0; i < payload.length; i++) out[at + i] = payload[i] ^ (masked ? mask[i & 3] : 0);
  return out;
}

/** Sends fragments of a message that never ends, until the server closes; the bytes it took. */
async function endlessFragments(conn: Deno.Conn): Promise<number> {
  const piece = new Uint8Array(64 * 1024 - 1).fill(0x61);
  let sent = 0;
  try {
    await writeAll(conn, frame(0x01, piece)); // FIN=0, text: the start of a message
    sent += piece.length;
    while (sent < 256 * 1024 * 1024) {
      await writeAll(conn, frame(0x00, piece)); // FIN=0, continuation
      sent += piece.length;
    }
  } catch {
    // closed by the server
  }
  return sent;
}

/** The server's listening address for a `ws://`/`wss://` spec, and its --web and --metrics URLs. */
function urls(events: JsonEvent[]) {
  const http = (serves: string) =>
    events.find((e) => e.type === "http" && e.serves === serves)?.url as string;
  return { web: http("web"), metrics: http("metrics") };
}

Deno.test({
  name:
    "hostile: a fragmented message that never ends is closed with 1009 at --max-message (ws://, wss://, --web)",
  ignore: !IS_LINUX,
  async fn() {
    const dir = await Deno.makeTempDir();
    for (const scheme of ["ws", "wss"]) {
      const certFile = `${dir}/cert.pem`;
      const server = await spawnServer({
        listen: `${scheme}://127.0.0.1:0/`,
        args: ["--max-message", "64KiB", ...(scheme === "wss" ? ["--write-cert", certFile] : [])],
      });
      try {
        const ca = scheme === "wss" ? await Deno.readTextFile(certFile) : undefined;
        const conn = await rawUpgrade(server.port, "/", ca);
        const [sent, closed] = await within(
          Promise.all([endlessFragments(conn), readUntilClose(conn)]),
          20_000,
          "the server to close an endless message",
        );
        conn.close();
        assert.equal(closed?.code, 1009, `${scheme}: closed with 1009`);
        assert.equal(closed?.reason, "a message over --max-message (65536 bytes)");
        assert.ok(sent < 64 * 1024 * 1024, `${scheme}: cut off after ${sent} bytes, not buffered on`);
        const left = await server.waitFor((e) => e.type === "disconnect", 5000);
        assert.equal(left.reason, "a message over --max-message (65536 bytes)");
      } finally {
        await server.stop();
      }
    }
    const chat = await spawnServer({ args: ["--mode", "chat", "--web", "127.0.0.1:0"] });
    try {
      await chat.waitFor((e) => e.type === "http", 5000);
      const port = Number(new URL(urls(chat.events).web).port);
      const conn = await rawUpgrade(port, "/ws");
      const [sent, closed] = await within(
        Promise.all([endlessFragments(conn), readUntilClose(conn)]),
        20_000,
        "the page's socket to close an endless message",
      );
      conn.close();
      assert.equal(closed?.code, 1009);
      assert.ok(sent < 64 * 1024 * 1024, `--web: cut off after ${sent} bytes`);
    } finally {
      await chat.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "hostile: framing errors are closed with 1002 (1009 for a 2^63 length), each with one log line",
  ignore: !IS_LINUX,
  async fn() {
    const server = await spawnServer({ listen: "ws://127.0.0.1:0/" });
    const cases: [string, Uint8Array, number, RegExp][] = [
      ["unmasked", frame(0x81, encoder.encode("hi"), { masked: false }), 1002, /MASK must be set/],
      ["bad opcode", frame(0x83, encoder.encode("hi")), 1002, /invalid opcode 3/],
      ["RSV bits", frame(0xc1, encoder.encode("hi")), 1002, /RSV1 must be clear/],
      ["fragmented ping", frame(0x09, encoder.encode("hi")), 1002, /FIN must be set/],
      ["ping over 125 bytes", frame(0x89, new Uint8Array(126)), 1002, /invalid payload length 126/],
      [
        "2^63 length",
        frame(0x82, new Uint8Array(0), { length: 2n ** 63n }),
        1009,
        /payload length > 2\^53 - 1/,
      ],
    ];
    try {
      for (const [name, bad, code, why] of cases) {
        const conn = await rawUpgrade(server.port, "/");
        await writeAll(conn, bad);
        const closed = await within(readUntilClose(conn), 10_000, `${name}: a close frame`);
        conn.close();
        assert.equal(closed?.code, code, `${name}: close code`);
        assert.match(closed?.reason ?? "", why, `${name}: close reason`);
        const left = await server.waitFor(
          (e) => e.type === "disconnect" && why.test(String(e.reason)),
          5000,
          `${name}: the log line`,
        );
        assert.match(
          String(left.reason),
          code === 1009 ? /closed with 1009/ : /^protocol error: .*closed with 1002/,
        );
      }
      const lines = server.events.filter((e) => e.type === "disconnect");
      assert.equal(lines.length, cases.length, "one line each");
    } finally {
      await server.stop();
    }
  },
});

/** Opens `n` connections that send a request line and then one header byte every second. */
async function halfSent(port: number, n: number) {
  const conns = await Promise.all(
    Array.from({ length: n }, () => Deno.connect({ hostname: "127.0.0.1", port }).catch(() => undefined)),
  );
  const open = conns.filter((c): c is Deno.TcpConn => c !== undefined);
  const closedAfter = open.map(async (conn) => {
    const started = performance.now();
    try {
      await conn.write(encoder.encode("GET / HTTP/1.1\r\n"));
      for (let i = 0; i < 30; i++) {
        await conn.write(encoder.encode("X"));
        const n = await Promise.race([
          conn.read(new Uint8Array(4096)),
          new Promise<"on">((r) => setTimeout(() => r("on"), 1000)),
        ]);
        if (n !== "on") break;
      }
    } catch {
      // closed by the server
    }
    conn.close();
    return performance.now() - started;
  });
  return Promise.all(closedAfter);
}

Deno.test({
  name:
    "hostile: half-sent request heads are closed within the 5 s head deadline, and capped (ws://, --web, --metrics)",
  ignore: !IS_LINUX,
  async fn() {
    const server = await spawnServer({
      listen: "ws://127.0.0.1:0/",
      args: ["--max-conns", "10", "--idle-timeout", "5s"],
    });
    try {
      const took = await within(halfSent(server.port, 300), 30_000, "half-sent heads to be closed");
      assert.ok(took.every((ms) => ms < 8000), `slowest closed after ${Math.round(Math.max(...took))} ms`);
      assert.ok(await openFds(server.pid) < 60, "the server holds no descriptor for them");
      const refusals = server.events.filter((e) => e.type === "refused");
      assert.ok(
        refusals.some((e) => /no complete request head within 5 s/.test(String(e.reason))),
        JSON.stringify(refusals.slice(0, 3)),
      );
      assert.ok(
        refusals.some((e) => /more than 256 requests in progress/.test(String(e.reason))),
        "past 256 pending heads a connection is turned away at once",
      );
    } finally {
      await server.stop();
    }
    const chat = await spawnServer({
      args: ["--mode", "chat", "--web", "127.0.0.1:0", "--metrics", "127.0.0.1:0"],
    });
    try {
      await chat.waitForCount("http", 2, 5000);
      const { web, metrics } = urls(chat.events);
      for (const url of [web, metrics]) {
        const took = await within(halfSent(Number(new URL(url).port), 20), 20_000, `${url}: heads closed`);
        assert.ok(
          took.every((ms) => ms < 8000),
          `${url}: slowest closed after ${Math.round(Math.max(...took))} ms`,
        );
      }
      const answer = await fetch(metrics);
      assert.equal(answer.status, 200, "and /metrics still answers");
      await answer.body?.cancel();
    } finally {
      await chat.stop();
    }
  },
});

Deno.test({
  name:
    "hostile: out of descriptors on --metrics, --web and ws://: the server warns, lives, and accepts again",
  ignore: !IS_LINUX,
  async fn() {
    for (const listen of [undefined, "ws://127.0.0.1:0/"]) {
      const server = await spawnServer({
        listen,
        fdLimit: 300,
        args: listen ? [] : ["--mode", "chat", "--web", "127.0.0.1:0", "--metrics", "127.0.0.1:0"],
      });
      try {
        if (!listen) await server.waitForCount("http", 2, 5000);
        const { web, metrics } = urls(server.events);
        const targets = listen ? [`http://127.0.0.1:${server.port}/`] : [metrics, web];
        for (const url of targets) {
          const port = Number(new URL(url).port);
          const hogs: Deno.Conn[] = [];
          for (let i = 0; i < 320; i++) {
            hogs.push(await Deno.connect({ hostname: "127.0.0.1", port }));
          }
          await server.waitFor(
            (e) => e.type === "warning" && /too many open files/.test(String(e.message)),
            10_000,
            `${url}: the descriptor warning`,
          );
          for (const hog of hogs) hog.close();
          const answer = await within(
            fetch(url.replace(/\/ws$/, "/")),
            10_000,
            `${url}: an answer afterwards`,
          );
          assert.ok(answer.status < 500 || answer.status === 426, `${url}: answered ${answer.status}`);
          await answer.body?.cancel();
        }
        assert.equal(
          server.otherLines.filter((l) => /Uncaught|error:/.test(l)).length,
          0,
          server.otherLines.join("\n"),
        );
      } finally {
        const exit = await server.stop();
        assert.equal(exit.code, 0, "the server was still running and stopped cleanly");
      }
    }
  },
});
