import assert from "node:assert/strict";
import { writeAll } from "../lib/core/io.ts";
import { readExactly } from "./_helpers.ts";
import { echoExchanges, matchesPattern, patternBytes } from "./_peers.ts";
import { IS_LINUX, type JsonEvent, spawnServer, within } from "./_proc.ts";

const FD_LIMIT = 256;
const CLIENTS = 400;
const MESSAGE = 100;

/** How many accept failures a warning stands for: itself plus the "(N more since the last report)". */
function failuresIn(warning: JsonEvent): number {
  const more = /\((\d+) more since the last report\)/.exec(String(warning.message));
  return 1 + (more ? Number(more[1]) : 0);
}

async function expectEcho(conn: Deno.Conn, key: number): Promise<void> {
  const echo = await readExactly(conn, MESSAGE);
  assert.ok(echo.length === MESSAGE && matchesPattern(key, 0, echo), `client ${key} got its echo`);
}

Deno.test({
  name:
    `descriptors: under ulimit -n ${FD_LIMIT}, ${CLIENTS} clients on one loop: server stays up, warns once a ` +
    "second, recovers",
  ignore: !IS_LINUX,
  async fn() {
    // one event loop: the clients it accepts are the first to connect, and its warnings come a second apart
    // (the test below runs the default loops)
    const server = await spawnServer({
      fdLimit: FD_LIMIT,
      args: ["--workers", "1"],
      keep: (e) => e.type === "warning",
    });
    const conns: Deno.Conn[] = [];
    try {
      for (let k = 0; k < CLIENTS; k++) {
        conns.push(await Deno.connect({ hostname: "127.0.0.1", port: server.port }));
      }
      await Promise.all(conns.map((c, k) => writeAll(c, patternBytes(k, 0, MESSAGE))));
      await server.waitForCount("warning", 3, 20_000);

      // The kernel queues the clients the server cannot accept yet; the accepted ones are served meanwhile.
      const accepted = server.counts.get("connect") ?? 0;
      assert.ok(accepted > 100 && accepted < CLIENTS, `accepted ${accepted} of ${CLIENTS} under the limit`);
      await within(
        Promise.all(conns.slice(0, accepted).map(expectEcho)),
        10_000,
        "echoes to accepted clients",
      );

      // Descriptors free up: every queued client is accepted and served, then a newcomer.
      for (const c of conns.splice(0, accepted)) c.close();
      await within(
        Promise.all(conns.map((c, i) => expectEcho(c, accepted + i))),
        10_000,
        "echoes to the queued clients",
      );
      for (const c of conns.splice(0)) c.close();
      assert.equal(await within(echoExchanges(server.port, 1, 20, 1000), 10_000, "a new client"), 20_000);

      const warnings = server.events.filter((e) => e.type === "warning");
      assert.ok(
        warnings.every((w) => /too many open files/.test(String(w.message))),
        JSON.stringify(warnings),
      );
      const times = warnings.map((w) => Date.parse(w.time));
      const gaps = times.slice(1).map((t, i) => t - times[i]);
      assert.ok(gaps.every((gap) => gap >= 990), `warnings at least a second apart: gaps ${gaps} ms`);
      const failures = warnings.reduce((sum, w) => sum + failuresIn(w), 0);
      assert.ok(
        failures > warnings.length,
        `${failures} failed accepts were summed up in ${warnings.length} lines`,
      );

      const exit = await server.stop("SIGTERM");
      assert.equal(exit.code, 0, server.otherLines.join("\n"));
    } finally {
      for (const c of conns) c.close();
      await server.stop("SIGKILL");
    }
  },
});

Deno.test({
  name:
    `descriptors: under ulimit -n ${FD_LIMIT}, ${CLIENTS} clients on the default event loops: every loop ` +
    "survives running out, and every client is served once descriptors free up",
  ignore: !IS_LINUX,
  async fn() {
    const server = await spawnServer({ fdLimit: FD_LIMIT, keep: (e) => e.type === "warning" });
    const conns: Deno.Conn[] = [];
    try {
      for (let k = 0; k < CLIENTS; k++) {
        conns.push(await Deno.connect({ hostname: "127.0.0.1", port: server.port }));
      }
      await Promise.all(conns.map((c, k) => writeAll(c, patternBytes(k, 0, MESSAGE))));
      await server.waitForCount("warning", 1, 20_000);
      // each client hangs up once echoed, which frees a descriptor for one still queued in the kernel
      await within(
        Promise.all(conns.map((c, k) => expectEcho(c, k).then(() => c.close()))),
        30_000,
        "echoes to every client",
      );
      conns.length = 0;
      assert.equal(await within(echoExchanges(server.port, 1, 20, 1000), 10_000, "a new client"), 20_000);
      const warnings = server.events.filter((e) => e.type === "warning");
      assert.ok(
        warnings.every((w) => /too many open files/.test(String(w.message))),
        JSON.stringify(warnings),
      );
      const exit = await server.stop("SIGTERM");
      assert.equal(exit.code, 0, server.otherLines.join("\n"));
    } finally {
      for (const c of conns) c.close();
      await server.stop("SIGKILL");
    }
  },
});
