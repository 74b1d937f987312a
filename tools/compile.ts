/**
 * Builds sockkit's standalone binaries with `deno compile`, granting them exactly sockkit's permissions, and
 * says plainly when Deno's runtime (`denort`) cannot be had instead of failing on a download.
 *
 * `deno task compile` builds `dist/sockkit` for this machine (where `./sockkit` finds it); `deno task
 * compile:all` builds `dist/sockkit-<os>-<arch>` for every supported target.
 * @module
 */
import meta from "../deno.json" with { type: "json" };

/**
 * The permissions and flags sockkit runs with, from their one source: deno.json's `sockkit` task (which the
 * `server`, `client` and `bench` tasks run, and `./sockkit` reads), so every compiled binary gets the same.
 */
export const RUNTIME_FLAGS: readonly string[] = runtimeFlags(meta.tasks.sockkit);

/** The flags of a `… deno run FLAGS main.ts` command line. */
export function runtimeFlags(task: string): string[] {
  const flags = /\bdeno run (.*?) main\.ts\b/.exec(task)?.[1].split(/\s+/);
  if (!flags?.length) throw new Error(`deno.json's sockkit task runs no 'deno run FLAGS main.ts': ${task}`);
  return flags;
}

/** The targets `compile:all` builds, and the file name each binary gets under `dist/`. */
export const TARGETS: Readonly<Record<string, string>> = {
  "x86_64-unknown-linux-gnu": "sockkit-linux-x64",
  "aarch64-unknown-linux-gnu": "sockkit-linux-arm64",
  "x86_64-apple-darwin": "sockkit-macos-x64",
  "aarch64-apple-darwin": "sockkit-macos-arm64",
  "x86_64-pc-windows-msvc": "sockkit-windows-x64.exe",
};

/** The `deno compile` arguments for one binary (`target` undefined: this machine). */
export function compileArgs(output: string, target?: string): string[] {
  return [
    "compile",
    ...RUNTIME_FLAGS,
    ...(target ? ["--target", target] : []),
    "--include",
    "lib/bench/worker.ts",
    "--include",
    "lib/relay/worker.ts",
    "--include",
    "lib/server/worker.ts",
    "--output",
    output,
    "main.ts",
  ];
}

/** The environment a binary is built with: TLS clients trust the system's roots as well as Mozilla's. */
export const COMPILE_ENV: Readonly<Record<string, string>> = { DENO_TLS_CA_STORE: "mozilla,system" };

/** Where `deno compile` would find `denort` for `target`: DENORT_BIN, or the archive cached under DENO_DIR. */
export function denortSource(target: string = Deno.build.target): { path: string; found: boolean } {
  const explicit = Deno.env.get("DENORT_BIN");
  if (explicit) return { path: explicit, found: isFile(explicit) };
  const info = new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    stdout: "piped",
    stderr: "null",
  })
    .outputSync();
  const denoDir: string = JSON.parse(new TextDecoder().decode(info.stdout)).denoDir;
  const path = `${denoDir}/dl/release/v${Deno.version.deno}/denort-${target}.zip`;
  return { path, found: isFile(path) };
}

/** The address `deno compile` downloads `denort` from when it is not cached. */
export function denortUrl(target: string = Deno.build.target): string {
  return `https://dl.deno.land/release/v${Deno.version.deno}/denort-${target}.zip`;
}

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** Builds one binary; resolves to the exit code, after one line that explains a failure. */
async function build(output: string, target?: string): Promise<number> {
  const source = denortSource(target);
  if (!source.found && Deno.env.get("DENORT_BIN")) {
    console.error(`sockkit compile: DENORT_BIN=${source.path} is not a file: point it at a denort binary`);
    return 1;
  }
  const result = await new Deno.Command(Deno.execPath(), {
    args: compileArgs(output, target),
    env: COMPILE_ENV,
    stdout: "inherit",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(result.stderr);
  if (result.success) {
    await Deno.stderr.write(result.stderr);
    return 0;
  }
  if (!source.found && /dl\.deno\.land|Setting up base binary|error sending request/.test(stderr)) {
    console.error(
      `sockkit compile: deno compile needs Deno's runtime, denort, and could not download it from ` +
        `${denortUrl(target)}; fetch that archive elsewhere, unzip it, and set DENORT_BIN=/path/to/denort`,
    );
    return 1;
  }
  await Deno.stderr.write(result.stderr);
  return result.code || 1;
}

if (import.meta.main) {
  const all = Deno.args.includes("--all");
  const jobs: [string, string | undefined][] = all
    ? Object.entries(TARGETS).map(([target, name]) => [`dist/${name}`, target])
    : [[`dist/sockkit${Deno.build.os === "windows" ? ".exe" : ""}`, undefined]];
  let code = 0;
  for (const [output, target] of jobs) {
    code = await build(output, target);
    if (code !== 0) break;
  }
  Deno.exit(code);
}
