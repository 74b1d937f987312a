import assert from "node:assert/strict";
import { runClient } from "../client.ts";
import type { ClientEvent } from "../lib/report/events.ts";
import { startServer } from "./_helpers.ts";

const PEERS = new URL("./peers/", import.meta.url).pathname;
const python = hasPython();

function hasPython(): boolean {
  try {
    return new Deno.Command("python3", { args: ["-c", "0"], stdout: "null", stderr: "null" }).outputSync()
      .success;
  } catch {
    return false;
  }
}

Deno.test({
  name: python
    ? "interop: the classic Python client gets its echo from sockkit's server"
    : "interop: the classic Python client against sockkit's server (ignored: python3 is not installed)",
  ignore: !python,
  async fn() {
    const server = await startServer();
    try {
      const out = await new Deno.Command("python3", {
        args: [`${PEERS}classic_client.py`, String(server.port)],
        stdout: "piped",
      }).output();
      assert.equal(out.code, 0);
      assert.equal(new TextDecoder().decode(out.stdout), "Received: b'Hello, Kael2'\n");
    } finally {
      await server.stop();
    }
  },
});

Deno.test({
  name: python
    ? "interop: sockkit's client gets its echo from the classic Python threaded server"
    : "interop: sockkit's client against the classic Python server (ignored: python3 is not installed)",
  ignore: !python,
  async fn() {
    const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (probe.addr as Deno.NetAddr).port;
    probe.close();
    const peer = new Deno.Command("python3", {
      args: [`${PEERS}classic_server.py`, String(port)],
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const lines = peer.stdout.pipeThrough(new TextDecoderStream()).getReader();
    try {
      assert.match((await lines.read()).value ?? "", /listening on/);
      const events: ClientEvent[] = [];
      const summary = await runClient(
        {
          endpoint: { transport: "tcp", hostname: "127.0.0.1", port },
          mode: "repeat",
          count: 3,
          intervalMs: 10,
        },
        { onEvent: (e) => events.push(e) },
      );
      assert.deepEqual([summary.sent, summary.received], [3, 3]);
      assert.ok(events.every((e) => e.type !== "reply" || e.text === "Hello"));
    } finally {
      peer.kill("SIGTERM");
      await peer.status;
      await lines.cancel();
    }
  },
});
