/**
 * Brings the line numbers of the "How it works" table (docs/architecture.md) up to date: each row names a file, a line and the
 * code on it; when the code has moved, the row gets the line it is on now (`deno task readme:lines`).
 * tests/readme_test.ts checks the same rows.
 * @module
 */

/** The page that holds the table. */
export const CODE_TABLE = "docs/architecture.md";

/** A row of the table: where it is in the page, and the file, line and code it names. */
export interface CodeRow {
  match: string;
  file: string;
  line: number;
  code: string;
}

/** The rows of the "How it works" table. */
export function codeRows(readme: string): CodeRow[] {
  return [...readme.matchAll(/^\|[^|]*\| `([\w/.]+\.ts):(\d+)` +\| `(.+)` +\|$/gm)].map((m) => ({
    match: m[0],
    file: m[1],
    line: Number(m[2]),
    code: m[3],
  }));
}

if (import.meta.main) {
  const root = new URL("../", import.meta.url);
  let readme = Deno.readTextFileSync(new URL(CODE_TABLE, root));
  let failed = false;
  for (const row of codeRows(readme)) {
    const lines = Deno.readTextFileSync(new URL(row.file, root)).split("\n");
    if (lines[row.line - 1]?.trim() === row.code) continue;
    const found = lines.flatMap((l, i) => l.trim() === row.code ? [i + 1] : []);
    if (found.length !== 1) {
      console.error(`${row.file}: '${row.code}' is on ${found.length} lines: fix this row by hand`);
      failed = true;
      continue;
    }
    const ref = `${row.file}:${found[0]}`;
    const old = `${row.file}:${row.line}`;
    readme = readme.replace(row.match, row.match.replace(`\`${old}\``, `\`${ref}\``.padEnd(old.length + 2)));
    console.log(`${old} -> ${ref}`);
  }
  Deno.writeTextFileSync(new URL(CODE_TABLE, root), readme);
  Deno.exit(failed ? 1 : 0);
}
