import assert from "node:assert/strict";
import { runCli } from "./_helpers.ts";
import { CODE_TABLE, codeRows } from "../tools/readme_lines.ts";

const ROOT = new URL("../", import.meta.url);
const README = await Deno.readTextFile(new URL("README.md", ROOT));
/** The README and every page of docs/, where the details moved. */
const DOCS = [
  README,
  ...[...Deno.readDirSync(new URL("docs/", ROOT))].filter((e) => e.name.endsWith(".md")).map((e) =>
    Deno.readTextFileSync(new URL(`docs/${e.name}`, ROOT))
  ),
].join("\n");

Deno.test("readme: the 'How it works' table points at the lines that really do each step", async () => {
  const rows = codeRows(await Deno.readTextFile(new URL(CODE_TABLE, ROOT)));
  assert.ok(rows.length >= 8, "the table lists the six steps");
  assert.ok(README.includes("## How it works"), "the README keeps a 'How it works' section");
  for (const { file, line, code } of rows) {
    const lines = (await Deno.readTextFile(new URL(file, ROOT))).split("\n");
    assert.equal(lines[line - 1]?.trim(), code, `${file}:${line} (deno task readme:lines updates the table)`);
  }
});

Deno.test("readme: every option of every command is documented in the README or docs/", async () => {
  const help = await runCli(["--help"]);
  const commands = [...help.stdout.matchAll(/^ {2}(\w+) \[options\]/gm)].map((m) => m[1]);
  assert.ok(commands.includes("server") && commands.includes("client"));
  for (const command of commands) {
    const text = (await runCli([command, "--help"])).stdout;
    const options = new Set([...text.matchAll(/(?<![\w-])--[a-z][\w-]*/g)].map((m) => m[0]));
    options.delete("--help");
    for (const option of options) {
      assert.ok(DOCS.includes(`\`${option}`) || DOCS.includes(`, ${option}`), `${command} ${option}`);
    }
  }
});

Deno.test("readme: 'Getting Deno' names every npm package sockkit's own code loads (the first run downloads them)", async () => {
  const meta = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT))) as {
    imports: Record<string, string>;
  };
  const start = README.indexOf("The first run downloads");
  const paragraph = README.slice(start, README.indexOf("\n\n", start));
  const sources: string[] = [];
  const walk = (dir: URL) => {
    for (const e of Deno.readDirSync(dir)) {
      const url = new URL(e.name + (e.isDirectory ? "/" : ""), dir);
      if (e.isDirectory) walk(url);
      else if (e.name.endsWith(".ts")) sources.push(Deno.readTextFileSync(url));
    }
  };
  for (const dir of ["lib/", "cli/"]) walk(new URL(dir, ROOT));
  for (const file of ["main.ts", "server.ts", "client.ts"]) {
    sources.push(await Deno.readTextFile(new URL(file, ROOT)));
  }
  const code = sources.join("\n");
  const used = Object.keys(meta.imports).filter((name) => code.includes(`"${name}"`));
  assert.ok(used.includes("ws") && used.includes("redis"), used.join(", "));
  for (const name of used) assert.ok(paragraph.includes(`\`${name}\``), `the README names ${name}`);
});
