/**
 * docs/troubleshooting.md lists every error a user can meet: each `UsageError` and `SockkitError` message in
 * sockkit's code is found, by its fixed words, in the README or a page of docs/. And the errors the README
 * walk-through turned up say what to do.
 * @module
 */
import assert from "node:assert/strict";
import { runCli } from "./_helpers.ts";

const ROOT = new URL("../", import.meta.url);

function sources(dir: URL, out: { path: string; text: string }[] = []) {
  for (const e of Deno.readDirSync(dir)) {
    const url = new URL(e.name + (e.isDirectory ? "/" : ""), dir);
    if (e.isDirectory) sources(url, out);
    else if (e.name.endsWith(".ts")) {
      out.push({ path: url.pathname.slice(ROOT.pathname.length), text: Deno.readTextFileSync(url) });
    }
  }
  return out;
}

/** The fixed parts of each error message in the code: the literal's text between its `${…}` parts. */
function errorMessages(): { path: string; message: string; fragments: string[] }[] {
  const files = sources(new URL("lib/", ROOT), sources(new URL("cli/", ROOT)));
  for (const f of ["main.ts", "server.ts", "client.ts"]) {
    files.push({ path: f, text: Deno.readTextFileSync(new URL(f, ROOT)) });
  }
  const found = [];
  for (const { path, text } of files) {
    for (
      const m of text.matchAll(
        /new (?:UsageError|SockkitError|ProxyRefusal)\(\s*([`"])((?:\\.|(?!\1)[\s\S])*)\1/g,
      )
    ) {
      const fragments = m[2].split(/\$\{[^}]*\}/).map((s) => s.replace(/^[\s'":;,.(]+|[\s'":;,.(]+$/g, ""))
        .map((s) => s.replace(/\s+/g, " ")).filter((s) => s.length >= 12);
      if (fragments.length) found.push({ path, message: m[2].replace(/\s+/g, " "), fragments });
    }
  }
  return found;
}

/** Messages no user can meet, and why. */
const UNREACHABLE = new Set<string>([
  // certificateFingerprint: its PEM comes from readPem, which refuses one without a CERTIFICATE block, or
  // from the certificate sockkit generates.
  "no certificate found in the PEM text",
]);

Deno.test("troubleshooting: every error message in the code is documented in the README or docs/", async () => {
  const pages = [await Deno.readTextFile(new URL("README.md", ROOT))];
  for (const e of Deno.readDirSync(new URL("docs/", ROOT))) {
    if (e.name.endsWith(".md")) pages.push(await Deno.readTextFile(new URL(`docs/${e.name}`, ROOT)));
  }
  const docs = pages.join("\n").replace(/\s+/g, " ");
  const messages = errorMessages();
  assert.ok(messages.length >= 100, `${messages.length} messages found`);
  const missing = messages.filter((m) =>
    !UNREACHABLE.has(m.message) && !m.fragments.some((f) => docs.includes(f))
  )
    .map((m) => `${m.path}: ${m.message}`);
  assert.deepEqual(missing, [], "add them to docs/troubleshooting.md");
});

Deno.test("troubleshooting: a 'TRUSTED CERTIFICATE' PEM names the file and how to convert it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const pem = (await Deno.readTextFile(new URL("tests/fixtures/server.pem", ROOT)))
      .replaceAll("BEGIN CERTIFICATE", "BEGIN TRUSTED CERTIFICATE").replaceAll(
        "END CERTIFICATE",
        "END TRUSTED CERTIFICATE",
      );
    await Deno.writeTextFile(`${dir}/trusted.pem`, pem);
    const key = new URL("tests/fixtures/server-key.pem", ROOT).pathname;
    for (
      const args of [
        ["server", "0", "--tls", "--cert", `${dir}/trusted.pem`, "--key", key],
        ["client", "localhost", "1", "--tls", "--ca", `${dir}/trusted.pem`],
      ]
    ) {
      const out = await runCli(args);
      assert.equal(out.code, 1, args.join(" "));
      const flag = args.includes("--ca") ? "--ca" : "--cert";
      assert.equal(
        out.stderr.trim(),
        `sockkit: ${flag} ${dir}/trusted.pem holds a 'TRUSTED CERTIFICATE' block, not a plain 'CERTIFICATE' one: ` +
          `convert it with 'openssl x509 -in ${dir}/trusted.pem -out cert.pem' and give cert.pem`,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
