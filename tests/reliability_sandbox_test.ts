import assert from "node:assert/strict";
import meta from "../deno.json" with { type: "json" };

const PROBE = new URL("./peers/sandbox_probe.ts", import.meta.url).pathname;

/** The permission flags a deno.json task grants: `--allow-*`, `-A`, `--allow-all`. */
function permissionFlags(task: string): string[] {
  return task.split(/\s+/).filter((t) => /^(--allow-|-A$|--allow-all$)/.test(t));
}

const TASKS = ["server", "client", "sockkit", "compile"] as const;

Deno.test("sandbox: every run and compile task grants sockkit network access and nothing else", () => {
  for (const name of TASKS) {
    assert.deepEqual(permissionFlags(meta.tasks[name]), ["--allow-net"], `deno task ${name}`);
  }
});

for (const name of ["server", "compile"] as const) {
  Deno.test(`sandbox: under the permissions of 'deno task ${name}', reading a file and spawning a process fail`, async () => {
    const secret = await Deno.makeTempFile({ prefix: "sockkit-secret-" });
    try {
      await Deno.writeTextFile(secret, "not for sockkit");
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--quiet", "--no-prompt", ...permissionFlags(meta.tasks[name]), PROBE, secret],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.ok(out.success, new TextDecoder().decode(out.stderr));
      const result = JSON.parse(new TextDecoder().decode(out.stdout));
      assert.deepEqual(result, {
        read: "denied",
        write: "denied",
        run: "denied",
        env: "denied",
        net: "allowed",
      });
      assert.equal(await Deno.readTextFile(secret), "not for sockkit", "the file is untouched");
    } finally {
      await Deno.remove(secret);
    }
  });
}
