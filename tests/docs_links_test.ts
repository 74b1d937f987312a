/**
 * The README stays short and the pages of docs/ hold the details: every relative link in README.md and
 * docs/*.md leads to a file that exists, and a `#anchor` to a heading of that file (GitHub's heading slugs);
 * each command's `--help` names the page of its details on its last line.
 * @module
 */
import assert from "node:assert/strict";
import { runCli } from "./_helpers.ts";
import { COMMAND_DOCS } from "../main.ts";

const ROOT = new URL("../", import.meta.url);
const PAGES = [
  "README.md",
  ...[...Deno.readDirSync(new URL("docs/", ROOT))].filter((e) => e.name.endsWith(".md")).map((e) =>
    `docs/${e.name}`
  ).sort(),
];

/** GitHub's anchor for a heading: lower case, punctuation dropped (letters, digits, `-`, `_` kept), spaces `-`. */
export function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\p{M}\- _]/gu, "").replaceAll(" ", "-");
}

/** The anchors of a Markdown page: one per heading outside code blocks, repeats numbered `-1`, `-2`, … */
export function anchors(markdown: string): Set<string> {
  const found = new Set<string>();
  const counts = new Map<string, number>();
  let fence = false;
  for (const line of markdown.split("\n")) {
    if (/^ *```/.test(line)) fence = !fence;
    const m = fence ? null : /^#{1,6} +(.*?)(?: +#+)? *$/.exec(line);
    if (!m) continue;
    const base = slug(m[1]);
    const n = counts.get(base);
    counts.set(base, (n ?? -1) + 1);
    found.add(n === undefined ? base : `${base}-${n + 1}`);
  }
  return found;
}

/** The link targets of a page, outside code blocks and code spans: `[text](target)` and `![alt](target)`. */
function links(markdown: string): string[] {
  const prose = markdown.replace(/^ *```[^\n]*\n[\s\S]*?\n *```/gm, "").replace(/`[^`\n]*`/g, "");
  return [...prose.matchAll(/\]\(([^)\s]+)(?: "[^"]*")?\)/g)].map((m) => m[1]);
}

Deno.test("docs: slugs follow GitHub's rules", () => {
  assert.equal(slug("Which API moves the bytes: `--io`"), "which-api-moves-the-bytes---io");
  assert.equal(
    slug("`sockkit relay`: one address in front of another"),
    "sockkit-relay-one-address-in-front-of-another",
  );
  assert.equal(slug("How a pair flows (lib/relay/pair.ts)"), "how-a-pair-flows-librelaypairts");
  assert.deepEqual([...anchors("# A\n## A\n```\n# B\n```\n### A")], ["a", "a-1", "a-2"]);
});

Deno.test("docs: README.md has at most 500 lines", async () => {
  const lines = (await Deno.readTextFile(new URL("README.md", ROOT))).trimEnd().split("\n").length;
  assert.ok(lines <= 500, `README.md has ${lines} lines: move details to docs/`);
});

Deno.test("docs: every relative link in README.md and docs/*.md resolves, anchors included", async () => {
  const bad: string[] = [];
  let count = 0;
  for (const page of PAGES) {
    const text = await Deno.readTextFile(new URL(page, ROOT));
    for (const target of links(text)) {
      if (/^[a-z][\w+.-]*:/i.test(target)) continue; // https:, mailto:
      count++;
      const [path, anchor] = target.split("#", 2);
      const file = path ? new URL(path, new URL(page, ROOT)) : new URL(page, ROOT);
      let body: string;
      try {
        const stat = await Deno.stat(file);
        body = stat.isFile ? await Deno.readTextFile(file) : "";
      } catch {
        bad.push(`${page}: ${target}: no such file`);
        continue;
      }
      if (anchor !== undefined && !(file.pathname.endsWith(".md") && anchors(body).has(anchor))) {
        bad.push(`${page}: ${target}: no heading with the anchor #${anchor}`);
      }
    }
  }
  assert.deepEqual(bad, []);
  assert.ok(count >= 50, `${count} relative links checked`);
});

Deno.test("docs: the topics of issue 28 each have their page, and the README links to every page", async () => {
  const readme = await Deno.readTextFile(new URL("README.md", ROOT));
  for (const page of PAGES.filter((p) => p !== "README.md")) {
    assert.ok(readme.includes(`](${page})`) || readme.includes(`](${page}#`), `README.md links to ${page}`);
  }
  for (
    const page of [
      "transports",
      "modes",
      "security",
      "relay",
      "bench",
      "web",
      "hub",
      "event-loops",
      "architecture",
    ]
      .concat(["troubleshooting", "server", "client", "probe"])
  ) assert.ok(PAGES.includes(`docs/${page}.md`), `docs/${page}.md`);
});

Deno.test("docs: each command's --help ends with the page of its details", async () => {
  const help = await runCli(["--help"]);
  const commands = [...help.stdout.matchAll(/^ {2}(\w+) \[options\]/gm)].map((m) => m[1]);
  assert.ok(commands.length >= 5, help.stdout);
  for (const command of commands) {
    const out = (await runCli([command, "--help"])).stdout.trimEnd().split("\n");
    const m = /^Details: (\S+)$/.exec(out.at(-1) ?? "");
    assert.ok(m, `${command} --help ends with 'Details: PAGE': ${out.at(-1)}`);
    if (COMMAND_DOCS[command]) assert.equal(m[1], COMMAND_DOCS[command], command);
    await Deno.stat(new URL(m[1], ROOT)); // the page exists
  }
});

Deno.test("docs: the file map of docs/architecture.md lists exactly the folders of lib/", async () => {
  const page = await Deno.readTextFile(new URL("docs/architecture.md", ROOT));
  const mapped = [...page.matchAll(/^\| `lib\/([\w-]+)\/` +\|/gm)].map((m) => m[1]).sort();
  const folders = [...Deno.readDirSync(new URL("lib/", ROOT))].filter((e) => e.isDirectory).map((e) => e.name)
    .sort();
  assert.deepEqual(mapped, folders, "a row per lib/ folder in the Layout table");
});
