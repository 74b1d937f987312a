/**
 * sockkit's one entry point: builds the command line from one module per command (`cli/`), runs it, and maps
 * errors to exit codes.
 * @module
 */
import { Command, CommanderError } from "@commander-js/extra-typings";
import meta from "./deno.json" with { type: "json" };
import { ExitCode, SockkitError } from "./lib/core/errors.ts";
import { escapeText } from "./lib/core/format.ts";
import { usageOutput, writeLine } from "./cli/common.ts";
import { addServerCommand } from "./cli/server.ts";
import { addClientCommand } from "./cli/client.ts";
import { addRelayCommand } from "./cli/relay.ts";
import { addBenchCommand } from "./cli/bench.ts";
import { addProbeCommand } from "./cli/probe.ts";
import { addDemoCommand } from "./cli/demo.ts";

/** The version printed by `--version` and carried by compiled binaries. */
export const VERSION: string = meta.version;

/** The page with each command's details, named on the last line of its `--help`. */
export const COMMAND_DOCS: Readonly<Record<string, string>> = {
  server: "docs/server.md",
  client: "docs/client.md",
  relay: "docs/relay.md",
  bench: "docs/bench.md",
  probe: "docs/probe.md",
  demo: "docs/trace.md",
};

/** Where a command's details are: its page in docs/, or the README for a command without one. */
function docFor(command: string): string {
  return COMMAND_DOCS[command] ?? "README.md";
}

/** Builds the command line; each action resolves to the process exit code. */
export function buildProgram(setExit: (code: number) => void) {
  const program = new Command()
    .name("sockkit")
    .description("A socket toolkit: echo server, client and more, in one binary.")
    .version(VERSION, "-V, --version", "print the version and exit")
    .option("--debug", "show stack traces for internal errors")
    .exitOverride()
    .showSuggestionAfterError()
    .configureOutput(usageOutput("sockkit"));

  addServerCommand(program, setExit);
  addClientCommand(program, setExit);
  addRelayCommand(program, setExit);
  addBenchCommand(program, setExit);
  addProbeCommand(program, setExit);
  addDemoCommand(program, setExit);
  for (const command of program.commands) {
    command.addHelpText("after", `\nDetails: ${docFor(command.name())}`);
  }

  return program;
}

function reportError(err: unknown, debug: boolean): number {
  if (err instanceof CommanderError) {
    const ok = ["commander.helpDisplayed", "commander.version", "commander.help"].includes(err.code);
    return ok ? ExitCode.Ok : ExitCode.Usage;
  }
  if (err instanceof SockkitError) {
    writeLine(Deno.stderr, `sockkit: ${escapeText(err.message)}`);
    if (debug && err.cause instanceof Error) writeLine(Deno.stderr, err.cause.stack ?? String(err.cause));
    return err.exitCode;
  }
  const message = err instanceof Error ? err.message : String(err);
  writeLine(
    Deno.stderr,
    `sockkit: internal error: ${message} (run with --debug for details, and please report it)`,
  );
  if (debug && err instanceof Error) writeLine(Deno.stderr, err.stack ?? "");
  return ExitCode.Failure;
}

/** Runs sockkit with the given arguments and resolves to the exit code. */
export async function main(args: string[]): Promise<number> {
  let code: number = ExitCode.Ok;
  const program = buildProgram((c) => (code = c));
  try {
    await program.parseAsync(args, { from: "user" });
    return code;
  } catch (err) {
    return reportError(err, args.includes("--debug"));
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
