/**
 * The peer suite's C programs for tests: bench/peers/loadgen.c (the native load generator) and
 * bench/peers/epoll_echo.c, built with the system `cc` once per test run, and a way to run the generator and
 * read the JSON object it prints.
 * @module
 */
import assert from "node:assert/strict";

const ROOT = new URL("..", import.meta.url).pathname;
const decoder = new TextDecoder();

/** Whether a C compiler is on PATH (the tests that need one are skipped without it). */
export const HAS_CC: boolean = new Deno.Command("sh", { args: ["-c", "command -v cc"], stdout: "null" })
  .outputSync().success;

/** `taskset -c CPU` where it helps: on a machine with 2 or more CPUs that has taskset; else nothing. */
export function pinTo(cpu: number): string[] {
  if (navigator.hardwareConcurrency < 2) return [];
  const has =
    new Deno.Command("sh", { args: ["-c", "command -v taskset"], stdout: "null" }).outputSync().success;
  return has ? ["taskset", "-c", String(cpu)] : [];
}

let built: string | undefined;
globalThis.addEventListener("unload", () => {
  if (built) Deno.removeSync(built, { recursive: true });
});

/** Compiles a C program from bench/peers once per run (`cc -O2`); returns the binary's path. */
export function buildPeer(name: string): string {
  built ??= Deno.makeTempDirSync({ prefix: "sockkit-loadgen-" });
  const out = `${built}/${name}`;
  try {
    Deno.statSync(out);
    return out;
  } catch { /* not built yet */ }
  const cc = new Deno.Command("cc", { args: ["-O2", "-o", out, `${ROOT}bench/peers/${name}.c`, "-lm"] })
    .outputSync();
  assert.ok(cc.success, decoder.decode(cc.stderr));
  return out;
}

/** One generator run: its exit code, the JSON object it printed, and its stderr. */
export interface LoadgenRun {
  code: number;
  result: Record<string, number | boolean | string>;
  stderr: string;
}

/** Runs loadgen with `args` (after `prefix`, such as `taskset -c 1`) and parses what it printed. */
export async function loadgen(args: string[], prefix: string[] = []): Promise<LoadgenRun> {
  const cmd = [...prefix, buildPeer("loadgen"), ...args];
  const out = await new Deno.Command(cmd[0], { args: cmd.slice(1), stdout: "piped", stderr: "piped" })
    .output();
  const text = decoder.decode(out.stdout).trim();
  return { code: out.code, result: text ? JSON.parse(text) : {}, stderr: decoder.decode(out.stderr) };
}

/** Starts the suite's C epoll echo server on a free port (after `prefix`, such as `taskset -c 1`). */
export async function startCEcho(
  prefix: string[] = [],
): Promise<{ port: number; stop: () => Promise<void> }> {
  const cmd = [...prefix, buildPeer("epoll_echo"), "0"];
  const child = new Deno.Command(cmd[0], { args: cmd.slice(1), stdout: "piped", stderr: "null" }).spawn();
  const reader = child.stdout.getReader();
  const { value } = await reader.read();
  const port = Number(/:(\d+)/.exec(decoder.decode(value))?.[1]);
  return {
    port,
    stop: async () => {
      reader.releaseLock();
      await child.stdout.cancel();
      child.kill();
      await child.status;
    },
  };
}
