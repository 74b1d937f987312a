import assert from "node:assert/strict";
import process from "node:process";
import net from "node:net";
import { main } from "../main.ts";

const VECTORS = 10_000;

const COMMANDS = ["server", "client", "help", "bench", "relay", "probe", "chat", "Server", ""];
const FLAGS = [
  "--host",
  "--mode",
  "--grace",
  "-v",
  "--verbose",
  "-q",
  "--quiet",
  "--json",
  "--debug",
  "-r",
  "--repeat",
  "-c",
  "--count",
  "-i",
  "--interval",
  "-t",
  "--timeout",
  "-V",
  "--version",
  "-h",
  "--help",
  "--",
  "-",
  "-vq",
  "-rc",
  "-c3",
  "--count=5",
  "--host=::1",
  "--grace=",
  "--mode=echo",
  "--no-json",
  "--hots",
  "-x",
  "---",
  "--=",
  "-1",
  "--max-conns",
  "--tls",
  "--udp",
  "--io",
]; // deno-fmt-ignore
const VALUES = [
  "0", "1", "1234", "65535", "65536", "-1", "1e5", "0x10", "NaN", "Infinity", "99999999999999999999", " 80",
  "80 ", "+80", "1.5", "127.0.0.1", "::1", "[::1]", "[::1", "localhost", "0.0.0.0", "::", "", " ", "a b",
  "/tmp/x", "unix:/tmp/s", "500ms", "5s", "2m", "1h", "1.5s", "0s", "-1s", "1e9h", "25d", "9".repeat(400),
  "x".repeat(300), "echo", "chat", "discard", "Hello", "-", "--", "\0", "\n", "\u001b[31m", "é", "🙂", "%s",
  "${HOME}", "'", '"', "\\", "tls://127.0.0.1:0", "udp://[::1]:53", "tcp://h:", "unix:", "ftp://x:1",
  "127.0.0.1:8080", "[::1]:0", "22,80,8000-8100", "1-65535", "8000-7000", "node", "deno", "nod",
]; // deno-fmt-ignore

/** A small seeded generator (mulberry32), so a failing seed can be replayed with SOCKKIT_FUZZ_SEED. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomArgs(random: () => number): string[] {
  const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)];
  const randomString = () => {
    const alphabet = [
      "a",
      "Z",
      "0",
      "9",
      "-",
      "=",
      ":",
      ".",
      "[",
      "]",
      "/",
      " ",
      "\0",
      "\t",
      "é",
      "😀",
      "\x7f",
    ];
    return Array.from({ length: Math.floor(random() * 12) }, () => pick(alphabet)).join("");
  };
  const args = random() < 0.8 ? [pick(COMMANDS)] : [];
  const length = Math.floor(random() * 8);
  for (let i = 0; i < length; i++) {
    const r = random();
    args.push(r < 0.4 ? pick(FLAGS) : r < 0.8 ? pick(VALUES) : r < 0.85 ? pick(COMMANDS) : randomString());
  }
  return args;
}

interface Captured {
  code: number;
  stdout: string;
  stderr: string;
}

type Patch = [object, string, unknown];

/** Replaces properties for the duration of `fn`, then restores them. */
async function withPatches<T>(patches: Patch[], fn: () => Promise<T>): Promise<T> {
  const saved = patches.map(([target, key]) => [target, key, Reflect.get(target, key)] as Patch);
  for (const [target, key, value] of patches) Reflect.set(target, key, value);
  try {
    return await fn();
  } finally {
    for (const [target, key, value] of saved) Reflect.set(target, key, value);
  }
}

/**
 * Runs `main(args)` for each vector with stdout/stderr captured and the network switched off: a vector that
 * happens to be valid fails at listen/connect with the stub's error instead of serving or connecting.
 */
async function runAll(vectors: string[][]): Promise<Captured[]> {
  const decoder = new TextDecoder();
  let stdout = "";
  let stderr = "";
  const offline = () => {
    throw new Error("network disabled for this test");
  };
  const patches: Patch[] = [
    [Deno.stdout, "writeSync", (p: Uint8Array) => (stdout += decoder.decode(p), p.length)],
    [Deno.stderr, "writeSync", (p: Uint8Array) => (stderr += decoder.decode(p), p.length)],
    [process.stdout, "write", (s: string | Uint8Array) => (stdout += String(s), true)],
    [process.stderr, "write", (s: string | Uint8Array) => (stderr += String(s), true)],
    [Deno, "exit", () => assert.fail("main() called Deno.exit")],
    [process, "exit", () => assert.fail("main() called process.exit")],
    ...["listen", "listenTls", "listenDatagram"].map((name): Patch => [Deno, name, offline]),
    ...["connect", "connectTls"].map((name): Patch => [Deno, name, () => Promise.resolve().then(offline)]),
    // --io node listens and connects with node:net
    ...["createServer", "connect"].map((name): Patch => [net, name, offline]),
  ];
  return await withPatches(patches, async () => {
    const results: Captured[] = [];
    for (const args of vectors) {
      stdout = stderr = "";
      const code = await main(args);
      results.push({ code, stdout, stderr });
    }
    return results;
  });
}

