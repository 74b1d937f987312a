import assert from "node:assert/strict";
import { runClient } from "../client.ts";
import type { ClientEvent } from "../lib/report/events.ts";
import { SockkitError } from "../lib/core/errors.ts";
import { closeQuietly, writeAll } from "../lib/core/io.ts";
import { concat, randomBytes, startServer } from "./_helpers.ts";

const tcp = (port: number, hostname = "127.0.0.1") => ({ transport: "tcp" as const, hostname, port });

/** A ByteReader over fixed bytes, delivered in small pieces. */
function bytesReader(data: Uint8Array, piece = 7000) {
  let offset = 0;
  return {
    read(p: Uint8Array): Promise<number | null> {
      if (offset >= data.length) return Promise.resolve(null);
      const n = Math.min(p.length, piece, data.length - offset);
      p.set(data.subarray(offset, offset + n));
      offset += n;
      return Promise.resolve(n);
    },
  };
}

/** A ByteWriter that collects what it is given. */
function collector() {
  const chunks: Uint8Array[] = [];
  return {
    chunks,
    write(p: Uint8Array): Promise<number> {
      chunks.push(p.slice());
      return Promise.resolve(p.length);
    },
  };
}

/** A TCP server that does whatever `handle` does with each connection, for faults a real echo server never makes. */
function fakeServer(handle: (conn: Deno.Conn) => Promise<void>) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const tasks: Promise<void>[] = [];
  const accepting = (async () => {
    for await (const conn of listener) {
      tasks.push(handle(conn).catch(() => {}).finally(() => closeQuietly(conn)));
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    async [Symbol.asyncDispose]() {
      listener.close();
      await accepting;
      await Promise.all(tasks);
    },
  };
}

Deno.test("client: sends Hello by default and reports the complete reply with its round-trip time", async () => {
  const server = await startServer();
  try {
    const events: ClientEvent[] = [];
    const summary = await runClient({ endpoint: tcp(server.port) }, { onEvent: (e) => events.push(e) });
    const reply = events.find((e) => e.type === "reply");
    assert.ok(reply?.type === "reply");
    assert.equal(reply.text, "Hello");
    assert.ok(reply.rttMs > 0);
    assert.deepEqual([summary.sent, summary.received, summary.lost], [1, 1, 0]);
  } finally {
    await server.stop();
  }
});

Deno.test("client: waits for the complete echo even when it arrives in pieces", async () => {
  await using server = fakeServer(async (conn) => {
    const buf = new Uint8Array(100);
    const n = (await conn.read(buf))!;
    for (let i = 0; i < n; i++) await writeAll(conn, buf.subarray(i, i + 1));
  });
  const events: ClientEvent[] = [];
  const message = new TextEncoder().encode("a longer message, echoed byte by byte");
  await runClient({ endpoint: tcp(server.port), message }, { onEvent: (e) => events.push(e) });
  const reply = events.find((e) => e.type === "reply");
  assert.ok(reply?.type === "reply");
  assert.equal(reply.text, "a longer message, echoed byte by byte");
});

Deno.test("client: non-printable bytes in the reply are shown escaped", async () => {
  const server = await startServer();
  try {
    const events: ClientEvent[] = [];
    const message = new Uint8Array([0x68, 0x69, 0x0a, 0x00, 0xff, 0x1b]);
    await runClient({ endpoint: tcp(server.port), message }, { onEvent: (e) => events.push(e) });
    const reply = events.find((e) => e.type === "reply");
    assert.ok(reply?.type === "reply");
    assert.equal(reply.text, "hi\\n\\x00\\xff\\x1b");
  } finally {
    await server.stop();
  }
});

Deno.test("client: repeat with a count sends that many messages and summarises like ping", async () => {
  const server = await startServer();
  try {
    const events: ClientEvent[] = [];
    const summary = await runClient(
      { endpoint: tcp(server.port), mode: "repeat", count: 4, intervalMs: 20 },
      { onEvent: (e) => events.push(e) },
    );
    const replies = events.filter((e) => e.type === "reply");
    assert.deepEqual(replies.map((e) => e.type === "reply" && e.seq), [1, 2, 3, 4]);
    assert.deepEqual([summary.sent, summary.received, summary.lost], [4, 4, 0]);
    assert.ok(summary.rtt && summary.rtt.min <= summary.rtt.avg && summary.rtt.avg <= summary.rtt.max);
    assert.equal(summary.bytesReceived, 20);
  } finally {
    await server.stop();
  }
});

Deno.test("client: repeat counts a late reply as lost and still matches the next one", async () => {
  let served = 0;
  await using server = fakeServer(async (conn) => {
    const buf = new Uint8Array(64);
    while (true) {
      const n = await conn.read(buf);
      if (n === null) return;
      served++;
      // The second reply comes late: after the client's timeout, just before the third message.
      if (served === 2) await new Promise((r) => setTimeout(r, 250));
      await writeAll(conn, buf.subarray(0, n));
    }
  });
  const events: ClientEvent[] = [];
  const summary = await runClient(
    { endpoint: tcp(server.port), mode: "repeat", count: 3, intervalMs: 50, timeoutMs: 150 },
    { onEvent: (e) => events.push(e) },
  );
  assert.deepEqual([summary.sent, summary.received, summary.lost], [3, 2, 1]);
  assert.deepEqual(events.filter((e) => e.type === "lost").map((e) => e.type === "lost" && e.seq), [2]);
  const third = events.find((e) => e.type === "reply" && e.seq === 3);
  assert.ok(third?.type === "reply" && third.text === "Hello");
});

Deno.test("client: repeat shows the bytes the server really sent at each offset, banner or chat", async () => {
  const repeat = async (port: number) => {
    const events: ClientEvent[] = [];
    const summary = await runClient(
      { endpoint: tcp(port), mode: "repeat", count: 3, intervalMs: 50, timeoutMs: 300 },
      { onEvent: (e) => events.push(e) },
    );
    const shown = events.flatMap((e) =>
      e.type === "reply"
        ? [`${e.seq}: ${e.text}${e.differs ? " (differs)" : ""}`]
        : e.type === "lost"
        ? [`${e.seq}: lost: ${e.reason}`]
        : []
    );
    return { summary, shown };
  };
  // A banner, then an echo: every reply is off by the banner's 7 bytes.
  {
    await using server = fakeServer(async (conn) => {
      await writeAll(conn, new TextEncoder().encode("BANNER-"));
      const buf = new Uint8Array(64);
      for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
        await writeAll(conn, buf.subarray(0, n));
      }
    });
    const { summary, shown } = await repeat(server.port);
    assert.deepEqual(shown, ["1: BANNE (differs)", "2: R-Hel (differs)", "3: loHel (differs)"]);
    assert.deepEqual([summary.sent, summary.received, summary.lost, summary.mismatched], [3, 3, 0, 3]);
  }
  // A banner and nothing else: two replies' worth of real bytes, then one byte of the third.
  {
    await using server = fakeServer(async (conn) => {
      await writeAll(conn, new TextEncoder().encode("BANNER-1234"));
      const buf = new Uint8Array(64);
      while (await conn.read(buf) !== null);
    });
    const { summary, shown } = await repeat(server.port);
    assert.deepEqual(shown, [
      "1: BANNE (differs)",
      "2: R-123 (differs)",
      "3: lost: no complete reply within 300 ms (got 1 of 5 bytes)",
    ]);
    assert.deepEqual([summary.sent, summary.received, summary.lost, summary.bytesReceived], [3, 2, 1, 11]);
  }
  // sockkit's own chat mode: its welcome line, five bytes at a time.
  const chat = await startServer({ mode: "chat" });
  try {
    const { shown } = await repeat(chat.port);
    assert.deepEqual(shown, ["1: * wel (differs)", "2: come  (differs)", "3: user1 (differs)"]);
  } finally {
    await chat.stop();
  }
});

