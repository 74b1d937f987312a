/**
 * Starvation regression test: sockkit's echo server, in its own process, under 500 busy connections from the
 * native load generator (bench/peers/loadgen.c) for about 2 s; and sockkit's relay, under 200 through it to
 * the C echo server. Every connection must complete round trips, and
 * the least-served connection must get at least half the median connection's: a loose bound that catches a
 * server leaving some clients unserved under load, not a benchmark. The server is pinned to CPU 0 and the
 * generator to CPU 1 where the machine allows, as in `deno task bench:peers`. Run for each I/O core (`--io`),
 * with the launcher's permissions: the default, `deno`, spreads the clients over its default event loops.
 * @module
 */
import assert from "node:assert/strict";
import { HAS_CC, loadgen, type LoadgenRun, pinTo, startCEcho } from "./_loadgen.ts";
import { forEachLine, within } from "./_proc.ts";
import { IO_CORES, type IoCore } from "../lib/transports/types.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** Starts `sockkit server 0 --quiet --host 127.0.0.1`; resolves once its "Listening on" line names the port. */
function startQuietServer(io: IoCore): Promise<{ port: number; stop: () => Promise<void> }> {
  return startSockkit(["--allow-net", "--allow-read", "--unstable-net"], [
    "server",
    "0",
    "--quiet",
    "--host",
    "127.0.0.1",
    "--io",
    io,
  ]);
}

/** Starts sockkit with `args` on CPU 0; resolves once its "Listening on" line names the port. */
async function startSockkit(
  flags: string[],
  args: string[],
): Promise<{ port: number; stop: () => Promise<void> }> {
  const cmd = [...pinTo(0), Deno.execPath(), "run", ...flags, MAIN, ...args];
  const child = new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  })
    .spawn();
  let found = (_port: number) => {};
  const port = new Promise<number>((resolve) => (found = resolve));
  const lines: string[] = [];
  const onLine = (line: string) => {
    lines.push(line);
    const m = /^Listening on .*:(\d+) /.exec(line);
    if (m) found(Number(m[1]));
  };
  // The "Listening on" line goes to stderr (stdout carries what clients send, in some modes).
  const reading = Promise.all([forEachLine(child.stdout, onLine), forEachLine(child.stderr, onLine)]);
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    await Promise.all([child.status, reading]);
  };
  try {
    const exited = child.status.then(() => {
      throw new Error(`sockkit exited before listening; it printed:\n${lines.join("\n")}`);
    });
    return { port: await within(Promise.race([port, exited]), 20_000, "sockkit to listen"), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Every connection completed round trips, and the least-served at least half as many as the median one. */
function assertAllServed(run: LoadgenRun): void {
  const r = run.result;
  const seen = `round trips: slowest ${r.slowest}, median ${r.median}, fastest ${r.fastest} ` +
    `(slowest ÷ median ${r.fairness}); ${r.connectionsWithout} connections without any; longest stall ` +
    `${r.maxStallMs} ms; p99.9 ${r.p999Ms} ms; ${r.roundTripsPerSec} round trips/s`;
  console.log(seen);
  assert.equal(run.code, 0, `the generator failed: ${run.stderr}`);
  assert.equal(r.errors, 0);
  assert.equal(r.connectionsWithout, 0, `some connections completed no round trip: ${seen}`);
  assert.ok((r.fairness as number) >= 0.5, `connections were starved: ${seen}`);
}

for (const io of IO_CORES) {
  Deno.test({
    name:
      `fairness (--io ${io}): 500 busy connections to sockkit's echo server are all served, the slowest at ` +
      `least half the median`,
    ignore: !HAS_CC,
    async fn() {
      const server = await startQuietServer(io);
      try {
        const run = await loadgen(
          ["pingpong", "127.0.0.1", String(server.port), "-c", "500", "-s", "64", "-d", "2"],
          pinTo(1),
        );
        assertAllServed(run);
      } finally {
        await server.stop();
      }
    },
  });
}

// The relay as the launcher runs it (its workers load their module and bind with SO_REUSEPORT), on its
// default two event loops, and with --io node.
for (const extra of [[], ["--io", "node"]]) {
  Deno.test({
    name:
      `fairness (relay${
        extra.length ? ` ${extra.join(" ")}` : ""
      }): 200 busy clients through sockkit relay ` +
      "to the C echo server are all served, the slowest at least half the median",
    ignore: !HAS_CC,
    async fn() {
      const echo = await startCEcho(pinTo(1));
      const relay = await startSockkit(
        ["--allow-net", "--allow-read", "--unstable-net"],
        ["relay", "127.0.0.1:0", `127.0.0.1:${echo.port}`, "--quiet", ...extra],
      );
      try {
        assertAllServed(
          await loadgen(
            ["pingpong", "127.0.0.1", String(relay.port), "-c", "200", "-s", "64", "-d", "2"],
            pinTo(1),
          ),
        );
      } finally {
        await relay.stop();
        await echo.stop();
      }
    },
  });
}
