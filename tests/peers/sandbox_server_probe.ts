/**
 * Starts `sockkit server 0 --host 127.0.0.1` in this process, under the permission flags this script
 * was run with, waits until it is serving, then tries what sockkit never needs while serving (reading and
 * writing a file, starting a process, reading the environment) and what it does need (listening on
 * loopback). Prints one JSON line, e.g. `{ "read": "denied", …, "net": "allowed" }`, and exits.
 *
 * Usage (from the repository root): deno run --no-prompt <flags> tests/peers/sandbox_server_probe.ts FILE
 */
import { main } from "../../main.ts";

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

/** Resolves with the address once the server prints its "Listening on …" line (main.ts writes with writeSync). */
function listening(): Promise<string> {
  const write = Deno.stdout.writeSync.bind(Deno.stdout);
  return new Promise((resolve) => {
    Deno.stdout.writeSync = (p: Uint8Array) => {
      const line = new TextDecoder().decode(p);
      const address = /^Listening on (\S+)/.exec(line)?.[1];
      if (address) resolve(address);
      return write(p);
    };
  });
}

const address = listening();
const serving = main(["server", "0", "--host", "127.0.0.1"]);
serving.then((code) => {
  console.log(JSON.stringify({ error: `the server stopped with exit code ${code}` }));
  Deno.exit(1);
});
await address;
const result = {
  serving: await address,
  read: await attempt(() => Deno.readTextFile(file)),
  write: await attempt(() => Deno.writeTextFile(file, "overwritten")),
  run: await attempt(() => new Deno.Command("sh", { args: ["-c", "true"] }).output()),
  env: await attempt(() => Deno.env.get("HOME")),
  net: await attempt(() => Deno.listen({ hostname: "127.0.0.1", port: 0 }).close()),
};
console.log(JSON.stringify(result));
Deno.exit(0);
