/**
 * The peer suite's native load generator (bench/peers/loadgen.c): built with the system `cc`, it must check
 * every byte it gets back, so its verdicts can be trusted, and it must drive sockkit's own servers.
 * @module
 */
import assert from "node:assert/strict";
import { startServer } from "./_helpers.ts";
import { HAS_CC, loadgen, startCEcho } from "./_loadgen.ts";

/** An echo server that flips one bit of every reply: a generator that trusts replies would not notice. */
function startCorruptingEcho(): { port: number; stop: () => Promise<void> } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const served = (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      (async () => {
        const buf = new Uint8Array(4096);
        try {
          for (let n; (n = await conn.read(buf)) !== null;) {
            buf[n - 1] ^= 1;
            await conn.write(buf.subarray(0, n));
          }
        } catch { /* the generator hung up */ }
        conns.delete(conn);
        conn.close();
      })();
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    stop: async () => {
      listener.close();
      await served;
      for (const c of conns) c.close();
    },
  };
}

Deno.test({
  name:
    "loadgen: ping-pong over 50 connections to the C server, every reply checked, every connection served",
  ignore: !HAS_CC,
  async fn() {
    const server = await startCEcho();
    try {
      const run = await loadgen(["pingpong", "127.0.0.1", `${server.port}`, "-c", "50", "-d", "0.5"]);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.result.mode, "pingpong");
      assert.equal(run.result.errors, 0);
      assert.equal(run.result.connectionsWithout, 0);
      assert.ok((run.result.slowest as number) > 0);
      assert.ok((run.result.p50Ms as number) <= (run.result.p999Ms as number));
      assert.equal(typeof run.result.cpuPercent, "number");
    } finally {
      await server.stop();
    }
  },
});

/**
 * An echo server that accepts one connection every `everyMs`: a server still accepting, not one starving.
 * `bytesBeforeAccepting(n)` is how many bytes it had read when it accepted its `n`th connection.
 */
function startSlowAcceptEcho(
  everyMs: number,
): { port: number; bytesBeforeAccepting: (n: number) => number; stop: () => Promise<void> } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  let bytesRead = 0;
  const readAtAccept: number[] = [];
  const served = (async () => {
    for await (const conn of listener) {
      readAtAccept.push(bytesRead);
      conns.add(conn);
      (async () => {
        const buf = new Uint8Array(4096);
        try {
          for (let n; (n = await conn.read(buf)) !== null;) {
            bytesRead += n;
            await conn.write(buf.subarray(0, n));
          }
        } catch { /* the generator hung up */ }
        conns.delete(conn);
        conn.close();
      })();
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    bytesBeforeAccepting: (n) => readAtAccept[n - 1],
    stop: async () => {
      listener.close();
      await served.catch(() => {});
      for (const c of conns) c.close();
    },
  };
}

Deno.test({
  name:
    "loadgen: ping-pong starts its clock once every connection had a reply, so slow accepts are not stalls",
  ignore: !HAS_CC,
  async fn() {
    const server = startSlowAcceptEcho(10);
    try {
      const run = await loadgen(["pingpong", "127.0.0.1", `${server.port}`, "-c", "40", "-d", "0.4"]);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.result.connectionsWithout, 0);
      assert.ok((run.result.fairness as number) >= 0.5, `slowest ÷ median ${run.result.fairness}`);
      assert.ok((run.result.maxStallMs as number) < 300, `longest stall ${run.result.maxStallMs} ms`);
      assert.ok((run.result.warmupMs as number) >= 300, `warm-up ${run.result.warmupMs} ms`);
      // While warming up, an answered connection waits for the rest: it does not keep the server busy.
      const early = server.bytesBeforeAccepting(40);
      assert.ok(
        early <= 39 * 64,
        `${early} bytes read before the last accept: over a message per connection`,
      );
    } finally {
      await server.stop();
    }
  },
});

Deno.test({
  name: "loadgen: bulk and idle modes against the C server",
  ignore: !HAS_CC,
  async fn() {
    const server = await startCEcho();
    try {
      const bulk = await loadgen(["bulk", "127.0.0.1", `${server.port}`, "-b", `${8 << 20}`]);
      assert.equal(bulk.code, 0, bulk.stderr);
      assert.equal(bulk.result.echoed, 8 << 20);
      assert.equal(bulk.result.errors, 0);
      const idle = await loadgen(["idle", "127.0.0.1", `${server.port}`, "-c", "100", "-d", "0"]);
      assert.equal(idle.code, 0, idle.stderr);
      assert.equal(idle.result.stillOpen, 100);
      assert.equal(idle.result.echoed, true);
      assert.match(idle.stderr, /holding 100/);
    } finally {
      await server.stop();
    }
  },
});

Deno.test({
  name: "loadgen: a reply that differs by one bit is an error and a non-zero exit, in ping-pong and bulk",
  ignore: !HAS_CC,
  async fn() {
    const server = startCorruptingEcho();
    try {
      const pp = await loadgen(["pingpong", "127.0.0.1", `${server.port}`, "-c", "4", "-d", "0.3"]);
      assert.equal(pp.code, 1);
      assert.equal(pp.result.roundTrips, 0);
      assert.ok((pp.result.errors as number) > 0);
      const bulk = await loadgen(["bulk", "127.0.0.1", `${server.port}`, "-b", "100000", "-s", "4096"]);
      assert.equal(bulk.code, 1);
      assert.ok((bulk.result.errors as number) > 0);
    } finally {
      await server.stop();
    }
  },
});

Deno.test({
  name: "loadgen: fan-out through sockkit's broadcast mode reaches every receiver in order",
  ignore: !HAS_CC,
  async fn() {
    const server = await startServer({ mode: "broadcast" });
    try {
      const run = await loadgen([
        "fanout",
        "127.0.0.1",
        `${server.port}`,
        "-c",
        "10",
        "-d",
        "0.3",
        "-w",
        "16",
      ]);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.result.inOrderComplete, true);
      assert.equal(run.result.errors, 0);
      assert.ok((run.result.sent as number) > 0);
      assert.equal(run.result.delivered, (run.result.sent as number) * 10);
    } finally {
      await server.stop();
    }
  },
});
