/**
 * What the commands print, and how: a line that survives a closed pipe, the reporters' output, usage errors
 * as one line naming the help to read, and the "Addresses:" part of the help.
 * @module
 */
import { TRANSPORTS } from "../lib/transports/mod.ts";
import { escapeText } from "../lib/core/format.ts";
import { type ReporterOutput } from "../lib/report/reporter.ts";

/** The "Addresses:" part of a command's help, one line per registered transport, from its own declaration. */
export function addressHelp(): string {
  const lines = TRANSPORTS.map((t) =>
    `  ${t.help}` + (t.options.length ? `\n      its options: ${t.options.join(", ")}` : "")
  ).join("\n");
  return `\nAddresses (every command takes the same spelling):\n${lines}`;
}

/** Encodes the lines printed. */
export const encoder = new TextEncoder();

/** Writes a line; when nobody reads the stream any more (broken pipe) the line is dropped and work goes on. */
export function writeLine(stream: { writeSync(p: Uint8Array): number }, line: string): void {
  const bytes = encoder.encode(line + "\n");
  let offset = 0;
  try {
    while (offset < bytes.length) offset += stream.writeSync(bytes.subarray(offset));
  } catch (err) {
    if (!(err instanceof Deno.errors.BrokenPipe)) throw err;
  }
}

/** Status to stdout (or to stderr when stdout carries payload); warnings always to stderr. */
export function output(statusToStderr: boolean): ReporterOutput {
  return {
    status: (line) => writeLine(statusToStderr ? Deno.stderr : Deno.stdout, line),
    warn: (line) => writeLine(Deno.stderr, line),
  };
}

/** How each command takes its port, for those who reach for a `--port` option. */
export const POSITIONAL_PORT: Record<string, string> = {
  "sockkit server": "sockkit server 1234",
  "sockkit client": "sockkit client HOST 1234",
  "sockkit bench": "sockkit bench HOST 1234",
  "sockkit relay": "sockkit relay 8080 127.0.0.1:80",
  "sockkit probe": "sockkit probe HOST 22,80,8000-8100",
};

/** Usage errors as one line that names the help to read; quoted user input is escaped (see escapeText). */
export function usageOutput(command: string) {
  return {
    // Commander's own colour check reads process.env, which needs --allow-env; Deno.noColor needs nothing.
    getOutHasColors: () => Deno.stdout.isTerminal() && !Deno.noColor,
    getErrHasColors: () => Deno.stderr.isTerminal() && !Deno.noColor,
    outputError: (message: string, write: (s: string) => void) => {
      if (/^error: unknown option '--port'/.test(message) && POSITIONAL_PORT[command]) {
        message = `unknown option '--port': the port is an argument, as in '${POSITIONAL_PORT[command]}'`;
      }
      const parts = message.replace(/^error: /, "").trim().split(/\s*\n(?=\(Did you mean )/);
      write(`sockkit: ${parts.map(escapeText).join(" ")} (see '${command} --help')\n`);
    },
  };
}