/** Why a result is wrong, or undefined when it is what a user should see. */
function problem(args: string[], r: Captured): string | undefined {
  const all = r.stdout + r.stderr;
  if (![0, 1, 2].includes(r.code)) return `exit code ${r.code}`;
  if (/sockkit: internal error/.test(all)) return "an internal error";
  const stackAllowed = r.code === 1 && args.includes("--debug");
  if (!stackAllowed && /^\s+at .+[(:]\d+/m.test(all)) return "a stack trace";
  if (r.code === 0) return all.trim() === "" ? "success without any output" : undefined;
  // A probe that found no port open exits 1 with its report on stdout: an answer, not an error.
  // With --json that report is its last line, a summary record.
  // With -q it prints nothing at all: the exit code is the answer.
  const quiet = args.includes("-q") || args.includes("--quiet");
  const report = /^Probed \d+ ports? of /m.test(r.stdout) || /"type":"summary"[^\n]*\n?$/.test(r.stdout) ||
    (quiet && r.stdout === "");
  if (r.code === 1 && args[0] === "probe" && report && r.stderr === "") return undefined;
  if (/[\p{Cc}--[\n]]/v.test(r.stderr)) return "a raw control character in the error";
  const lines = r.stderr.trimEnd().split("\n");
  if (!lines[0].startsWith("sockkit: ")) return "an error not starting with 'sockkit: '";
  if (r.code === 2 && lines.length > 2) return "a usage error longer than two lines";
  return r.stdout === "" ? undefined : "an error with output on stdout";
}

Deno.test(`CLI: ${VECTORS} random argument vectors give help, a one-line error, or a usage error; never a stack`, async () => {
  const seed = Number(Deno.env.get("SOCKKIT_FUZZ_SEED") ?? Math.floor(Math.random() * 2 ** 31));
  const random = prng(seed);
  const vectors = Array.from({ length: VECTORS }, () => randomArgs(random));
  const results = await runAll(vectors);
  const failures = vectors.flatMap((args, i) => {
    const why = problem(args, results[i]);
    return why ? [`${JSON.stringify(args)} → ${why}:\n${results[i].stdout}${results[i].stderr}`] : [];
  });
  assert.deepEqual(
    failures.slice(0, 5),
    [],
    `seed ${seed}: ${failures.length} bad results, first ones above`,
  );
  const codes = Object.groupBy(results, (r) => String(r.code));
  assert.ok((codes[2]?.length ?? 0) > VECTORS / 2, `most vectors are usage errors (seed ${seed})`);
  assert.ok(codes[0] && codes[1], `some vectors are valid or ask for help (seed ${seed})`);
});

Deno.test("CLI: the fuzz oracle recognises the stack trace that only --debug may print", async () => {
  const args = ["server", "0", "--debug"];
  const [r] = await runAll([args]);
  assert.equal(r.code, 1);
  assert.equal(problem(args, r), undefined);
  assert.equal(problem(["server", "0"], r), "a stack trace");
});

Deno.test("CLI: a host with a control character is a usage error, not a failed listen", async () => {
  for (const host of ["a\u0000b", "\u001b[31m", "x\u007f"]) {
    const [r] = await runAll([["server", "0", "--host", host]]);
    assert.equal(r.code, 2, JSON.stringify(r));
    assert.match(r.stderr, /^sockkit: invalid host '/);
  }
});

Deno.test("CLI: user input quoted in an error is escaped: one line, no raw control characters", async () => {
  const [port, host] = await runAll([["server", "8\n0"], ["client", "\u001b[2J", "\t"]]);
  assert.equal(port.code, 2);
  assert.equal(port.stderr, "sockkit: invalid port '8\\n0': expected a whole number from 0 to 65535\n");
  assert.equal(host.code, 2);
  assert.match(host.stderr, /^sockkit: invalid host '\\x1b\[2J'/);
});
