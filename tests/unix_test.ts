import assert from "node:assert/strict";
import { runClient } from "../client.ts";
import { runServer } from "../server.ts";
import { SockkitError } from "../lib/core/errors.ts";
import type { ClientEvent } from "../lib/report/events.ts";
import { assertUnixSockets } from "../lib/transports/unix/unix.ts";
import { readExactly, runCli, spawnCli, startServer } from "./_helpers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const onWindows = Deno.build.os === "windows";

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "sockkit-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

async function unixEcho(path: string, text: string): Promise<string> {
  using conn = await Deno.connect({ transport: "unix", path });
  const data = encoder.encode(text);
  await conn.write(data);
  await conn.closeWrite();
  const buf = new Uint8Array(1024);
  let out = "";
  for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
    out += decoder.decode(buf.subarray(0, n));
  }
  return out;
}

/** Leaves a socket file behind the way a crashed server does: a process listening on it is killed. */
async function leaveStaleSocket(path: string): Promise<void> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `Deno.listen({ transport: "unix", path: ${
        JSON.stringify(path)
      } }); console.log("up"); setInterval(() => {}, 1000);`,
    ],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.getReader();
  await reader.read();
  reader.releaseLock();
  child.kill("SIGKILL");
  await child.status;
  await child.stdout.cancel();
}

Deno.test({
  name: "unix: echo over a Unix socket, clients named by number",
  ignore: onWindows,
  fn: () =>
    withTempDir(async (dir) => {
      const path = `${dir}/echo.sock`;
      const server = await startServer({ endpoint: { transport: "unix", path } });
      try {
        assert.equal(server.address, `unix:${path}`);
        assert.equal(await unixEcho(path, "over unix"), "over unix");
        const events: ClientEvent[] = [];
        await runClient({ endpoint: { transport: "unix", path }, message: encoder.encode("client") }, {
          onEvent: (e) => events.push(e),
        });
        const reply = events.find((e) => e.type === "reply");
        assert.ok(reply?.type === "reply" && reply.text === "client");
        const connects = server.events.filter((e) => e.type === "connect").map((e) =>
          e.type === "connect" && e.peer
        );
        assert.deepEqual(connects, ["unix client 1", "unix client 2"]);
      } finally {
        await server.stop();
      }
    }),
});

Deno.test({
  name: "unix: the socket file is removed on shutdown",
  ignore: onWindows,
  fn: () =>
    withTempDir(async (dir) => {
      const path = `${dir}/gone.sock`;
      const server = await startServer({ endpoint: { transport: "unix", path } });
      assert.ok(Deno.lstatSync(path).isSocket);
      await server.stop();
      assert.equal(exists(path), false);
    }),
});

Deno.test({
  name: "unix: a stale socket file left by a killed server is replaced, with a warning",
  ignore: onWindows,
  fn: () =>
    withTempDir(async (dir) => {
      const path = `${dir}/stale.sock`;
      await leaveStaleSocket(path);
      assert.ok(Deno.lstatSync(path).isSocket, "the dead server left its socket file");
      const server = await startServer({ endpoint: { transport: "unix", path } });
      try {
        const warning = server.events.find((e) => e.type === "warning");
        assert.ok(warning?.type === "warning");
        assert.equal(
          warning.message,
          `replaced the stale socket file ${path} (no server was listening on it)`,
        );
        assert.equal(await unixEcho(path, "fresh"), "fresh");
      } finally {
        await server.stop();
      }
    }),
});

Deno.test({
  name: "unix: a live socket is 'address already in use'; a regular file is left alone",
  ignore: onWindows,
  fn: () =>
    withTempDir(async (dir) => {
      const path = `${dir}/live.sock`;
      const first = await startServer({ endpoint: { transport: "unix", path } });
      try {
        await assert.rejects(
          () => runServer({ endpoint: { transport: "unix", path } }),
          (err) =>
            err instanceof SockkitError && err.exitCode === 1 &&
            err.message ===
              `cannot listen on unix:${path}: address already in use (a server is listening there: stop it, or pick another path)`,
        );
        assert.equal(await unixEcho(path, "still mine"), "still mine", "the first server keeps its socket");
      } finally {
        await first.stop();
      }
      const file = `${dir}/notes.txt`;
      await Deno.writeTextFile(file, "keep me");
      await assert.rejects(
        () => runServer({ endpoint: { transport: "unix", path: file } }),
        (err) => err instanceof SockkitError && /the path exists and is not a socket/.test(err.message),
      );
      assert.equal(await Deno.readTextFile(file), "keep me");
    }),
});

