import assert from "node:assert/strict";
import meta from "../deno.json" with { type: "json" };
import { COMPILE_ENV, compileArgs, denortSource } from "../tools/compile.ts";

const available = denortSource().found;

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
        args: compileArgs(bin),
        env: COMPILE_ENV,
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

Deno.test("compile: a DENORT_BIN that is not a file is named in one line, before any download", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", "compile"],
    cwd: new URL("..", import.meta.url).pathname,
    env: { DENORT_BIN: "/nonexistent/denort" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 1);
  assert.equal(
    new TextDecoder().decode(out.stderr).trim(),
    "sockkit compile: DENORT_BIN=/nonexistent/denort is not a file: point it at a denort binary",
  );
});

Deno.test("compile: the task builds dist/sockkit, where ./sockkit looks for it", () => {
  assert.match(meta.tasks.compile, /tools\/compile\.ts$/);
  assert.deepEqual(compileArgs("dist/sockkit").slice(-3), ["--output", "dist/sockkit", "main.ts"]);
  const launcher = Deno.readTextFileSync(new URL("../sockkit", import.meta.url));
  assert.match(launcher, /"\$here\/dist\/sockkit"/);
});