Deno.test("client: aborting repeat mode stops it and still summarises", async () => {
  const server = await startServer();
  try {
    const ac = new AbortController();
    const summary = await runClient(
      { endpoint: tcp(server.port), mode: "repeat", intervalMs: 30 },
      { signal: ac.signal, onEvent: (e) => e.type === "reply" && e.seq === 3 && ac.abort() },
    );
    assert.equal(summary.received, 3);
    assert.equal(summary.lost, 0);
  } finally {
    await server.stop();
  }
});

Deno.test("client: pipe mode sends all of stdin, half-closes, and writes every byte back to stdout", async () => {
  const server = await startServer();
  try {
    const data = randomBytes(1_000_000);
    const stdout = collector();
    const summary = await runClient(
      { endpoint: tcp(server.port), mode: "pipe" },
      { stdin: bytesReader(data), stdout },
    );
    assert.deepEqual(concat(stdout.chunks), data);
    assert.equal(summary.bytesSent, data.length);
    assert.equal(summary.bytesReceived, data.length);
  } finally {
    await server.stop();
  }
});

Deno.test("client: connection refused is a clear error", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  await assert.rejects(
    () => runClient({ endpoint: tcp(port) }),
    (err) =>
      err instanceof SockkitError && err.exitCode === 1 &&
      err.message ===
        `cannot connect to 127.0.0.1:${port}: connection refused (is a server listening on that port?)`,
  );
});

