import assert from "node:assert/strict";
import { runServer } from "../server.ts";
import { SockkitError } from "../lib/core/errors.ts";
import { writeAll } from "../lib/core/io.ts";
import { echoRoundTrip, randomBytes, readExactly, readToEnd, sha256, startServer } from "./_helpers.ts";

Deno.test("echo: one byte comes back", async () => {
  const server = await startServer();
  try {
    assert.deepEqual(await echoRoundTrip(server.port, new Uint8Array([42])), new Uint8Array([42]));
  } finally {
    await server.stop();
  }
});

Deno.test("echo: 8 MiB of random bytes come back identical (by SHA-256)", async () => {
  const server = await startServer();
  try {
    const data = randomBytes(8 * 1024 * 1024);
    const reply = await echoRoundTrip(server.port, data);
    assert.equal(reply.length, data.length);
    assert.equal(await sha256(reply), await sha256(data));
  } finally {
    await server.stop();
  }
});

Deno.test("echo: a half-closed client still receives every byte it sent", async () => {
  const server = await startServer();
  try {
    using conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    const data = randomBytes(300_000);
    await writeAll(conn, data);
    await conn.closeWrite();
    const reply = await readToEnd(conn);
    assert.equal(await sha256(reply), await sha256(data));
  } finally {
    await server.stop();
  }
});

Deno.test("echo: 200 clients at once each get exactly their own bytes", async () => {
  const server = await startServer();
  try {
    const payloads = Array.from({ length: 200 }, (_, i) => randomBytes(1000 + i * 37));
    const replies = await Promise.all(payloads.map((p) => echoRoundTrip(server.port, p)));
    for (let i = 0; i < payloads.length; i++) assert.deepEqual(replies[i], payloads[i], `client ${i}`);
    const summary = await server.stop();
    assert.equal(summary.clients, 200);
    assert.equal(summary.bytes, payloads.reduce((s, p) => s + p.length, 0));
  } catch (err) {
    await server.stop();
    throw err;
  }
});

Deno.test("echo: a silent client does not delay another", async () => {
  const server = await startServer();
  try {
    using silent = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    await server.waitFor((e) => e.type === "connect");
    const reply = await echoRoundTrip(server.port, new TextEncoder().encode("still served"));
    assert.equal(new TextDecoder().decode(reply), "still served");
    assert.ok(silent);
  } finally {
    await server.stop();
  }
});

Deno.test("echo: a client that never reads is throttled, and others keep being served", async () => {
  const server = await startServer();
  try {
    using hog = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    const chunk = new Uint8Array(64 * 1024);
    let written = 0;
    // Keep writing until TCP pushes back: the server stopped reading because we never read our echo.
    const filling = (async () => {
      for (let i = 0; i < 2000; i++) {
        await writeAll(hog, chunk);
        written += chunk.length;
      }
    })();
    filling.catch(() => {});
    const stalled = await Promise.race([
      filling.then(() => false),
      new Promise((r) => setTimeout(r, 1500, true)),
    ]);
    assert.ok(stalled, "a client that never reads must be throttled by backpressure");
    assert.ok(written < 2000 * chunk.length);
    const reply = await echoRoundTrip(server.port, new TextEncoder().encode("ping"));
    assert.equal(new TextDecoder().decode(reply), "ping");
    hog.close();
    await filling.catch(() => {});
  } finally {
    await server.stop();
  }
});

Deno.test("server: reports connect, each message and disconnect with counts", async () => {
  const server = await startServer();
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    await writeAll(conn, new TextEncoder().encode("Hello"));
    await readExactly(conn, 5);
    await writeAll(conn, new TextEncoder().encode("again"));
    await readExactly(conn, 5);
    conn.close();
    const left = await server.waitFor((e) => e.type === "disconnect");
    assert.equal(left.type, "disconnect");
    if (left.type === "disconnect") {
      assert.equal(left.messages, 2);
      assert.equal(left.bytes, 10);
      assert.match(left.peer, /^127\.0\.0\.1:\d+$/);
    }
    const messages = server.events.filter((e) => e.type === "message");
    assert.deepEqual(messages.map((e) => e.type === "message" && e.count), [1, 2]);
  } finally {
    await server.stop();
  }
});

Deno.test("server: stopping closes connected clients and summarises", async () => {
  const server = await startServer();
  using conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  await writeAll(conn, new TextEncoder().encode("abc"));
  await readExactly(conn, 3);
  const summary = await server.stop();
  assert.deepEqual([summary.clients, summary.messages, summary.bytes], [1, 1, 3]);
  assert.equal(await conn.read(new Uint8Array(10)), null, "the client sees a clean close");
});

Deno.test("server: IPv6 loopback works and prints [::1]:port", async () => {
  const server = await startServer({ hostname: "::1" });
  try {
    const listening = server.events[0];
    assert.ok(listening.type === "listening" && listening.address.startsWith("[::1]:"));
    assert.equal(
      new TextDecoder().decode(await echoRoundTrip(server.port, new TextEncoder().encode("v6"), "::1")),
      "v6",
    );
  } finally {
    await server.stop();
  }
});

Deno.test("server: a port in use is a clear error", async () => {
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (taken.addr as Deno.NetAddr).port;
  await assert.rejects(
    () => runServer({ endpoint: { transport: "tcp", hostname: "127.0.0.1", port } }),
    (err) =>
      err instanceof SockkitError && err.exitCode === 1 &&
      err.message ===
        `cannot listen on 127.0.0.1:${port}: address already in use (try another port, or stop the process using it)`,
  );
});

Deno.test("server: a host that is not an address of this machine is a clear error", async () => {
  await assert.rejects(
    () => runServer({ endpoint: { transport: "tcp", hostname: "192.0.2.1", port: 0 } }),
    (err) =>
      err instanceof SockkitError &&
      /^cannot listen on 192\.0\.2\.1:0: address not available/.test(err.message),
  );
});
