/**
 * Run under sockkit's documented permission flags, tries what sockkit never needs (reading and writing a
 * file, spawning a process, reading the environment) and what it does need (listening on loopback), and
 * prints one JSON line: `{ "read": "denied", …, "net": "allowed" }`.
 *
 * Usage: deno run --no-prompt <flags> sandbox_probe.ts FILE
 */
const file = Deno.args[0];

async function attempt(action: () => unknown): Promise<string> {
  try {
    await action();
    return "allowed";
  } catch (err) {
    return err instanceof Deno.errors.NotCapable || err instanceof Deno.errors.PermissionDenied
      ? "denied"
      : `failed: ${err instanceof Error ? err.message : String(err)}`;
  }
}

const result = {
  read: await attempt(() => Deno.readTextFile(file)),
  write: await attempt(() => Deno.writeTextFile(file, "overwritten")),
  run: await attempt(() => new Deno.Command("sh", { args: ["-c", "true"] }).output()),
  env: await attempt(() => Deno.env.get("HOME")),
  net: await attempt(() => Deno.listen({ hostname: "127.0.0.1", port: 0 }).close()),
};
console.log(JSON.stringify(result));
