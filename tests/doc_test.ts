/** The doc examples run: every `@example` in sockkit's modules type-checks and runs under `deno test --doc`. */
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);
const MODULES = ["main.ts", "server.ts", "client.ts", "cli/", "lib/"];

Deno.test("docs: every module's examples pass under deno test --doc", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["test", "--doc", "--unstable-net", "--allow-net", "--allow-read", "--allow-write", ...MODULES],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  const summary = text.match(/^(ok|FAILED) \| (\d+) passed.*$/m);
  assert.ok(out.success, `deno test --doc failed:\n${text.slice(-3000)}`);
  assert.ok(summary && Number(summary[2]) >= 40, `at least 40 examples ran: ${summary?.[0]}`);
});
