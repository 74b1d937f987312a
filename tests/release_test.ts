/**
 * The release workflow cannot run here (it needs GitHub and Deno's download host), so this checks what can be:
 * it parses as YAML, runs on `v*` tags, builds with `deno task compile:all` (tools/compile.ts: its TARGETS and
 * RUNTIME_FLAGS, so the binaries get what `./sockkit` and the tasks grant), under the pinned Deno, checksums
 * every binary and attaches them with the checksums, and names no target or permission of its own.
 * @module
 */
import assert from "node:assert/strict";
import { parse } from "yaml";
import meta from "../deno.json" with { type: "json" };
import { RUNTIME_FLAGS, TARGETS } from "../tools/compile.ts";

const ROOT = new URL("../", import.meta.url);

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  "working-directory"?: string;
}
interface Workflow {
  on: { push: { tags: string[] } };
  permissions: Record<string, string>;
  jobs: Record<string, { "runs-on": string; steps: Step[] }>;
}

const workflow = parse(
  await Deno.readTextFile(new URL(".github/workflows/release.yml", ROOT)),
) as Workflow;
const steps = Object.values(workflow.jobs).flatMap((job) => job.steps);
const scripts = steps.map((s) => s.run ?? "").join("\n");

/** The file names a shell glob such as `dist/sockkit-*` matches among `names`. */
function globMatches(glob: string, names: string[]): string[] {
  const re = new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replaceAll("*", ".*")}$`);
  return names.filter((n) => re.test(n));
}

Deno.test("release: the workflow runs on v* tags and may write the release", () => {
  assert.deepEqual(workflow.on.push.tags, ["v*"]);
  assert.equal(workflow.permissions.contents, "write");
  for (const job of Object.values(workflow.jobs)) assert.match(job["runs-on"], /^ubuntu-/);
});

Deno.test("release: the binaries come from deno task compile:all, with tools/compile.ts's targets and flags", () => {
  assert.ok(
    steps.some((s) => /^deno task compile:all$/m.test(s.run ?? "")),
    "a step runs deno task compile:all",
  );
  assert.match(meta.tasks["compile:all"], /tools\/compile\.ts --all$/, "compile:all builds every TARGET");
  // Nothing in the workflow that could drift from tools/compile.ts: no deno compile of its own, no targets,
  // no permission flags.
  assert.doesNotMatch(scripts, /deno compile|--target|--allow-|--unstable|-A\b/);
  assert.ok(RUNTIME_FLAGS.includes("--no-prompt") && RUNTIME_FLAGS.includes("--allow-net"));
  assert.equal(Object.keys(TARGETS).length, 5, "five binaries");
});

Deno.test("release: the workflow runs the Deno pinned in .ci/versions", async () => {
  const pinned = /^deno_version=(.+)$/m.exec(await Deno.readTextFile(new URL(".ci/versions", ROOT)))?.[1];
  assert.ok(pinned);
  const setup = steps.find((s) => s.uses?.startsWith("denoland/setup-deno@"));
  assert.ok(setup, "setup-deno");
  const pin = steps.find((s) => (s.run ?? "").includes(".ci/versions"));
  assert.ok(pin, "a step reads .ci/versions");
  assert.equal(setup.with?.["deno-version"], "${{ steps.pin.outputs.deno }}");
  assert.match(pin.run ?? "", /deno_version=/);
});

Deno.test("release: every binary is checksummed and attached, with the checksums", () => {
  const binaries = Object.values(TARGETS);
  const sum = steps.find((s) => /sha256sum/.test(s.run ?? ""));
  assert.ok(sum, "a sha256sum step");
  const sumGlob = /sha256sum (\S+) > SHA256SUMS/.exec(sum.run ?? "")?.[1];
  assert.ok(sumGlob && sum["working-directory"] === "dist");
  assert.deepEqual(globMatches(sumGlob, binaries), binaries, "SHA256SUMS covers every binary");
  for (const verb of ["create", "upload"]) {
    const line = scripts.split("\n").find((l) => l.includes(`gh release ${verb}`));
    assert.ok(line, `gh release ${verb}`);
    const files = line.split(/\s+/).filter((w) => w.startsWith("dist/"));
    assert.ok(files.includes("dist/SHA256SUMS"), `${verb}: SHA256SUMS`);
    const names = binaries.map((b) => `dist/${b}`);
    assert.deepEqual(files.flatMap((f) => globMatches(f, names)), names, `${verb}: every binary`);
  }
});

Deno.test("release: the README says where the binaries come from, by their names", async () => {
  const readme = await Deno.readTextFile(new URL("README.md", ROOT));
  assert.ok(readme.includes(".github/workflows/release.yml"));
  for (const name of Object.values(TARGETS)) assert.ok(readme.includes(`\`${name}\``), name);
  assert.ok(readme.includes("SHA256SUMS"));
});
