import assert from "node:assert/strict";
import meta from "../deno.json" with { type: "json" };
import { compileArgs, RUNTIME_FLAGS } from "../tools/compile.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const PROBE = "tests/peers/sandbox_server_probe.ts";

/** The permission flags a deno.json task grants: `--allow-*`, `-A`, and `--unstable-net`, which enables UDP. */
function permissionFlags(task: string): string[] {
  return task.split(/\s+/).filter((t) => /^(--allow-|-A$|--unstable-net$)/.test(t));
}

/** The set the README's Permissions section says sockkit runs with ("exactly **`--allow-net …`**"). */
async function documentedFlags(): Promise<string[]> {
  const readme = await Deno.readTextFile(new URL("README.md", new URL("../", import.meta.url)));
  const section = readme.slice(readme.indexOf("## Permissions"));
  const exactly = /runs with exactly \*\*`([^`]+)`\*\*(?:, plus the \*\*`([^`]+)`\*\* flag)?/.exec(section);
  assert.ok(exactly, "the README's Permissions section states the exact set");
  return [...exactly[1].split(/\s+/), ...(exactly[2] ? [exactly[2]] : [])];
}

/** A task's command line, with a task it runs (`deno task -q sockkit server`) replaced by that task's. */
function taskLine(name: keyof typeof meta.tasks): string {
  const line: string = meta.tasks[name];
  const runs = /^deno task -q (\S+)(.*)$/.exec(line);
  return runs ? taskLine(runs[1] as keyof typeof meta.tasks) + runs[2] : line;
}

/** The command line `./sockkit` execs, seen through a stand-in Deno that prints its arguments. */
function launcherLine(): string {
  const dir = Deno.makeTempDirSync();
  try {
    const fake = `${dir}/deno`;
    Deno.writeTextFileSync(
      fake,
      '#!/bin/sh\n[ "$1" = --version ] && echo "deno 2.9.6 (stub)" && exit 0\necho "$@"\n',
    );
    Deno.chmodSync(fake, 0o755);
    const out = new Deno.Command(`${ROOT}sockkit`, {
      args: ["--version"],
      env: { DENO: fake },
      stderr: "null",
    })
      .outputSync();
    return new TextDecoder().decode(out.stdout);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

/** Every way sockkit is run, with the command line each one grants. */
const WAYS: Record<string, string> = {
  "deno task server": taskLine("server"),
  "deno task client": taskLine("client"),
  "deno task sockkit": taskLine("sockkit"),
  "deno task compile (the binary)": compileArgs("dist/sockkit").join(" "),
  "./sockkit": launcherLine(),
};

Deno.test("sandbox: the permission flags have one source, deno.json's sockkit task, which the others run or read", () => {
  for (const task of ["server", "client", "bench"] as const) {
    assert.match(meta.tasks[task], new RegExp(`^deno task -q sockkit ${task}$`), `deno task ${task}`);
  }
  assert.match(
    Deno.readTextFileSync(`${ROOT}sockkit`),
    /sed -n .*"sockkit".*deno\.json/,
    "./sockkit reads it",
  );
  assert.match(Deno.readTextFileSync(`${ROOT}tools/compile.ts`), /runtimeFlags\(meta\.tasks\.sockkit\)/);
});

Deno.test("sandbox: every run and compile path grants exactly the permissions the README documents", async () => {
  const documented = await documentedFlags();
  assert.ok(!documented.some((f) => /^(-A|--allow-all|--allow-run|--allow-env|--allow-ffi)/.test(f)));
  assert.deepEqual(permissionFlags(RUNTIME_FLAGS.join(" ")), documented, "tools/compile.ts RUNTIME_FLAGS");
  for (const [way, line] of Object.entries(WAYS)) {
    assert.deepEqual(permissionFlags(line), documented, way);
    assert.match(line, /(^|\s)--no-prompt(\s|$)/, `${way} never prompts for a permission`);
  }
});

for (const name of ["deno task server", "deno task compile (the binary)"]) {
  Deno.test(`sandbox: a server serving under ${name} permissions cannot read files or start processes`, async () => {
    const secret = await Deno.makeTempFile({ prefix: "sockkit-secret-" });
    try {
      await Deno.writeTextFile(secret, "not for sockkit");
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--quiet", "--no-prompt", ...permissionFlags(WAYS[name]), PROBE, secret],
        cwd: ROOT,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
      assert.ok(out.success, `${lines.join("\n")}\n${new TextDecoder().decode(out.stderr)}`);
      const { serving, ...result } = JSON.parse(lines.at(-1)!);
      assert.match(serving, /^127\.0\.0\.1:\d+$/);
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
