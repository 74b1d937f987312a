import assert from "node:assert/strict";
import meta from "../deno.json" with { type: "json" };

/** Where `deno compile` finds its runtime: DENORT_BIN, or the archive cached under DENO_DIR. */
function denortAvailable(): boolean {
  const explicit = Deno.env.get("DENORT_BIN");
  if (explicit) return exists(explicit);
  const info = new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    stdout: "piped",
    stderr: "null",
  })
    .outputSync();
  const denoDir: string = JSON.parse(new TextDecoder().decode(info.stdout)).denoDir;
  const target = Deno.build.target;
  return exists(`${denoDir}/dl/release/v${Deno.version.deno}/denort-${target}.zip`);
}

function exists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** The `deno task compile` command line, with the output redirected to `output`, and its `NAME=value` prefix. */
function compileCommand(output: string): { args: string[]; env: Record<string, string> } {
  const words = meta.tasks.compile.split(/\s+/);
  const env: Record<string, string> = {};
  while (/^\w+=/.test(words[0])) {
    const [name, value] = words.shift()!.split(/=(.*)/s);
    env[name] = value;
  }
  assert.equal(words.shift(), "deno");
  const at = words.indexOf("--output");
  assert.ok(at >= 0, "the compile task names its --output");
  words[at + 1] = output;
  return { args: words, env };
}

const available = denortAvailable();

Deno.test({
  name: available
    ? "compile: the standalone binary serves and round-trips with its own client"
    : "compile: standalone binary round trip (ignored: deno compile's runtime, denort, cannot be downloaded here; set DENORT_BIN to a denort binary to run it)",
  ignore: !available,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const bin = `${dir}/sockkit${Deno.build.os === "windows" ? ".exe" : ""}`;
      const built = await new Deno.Command(Deno.execPath(), {
        ...compileCommand(bin),
        cwd: new URL("..", import.meta.url).pathname,
      }).output();
      assert.equal(built.code, 0, new TextDecoder().decode(built.stderr));

      const version = await new Deno.Command(bin, { args: ["--version"] }).output();
      assert.equal(new TextDecoder().decode(version.stdout).trim(), meta.version);

      const server = new Deno.Command(bin, {
        args: ["server", "0", "--host", "127.0.0.1"],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const lines = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
      const first = (await lines.read()).value ?? "";
      const port = first.match(/Listening on 127\.0\.0\.1:(\d+)/)?.[1];
      assert.ok(port, `server printed: ${first}`);
      const client = await new Deno.Command(bin, { args: ["client", "127.0.0.1", port, "compiled"] })
        .output();
      assert.equal(client.code, 0, new TextDecoder().decode(client.stderr));
      assert.match(new TextDecoder().decode(client.stdout), /Received: compiled/);
      server.kill("SIGINT");
      assert.equal((await server.status).code, 0);
      await lines.cancel();
      await server.stderr.cancel();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
