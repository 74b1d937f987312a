import assert from "node:assert/strict";
import meta from "../deno.json" with { type: "json" };

const ROOT = new URL("..", import.meta.url).pathname;
const LAUNCHER = `${ROOT}sockkit`;
const decoder = new TextDecoder();

/** Runs a command line on a pseudo-terminal (util-linux `script`), as a user at a terminal would. */
async function onTerminal(command: string): Promise<{ code: number; text: string }> {
  const out = await new Deno.Command("script", {
    args: ["-qec", command, "/dev/null"],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, text: decoder.decode(out.stdout) + decoder.decode(out.stderr) };
}

const hasScript = new Deno.Command("sh", { args: ["-c", "command -v script"], stdout: "null" }).outputSync()
  .success;

for (const args of ["--help", "server --help", "client -h", "bench --help", "help server", ""]) {
  Deno.test({
    name: `launcher: './sockkit ${args}' on a terminal shows help without asking for a permission`,
    ignore: !hasScript,
    async fn() {
      const { code, text } = await onTerminal(`./sockkit ${args}`);
      assert.equal(code, 0, text);
      assert.match(text, /^Usage: sockkit/m);
      assert.doesNotMatch(text, /Requires env access|run again with|Granted|internal error:/);
    },
  });
}

Deno.test("launcher: 'deno task sockkit --help' without NO_COLOR prints the help", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", "sockkit", "--help"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, decoder.decode(out.stderr));
  assert.match(decoder.decode(out.stdout), /^Usage: sockkit \[options\] \[command\]/);
});

/** Starts `./sockkit server 0 --host 127.0.0.1` through `launcher` (with PATH prefixed by `pathDir`). */
function launchServer(launcher: string, pathDir?: string) {
  const env = pathDir ? { PATH: `${pathDir}:${Deno.env.get("PATH")}` } : undefined;
  const child = new Deno.Command(launcher, {
    args: ["server", "0", "--host", "127.0.0.1"],
    cwd: ROOT,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdout = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  const listening = (async () => {
    while (!/Listening on 127\.0\.0\.1:(\d+)/.test(seen)) {
      const { value, done } = await stdout.read();
      if (done) throw new Error(`server ended before listening: ${seen}`);
      seen += value;
    }
    return Number(/Listening on 127\.0\.0\.1:(\d+)/.exec(seen)![1]);
  })();
  const rest = async () => {
    for (;;) {
      const { value, done } = await stdout.read();
      if (done) return seen;
      seen += value;
    }
  };
  return { child, listening, rest, stderr: new Response(child.stderr).text() };
}

Deno.test("launcher: './sockkit server' and './sockkit client' round-trip; Ctrl-C stops the server with 0", async () => {
  const server = launchServer(LAUNCHER);
  const port = await server.listening;
  const client = await new Deno.Command(LAUNCHER, {
    args: ["client", "127.0.0.1", String(port), "--repeat", "--count", "2", "--interval", "10ms"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(client.code, 0, decoder.decode(client.stderr));
  assert.match(decoder.decode(client.stdout), /2 sent, 2 received, 0% lost/);
  server.child.kill("SIGINT");
  const [status, stdout] = await Promise.all([server.child.status, server.rest(), server.stderr]);
  assert.equal(status.code, 0);
  assert.match(stdout, /Stopped after .*: 1 client served, 2 messages, 10 B received/);
});

/** npm's `deno` wrapper (bin.cjs, a Node script) when the Deno running the tests came from npm. */
function npmWrapper(): string | undefined {
  const candidates = [Deno.execPath().replace(/[^/]+$/, "bin.cjs"), `${ROOT}../bin.cjs`];
  const dir = Deno.execPath().replace(/\/[^/]+$/, "");
  candidates.push(dir.replace(/\/node_modules\/@deno\/[^/]+$/, "/bin.cjs"));
  return candidates.find((p) => {
    try {
      return Deno.statSync(p).isFile &&
        decoder.decode(Deno.readFileSync(p)).startsWith("#!/usr/bin/env node");
    } catch {
      return false;
    }
  });
}

const wrapper = npmWrapper();

Deno.test({
  name: wrapper
    ? "launcher: with npm's deno wrapper first on PATH, SIGINT still reaches the server (summary, exit 0)"
    : "launcher: npm wrapper on PATH (ignored: the Deno running the tests was not installed from npm)",
  ignore: !wrapper,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      await Deno.symlink(wrapper!, `${dir}/deno`);
      const server = launchServer(LAUNCHER, dir);
      await server.listening;
      server.child.kill("SIGINT");
      const [status, stdout] = await Promise.all([server.child.status, server.rest(), server.stderr]);
      assert.equal(status.code, 0);
      assert.match(stdout, /Stopped after .*: 0 clients served/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("launcher: a compiled dist/sockkit is run in place of deno, with every argument", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.copyFile(LAUNCHER, `${dir}/sockkit`);
    await Deno.chmod(`${dir}/sockkit`, 0o755);
    await Deno.mkdir(`${dir}/dist`);
    await Deno.writeTextFile(`${dir}/dist/sockkit`, '#!/bin/sh\necho "binary: $*"\n');
    await Deno.chmod(`${dir}/dist/sockkit`, 0o755);
    const out = await new Deno.Command(`${dir}/sockkit`, { args: ["server", "a b"], stdout: "piped" })
      .output();
    assert.equal(decoder.decode(out.stdout), "binary: server a b\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("launcher: no Deno at all is one line saying how to install the pinned one", async () => {
  const out = await new Deno.Command(LAUNCHER, {
    args: ["--version"],
    env: { DENO: "/bin/false" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 1);
  const pinned = decoder.decode(Deno.readFileSync(`${ROOT}.ci/versions`)).match(/deno_version=(\S+)/)![1];
  assert.equal(
    decoder.decode(out.stderr),
    `sockkit: /bin/false does not run as Deno: run 'npm install -g deno@${pinned}', or set DENO=/path/to/deno\n`,
  );
  assert.equal(pinned, Deno.version.deno, "the tests run under the pinned Deno");
  assert.equal(meta.version.length > 0, true);
});