Deno.test("client: a name that does not resolve is a clear error", async () => {
  await assert.rejects(
    () => runClient({ endpoint: tcp(9, "no-such-host.invalid") }),
    (err) =>
      err instanceof SockkitError &&
      err.message === "cannot connect to no-such-host.invalid:9: name does not resolve (check the host name)",
  );
});

Deno.test("client: a server that never answers times out with what arrived", async () => {
  await using server = fakeServer(async (conn) => {
    const buf = new Uint8Array(64);
    await conn.read(buf);
    await writeAll(conn, new TextEncoder().encode("He"));
    await conn.read(buf); // wait for the client to give up and close
  });
  await assert.rejects(
    () => runClient({ endpoint: tcp(server.port), timeoutMs: 200 }),
    (err) =>
      err instanceof SockkitError && err.message === "no complete reply within 200 ms (got 2 of 5 bytes)",
  );
});

Deno.test("client: a server closing before the full reply is a clear error", async () => {
  await using server = fakeServer(async (conn) => {
    await conn.read(new Uint8Array(64));
    await writeAll(conn, new TextEncoder().encode("Hel"));
  });
  await assert.rejects(
    () => runClient({ endpoint: tcp(server.port) }),
    (err) =>
      err instanceof SockkitError &&
      err.message === "the server closed the connection before the full reply (got 3 of 5 bytes)",
  );
});

Deno.test("client: a reset connection is a clear error", async () => {
  await using server = fakeServer(async (conn) => {
    // Closing with unread data makes the kernel answer with a reset instead of a clean close. (Deno reports a
    // reset seen by read() as end of stream, so the client notices it while still sending.)
    await conn.read(new Uint8Array(64));
  });
  await assert.rejects(
    () => runClient({ endpoint: tcp(server.port), message: randomBytes(32 * 1024 * 1024) }),
    (err) => err instanceof SockkitError && /connection reset by peer|broken pipe/.test(err.message),
  );
});

Deno.test("client: connecting times out when the server's backlog is full", {
  ignore: !hasPython(),
}, async () => {
  // A listener with a zero backlog that never accepts: after one queued connection, connects hang.
  const py = new Deno.Command("python3", {
    args: [
      "-c",
      "import socket,sys\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\nsys.stdin.read()",
    ],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const reader = py.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const port = Number((await reader.read()).value);
  const held: Deno.Conn[] = [];
  try {
    for (let i = 0; i < 4; i++) {
      try {
        held.push(await Deno.connect({ hostname: "127.0.0.1", port, signal: AbortSignal.timeout(300) }));
      } catch {
        break;
      }
    }
    await assert.rejects(
      () => runClient({ endpoint: tcp(port), timeoutMs: 300 }),
      (err) =>
        err instanceof SockkitError &&
        err.message ===
          `cannot connect to 127.0.0.1:${port}: timed out after 300 ms (check the host and port, or raise --timeout)`,
    );
  } finally {
    held.forEach((c) => c.close());
    await py.stdin.close();
    await reader.cancel();
    await py.status;
  }
});

function hasPython(): boolean {
  try {
    return new Deno.Command("python3", { args: ["-c", "0"] }).outputSync().success;
  } catch {
    return false;
  }
}

Deno.test("client: a reply that is not the echo of the message is flagged, and counts as a failure", async () => {
  await using server = fakeServer(async (conn) => {
    const buf = new Uint8Array(64);
    const n = (await conn.read(buf))!;
    await writeAll(
      conn,
      new TextEncoder().encode(new TextDecoder().decode(buf.subarray(0, n)).toUpperCase()),
    );
  });
  const events: ClientEvent[] = [];
  const summary = await runClient({ endpoint: tcp(server.port) }, { onEvent: (e) => events.push(e) });
  const reply = events.find((e) => e.type === "reply");
  assert.ok(reply?.type === "reply");
  assert.equal(reply.text, "HELLO");
  assert.equal(reply.differs, true);
  assert.equal(summary.mismatched, 1);
});
