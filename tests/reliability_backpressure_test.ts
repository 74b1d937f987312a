import assert from "node:assert/strict";
import { echoRoundTrip, randomBytes, sha256, startServer } from "./_helpers.ts";
import { echoExchanges, type Hog, neverReadingClient } from "./_peers.ts";
import { IS_LINUX, rssKiB, spawnServer, within } from "./_proc.ts";
import { IO_CORES, type IoCore } from "../lib/transports/types.ts";

const HOGS = 20;
const FAST_CLIENTS = 50;
/**
 * The stated bound: never-reading clients may not grow the server's resident memory by more than this. With
 * `--io node` every read gets a fresh buffer that V8 frees in batches, so RSS follows the traffic further
 * before it levels off (docs/transports.md "Which API moves the bytes"): its bound is wider, but still a bound.
 */
const RSS_GROWTH_BOUND_KIB: Record<IoCore, number> = { deno: 32 * 1024, node: 128 * 1024 };

Deno.test("half-close: 50 clients send 1 MiB each, shut down their sending side, and get every byte back", async () => {
  const server = await startServer();
  try {
    const payloads = Array.from({ length: 50 }, () => randomBytes(1024 * 1024));
    const replies = await Promise.all(payloads.map((p) => echoRoundTrip(server.port, p)));
    for (let k = 0; k < payloads.length; k++) {
      assert.equal(await sha256(replies[k]), await sha256(payloads[k]), `client ${k}`);
    }
  } finally {
    await server.stop();
  }
});

for (const io of IO_CORES) {
  Deno.test({
    name: `slow readers (--io ${io}): ${HOGS} never-reading clients are throttled, RSS grows < ${
      RSS_GROWTH_BOUND_KIB[io] / 1024
    } MiB, ${FAST_CLIENTS} fast clients served`,
    ignore: !IS_LINUX,
    async fn() {
      const server = await spawnServer({ keep: () => false, args: ["--io", io] });
      const hogs: Hog[] = [];
      try {
        // Warm up the echo path, then take the baseline.
        await Promise.all(
          Array.from({ length: FAST_CLIENTS }, (_, k) => echoExchanges(server.port, k, 20, 4096)),
        );
        const baseline = await rssKiB(server.pid);

        for (let i = 0; i < HOGS; i++) {
          hogs.push(neverReadingClient(server.port, { maxBytes: 128 * 1024 * 1024 }));
        }
        const accepted = await within(Promise.all(hogs.map((h) => h.stalled)), 30_000, "every hog to stall");
        const stalledRss = await rssKiB(server.pid);
        const startedAt = performance.now();
        const verified = await within(
          Promise.all(
            Array.from({ length: FAST_CLIENTS }, (_, k) => echoExchanges(server.port, k, 20, 4096)),
          ),
          10_000,
          "the fast clients",
        );
        const fastMs = performance.now() - startedAt;
        const peak = Math.max(stalledRss, await rssKiB(server.pid));

        assert.ok(accepted.every((n) => n < 128 * 1024 * 1024), "every hog was pushed back");
        assert.deepEqual(verified, Array(FAST_CLIENTS).fill(20 * 4096), "every fast client got every echo");
        assert.ok(fastMs < 5000, `fast clients took ${Math.round(fastMs)} ms`);
        assert.ok(
          peak - baseline < RSS_GROWTH_BOUND_KIB[io],
          `server RSS went from ${baseline} KiB to ${peak} KiB with ${HOGS} hogs`,
        );
      } finally {
        for (const h of hogs) h.close();
        await Promise.allSettled(hogs.map((h) => h.stalled));
        await server.stop("SIGKILL");
      }
    },
  });
}
