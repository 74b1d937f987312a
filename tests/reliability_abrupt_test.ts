import assert from "node:assert/strict";
import { echoRoundTrip, startServer, type TestServer } from "./_helpers.ts";
import { echoExchanges, resettingClient } from "./_peers.ts";
import { IS_LINUX, openFds, within } from "./_proc.ts";

const CLIENTS = 500;
const ABRUPT_REASONS = ["connection reset by peer", "connection closed by peer (broken pipe)"];
const MAIN = new URL("../main.ts", import.meta.url).pathname;
const RST_PEER = new URL("./peers/rst_peer.py", import.meta.url).pathname;

function hasPython(): boolean {
  try {
    return new Deno.Command("python3", { args: ["--version"], stdout: "null", stderr: "null" }).outputSync()
      .success;
  } catch {
    return false;
  }
}

/** Resolves once `n` clients have disconnected, with the reasons the server gave. */
async function disconnectReasons(server: TestServer, n: number): Promise<Map<string, number>> {
  let seen = 0;
  await within(server.waitFor((e) => e.type === "disconnect" && ++seen === n), 30_000, `${n} disconnects`);
  const reasons = new Map<string, number>();
  for (const e of server.events) {
    if (e.type === "disconnect") {
      reasons.set(e.reason ?? "clean", (reasons.get(e.reason ?? "clean") ?? 0) + 1);
    }
  }
  return reasons;
}

/**
 * Every peer's end was logged as abrupt (`expected` reasons each seen at least once), the server still serves,
 * and it holds no more descriptors than before.
 */
async function assertSurvived(
  server: TestServer,
  baselineFds: number,
  reasons: Map<string, number>,
  expected: string[],
) {
  const logged = JSON.stringify([...reasons]);
  const abrupt = ABRUPT_REASONS.reduce((sum, r) => sum + (reasons.get(r) ?? 0), 0);
  assert.equal(abrupt, CLIENTS, `every peer ended abruptly; the server logged ${logged}`);
  for (const reason of expected) assert.ok(reasons.has(reason), `the server logged '${reason}': ${logged}`);
  const reply = await echoRoundTrip(server.port, new TextEncoder().encode("still here"));
  assert.equal(new TextDecoder().decode(reply), "still here");
  assert.equal(await openFds("self"), baselineFds, "open descriptors are back to the baseline");
}

Deno.test({
  name: "abrupt peers: 500 clients closing with unread echo (RST) mid-transfer; server serves on, no leak",
  ignore: !IS_LINUX,
  async fn() {
    const server = await startServer();
    try {
      const baselineFds = await openFds("self");
      await Promise.all(
        Array.from({ length: CLIENTS }, (_, k) => resettingClient(server.port, k, 256 * 1024)),
      );
      await assertSurvived(server, baselineFds, await disconnectReasons(server, CLIENTS), []);
    } finally {
      await server.stop();
    }
  },
});

Deno.test({
  name: "abrupt peers: 500 clients resetting with SO_LINGER 0 (python3 peer); server serves on, no leak",
  ignore: !IS_LINUX || !hasPython(),
  async fn() {
    const server = await startServer();
    try {
      const baselineFds = await openFds("self");
      const peer = await new Deno.Command("python3", {
        args: [RST_PEER, String(server.port), String(CLIENTS), String(1024 * 1024)],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.ok(peer.success, new TextDecoder().decode(peer.stderr));
      const report = JSON.parse(new TextDecoder().decode(peer.stdout));
      assert.deepEqual(report, { connected: CLIENTS, echoing: CLIENTS, reset: CLIENTS });
      await assertSurvived(server, baselineFds, await disconnectReasons(server, CLIENTS), [
        "connection reset by peer",
      ]);
    } finally {
      await server.stop();
    }
  },
});

Deno.test("abrupt peers: the server keeps serving when whoever reads its output goes away", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--allow-net", MAIN, "server", "0", "--host", "127.0.0.1"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let first = "";
    while (!first.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      first += value;
    }
    await reader.cancel(); // the pipe's reading end is closed: every status line now meets a broken pipe
    const port = Number(/127\.0\.0\.1:(\d+)/.exec(first)?.[1]);
    for (let k = 0; k < 3; k++) assert.equal(await echoExchanges(port, k, 5, 100), 500);
  } finally {
    child.kill("SIGTERM");
  }
  const [status, errors] = await Promise.all([child.status, stderr]);
  assert.equal(errors, "");
  assert.equal(status.code, 0);
});