Deno.test({
  name: "unix: connecting to a missing socket or a dead one says which",
  ignore: onWindows,
  fn: () =>
    withTempDir(async (dir) => {
      await assert.rejects(
        () => runClient({ endpoint: { transport: "unix", path: `${dir}/none.sock` } }),
        (err) =>
          err instanceof SockkitError &&
          err.message ===
            `cannot connect to unix:${dir}/none.sock: no such socket file (is the server running, and is this its path?)`,
      );
      const stale = `${dir}/stale.sock`;
      await leaveStaleSocket(stale);
      await assert.rejects(
        () => runClient({ endpoint: { transport: "unix", path: stale } }),
        (err) =>
          err instanceof SockkitError &&
          /connection refused \(the file exists but no server/.test(err.message),
      );
    }),
});

Deno.test({
  name: "unix + broadcast: what one client sends reaches the others over a Unix socket",
  ignore: onWindows,
  fn: () =>
    withTempDir(async (dir) => {
      const path = `${dir}/fanout.sock`;
      const server = await startServer({ endpoint: { transport: "unix", path }, mode: "broadcast" });
      try {
        using a = await Deno.connect({ transport: "unix", path });
        using b = await Deno.connect({ transport: "unix", path });
        using c = await Deno.connect({ transport: "unix", path });
        let joined = 0;
        await server.waitFor((e) => e.type === "connect" && ++joined === 3);
        await a.write(encoder.encode("fan out"));
        for (const peer of [b, c]) assert.equal(decoder.decode(await readExactly(peer, 7)), "fan out");
      } finally {
        await server.stop();
      }
    }),
});

Deno.test("unix: platforms without Unix sockets get a clear error", () => {
  assert.throws(
    () => assertUnixSockets("windows"),
    (err) =>
      err instanceof SockkitError && err.exitCode === 1 &&
      /^Unix domain sockets are not available on Windows .*use TCP with a host and port instead$/.test(
        err.message,
      ),
  );
  assert.doesNotThrow(() => assertUnixSockets("linux"));
});

Deno.test({
  name: "unix cli: --unix on both sides, Ctrl-C removes the socket file",
  ignore: onWindows,
  fn: () =>
    withTempDir(async (dir) => {
      const path = `${dir}/cli.sock`;
      const server = spawnCli(["server", "--unix", path]);
      try {
        assert.equal(await server.line(/^Listening/), `Listening on unix:${path} (echo); Ctrl-C to stop`);
        const out = await runCli(["client", "--unix", path, "hello unix"]);
        assert.equal(out.code, 0, out.stderr);
        assert.match(
          out.stdout,
          new RegExp(`^Connected to unix:${path} \\(Unix socket\\) in .*\\nReceived: hello unix \\(`),
        );
        const usage = await runCli(["client", "--unix", path, "localhost", "1234"]);
        assert.equal(usage.code, 2);
        assert.match(usage.stderr, /with --unix PATH give no host or port/);
        const both = await runCli(["server", "4000", "--unix", path]);
        assert.equal(both.code, 2);
        assert.match(both.stderr, /--unix takes the place of the port and --host/);
      } finally {
        const out = await server.stop("SIGINT");
        assert.equal(out.code, 0, out.stderr);
      }
      assert.equal(exists(path), false, "socket file removed on Ctrl-C");
      const long = await runCli(["server", "--unix", `${dir}/${"x".repeat(120)}.sock`]);
      assert.equal(long.code, 2);
      assert.match(long.stderr, /bytes is too long for a socket path \(at most 107; use a shorter path/);
    }),
});
