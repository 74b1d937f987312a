import assert from "node:assert/strict";
import { IS_LINUX, spawnServer, within } from "./_proc.ts";
import { streamingClient } from "./_peers.ts";
import { startServer } from "./_helpers.ts";

const GRACE_MS = 3000;

function describeCounts(groups: Partial<Record<string, unknown[]>>): string {
  return Object.entries(groups).map(([k, v]) => `${v?.length} ${k}`).join(", ");
}

Deno.test({
  name:
    "shutdown: SIGTERM while 200 clients stream: every byte read is echoed, clean closes, exit 0 in the grace",
  ignore: !IS_LINUX,
  async fn() {
    const server = await spawnServer({
      args: ["--grace", `${GRACE_MS}ms`],
      keep: (e) => e.type !== "connect" && e.type !== "disconnect",
    });
    const clients = Array.from({ length: 200 }, (_, k) => streamingClient(server.port, k));
    try {
      await within(Promise.all(clients.map((c) => c.flowing)), 30_000, "echoes to every client");
      const signalledAt = performance.now();
      const exit = await server.stop("SIGTERM");
      const results = await within(Promise.all(clients.map((c) => c.done)), 10_000, "every client to end");

      assert.equal(exit.code, 0, `exit code; the server printed:\n${server.otherLines.join("\n")}`);
      assert.ok(
        exit.at - signalledAt < GRACE_MS + 1000,
        `exited ${Math.round(exit.at - signalledAt)} ms after SIGTERM`,
      );
      const summary = server.events.find((e) => e.type === "summary");
      assert.ok(summary, "the server printed its summary");
      results.forEach((r, k) => {
        assert.equal(r.mismatchAt, undefined, `client ${k}: echo differs at byte ${r.mismatchAt}`);
      });
      const endings = Object.groupBy(results, (r) => r.ending);
      assert.deepEqual(Object.keys(endings), ["eof"], `clean closes only; seen: ${describeCounts(endings)}`);
      const echoed = results.reduce((sum, r) => sum + r.received, 0);
      assert.equal(echoed, summary.bytes, "every byte the server read came back to its client");
    } finally {
      for (const c of clients) c.close();
      await Promise.allSettled(clients.map((c) => c.done));
      await server.stop("SIGKILL");
    }
  },
});

Deno.test("shutdown: a silent client is closed cleanly without holding the server for the grace period", async () => {
  const server = await startServer({ graceMs: 10_000 });
  using conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  await server.waitFor((e) => e.type === "connect");
  const startedAt = performance.now();
  await server.stop();
  assert.ok(performance.now() - startedAt < 2000, "the server stopped well within its grace period");
  assert.equal(await conn.read(new Uint8Array(16)), null, "the client saw a clean end of stream");
});

Deno.test("shutdown: a client sending when the server stops gets its echo and a clean close, not a reset", async () => {
  const server = await startServer({ graceMs: 5000 });
  const client = streamingClient(server.port, 1, { window: 64 * 1024 });
  try {
    await client.flowing;
    await server.stop();
    const result = await client.done;
    assert.equal(result.ending, "eof");
    assert.equal(result.mismatchAt, undefined);
    const summary = server.events.find((e) => e.type === "summary");
    assert.ok(summary?.type === "summary");
    assert.equal(result.received, summary.bytes, "every byte the server read was echoed");
  } finally {
    client.close();
    await client.done.catch(() => {});
  }
});
