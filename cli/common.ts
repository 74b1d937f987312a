/**
 * What every command of the command line shares: output lines, Ctrl-C, option parsers and option kinds,
 * usage-error output, and the file-access drop once a server listens.
 * @module
 */
import { transportDeclaring, transportOf, TRANSPORTS } from "../lib/transports/mod.ts";
import { Option } from "@commander-js/extra-typings";
import { parseHost, parsePort, parseUnixPath } from "../lib/endpoints/address.ts";
import { type Cidr, parseCidr } from "../lib/endpoints/cidr.ts";
import { parseDuration } from "../lib/core/duration.ts";
import { parseAlpn, parseWholeNumber } from "../lib/endpoints/flags.ts";
import { parsePin } from "../lib/transports/tls/fingerprint.ts";
import { UsageError } from "../lib/core/errors.ts";
import type { EventSink, ServerEvent } from "../lib/report/events.ts";
import { escapeText } from "../lib/core/format.ts";
import type { Endpoint } from "../lib/transports/dispatch.ts";
import type { HttpAddress } from "../lib/web/http.ts";
import { type ReporterOutput } from "../lib/report/reporter.ts";
import { parseSize } from "../lib/core/size.ts";
import type { Terminal } from "../lib/client/terminal.ts";
import { UDP_MAX_PAYLOAD } from "../lib/transports/udp/client.ts";

/** The "Addresses:" part of a command's help, one line per registered transport, from its own declaration. */
export function addressHelp(): string {
  const lines = TRANSPORTS.map((t) =>
    `  ${t.help}` + (t.options.length ? `\n      its options: ${t.options.join(", ")}` : "")
  ).join("\n");
  return `\nAddresses (every command takes the same spelling):\n${lines}`;
}

/**
 * Refuses an option that a transport declares as its own (lib/transports/*.ts `options`) when the command runs
 * on another transport: `given` maps each such option to its value, undefined or false when not given.
 */
export function rejectOtherTransportsOptions(
  endpoint: Endpoint,
  role: "listen" | "connect",
  given: Record<string, unknown>,
): void {
  for (const [flag, value] of Object.entries(given)) {
    const owner = transportDeclaring(flag);
    if (value === undefined || value === false || !owner || owner.name === endpoint.transport) continue;
    throw new UsageError(
      `${flag} is for ${owner.label}: ${role === "listen" ? "listen on" : "connect to"} ${owner.spec}`,
    );
  }
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

/** An AbortSignal that fires on Ctrl-C (and SIGTERM); a second Ctrl-C exits at once. */
export function interruptSignal(): { signal: AbortSignal; dispose(): void } {
  const ac = new AbortController();
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT", "SIGBREAK"] : ["SIGINT", "SIGTERM"];
  const onSignal = () => {
    if (ac.signal.aborted) Deno.exit(130);
    ac.abort();
  };
  for (const s of signals) Deno.addSignalListener(s, onSignal);
  return {
    signal: ac.signal,
    dispose: () => signals.forEach((s) => Deno.removeSignalListener(s, onSignal)),
  };
}

/** Parses a port argument. */
export const portArg = (value: string) => parsePort(value);
/** Parses a host argument. */
export const hostArg = (value: string) => parseHost(value);
/** Parses a Unix socket path argument. */
export const unixArg = (value: string) => parseUnixPath(value);
/** Parses `--alpn`. */
export const alpnArg = (value: string) => parseAlpn(value);
/** Collects `--pin` fingerprints (repeatable). */
export const pinArg = (value: string, previous: string[] = []) => [...previous, parsePin(value)];
/** Parses `--udp-rate`. */
export const udpRateArg = (value: string) => parseWholeNumber(value, "--udp-rate", 0, 1_000_000);
/** Parses `--max-datagram`. */
export const maxDatagramArg = (value: string) =>
  parseWholeNumber(value, "--max-datagram", 1, UDP_MAX_PAYLOAD);

/** An option that takes a duration (`500ms`, `5s`, `2m`) and holds milliseconds. */
export function durationOption<F extends string>(flags: F, description: string, fallback: string) {
  const long = flags.split(/[ ,]+/).find((f) => f.startsWith("--"))!;
  return new Option(flags, description)
    .argParser((v) => parseDuration(v, long))
    .default(parseDuration(fallback), fallback);
}

/** An option that takes a byte size (`65536`, `64KiB`, `1MiB`) and holds bytes. */
export function sizeOption<F extends string>(flags: F, description: string, fallback: string) {
  const long = flags.split(/[ ,]+/).find((f) => f.startsWith("--"))!;
  return new Option(flags, description)
    .argParser((v) => parseSize(v, long))
    .default(parseSize(fallback), fallback);
}

/** The edit distance between two short words (for "did you mean"). */
export function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length];
}

/** An option that takes one of a few words; anything else is a usage error that lists them. */
export function choiceOption<F extends string, C extends string>(
  flags: F,
  description: string,
  choices: readonly C[],
  fallback: C,
) {
  const long = flags.split(/[ ,]+/).find((f) => f.startsWith("--"))!;
  return new Option(flags, `${description}: ${choices.join(", ")}`)
    .argParser((value: string): C => {
      if ((choices as readonly string[]).includes(value)) return value as C;
      const near = choices.find((c) => editDistance(c, value.toLowerCase()) <= 2);
      const list = `${choices.slice(0, -1).join(", ")} or ${choices.at(-1)}`;
      throw new UsageError(
        `invalid ${long} '${escapeText(value)}': expected ${list}${near ? ` (did you mean ${near}?)` : ""}`,
      );
    })
    .default(fallback);
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
/** A parser for an option that takes where an HTTP listener binds: `HOST:PORT`, `[::1]:PORT` or a bare `PORT`. */
export function httpAddressArg(option: string) {
  return (value: string): HttpAddress => {
    const spelled = /^\d+$/.test(value) ? `127.0.0.1:${value}` : value;
    const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(spelled) ?? /^([^:[\]/]+):(\d{1,5})$/.exec(spelled);
    const port = m ? Number(m[2]) : NaN;
    if (!m || port > 65535) {
      throw new UsageError(
        `invalid ${option} '${
          escapeText(value)
        }': expected HOST:PORT, such as 127.0.0.1:9464, [::1]:9464 or 0.0.0.0:9464`,
      );
    }
    return { hostname: parseHost(m[1]), port };
  };
}

/** A parser for an option that takes a whole number of 1 or more. */
export function wholeNumberArg(option: string) {
  return (value: string): number => {
    const n = /^\d+$/.test(value) ? Number(value) : NaN;
    if (!Number.isSafeInteger(n) || n < 1) {
      throw new UsageError(`invalid ${option} '${value}': expected a whole number of 1 or more`);
    }
    return n;
  };
}
/** Parses `--count`. */
export const countArg = wholeNumberArg("--count");

/** A repeatable option that collects networks (`--allow 10.0.0.0/8 --allow ::1`, or comma-separated). */
export function cidrListArg(option: string) {
  return (value: string, previous: Cidr[]): Cidr[] => [
    ...previous,
    ...value.split(",").filter((v) => v.trim() !== "").map((v) => parseCidr(v, option)),
  ];
}

/** The terminal the interactive client edits lines on, when both stdin and stdout are one. */
export function stdinTerminal(): Terminal | undefined {
  if (!Deno.stdin.isTerminal() || !Deno.stdout.isTerminal()) return undefined;
  return { setRaw: (raw) => Deno.stdin.setRaw(raw, { cbreak: true }) };
}

/**
 * Passes events on; once a TCP, TLS or UDP server is listening it never opens a file again (certificates are
 * read by then), so it gives up read and write access for the rest of its run. A Unix socket server keeps
 * them: its socket file is removed when it stops.
 */
export function dropFileAccessOnceListening(
  endpoint: Endpoint,
  report: EventSink<ServerEvent>,
): EventSink<ServerEvent> {
  return (event) => {
    report(event);
    if (event.type !== "listening" || transportOf(endpoint).capabilities.keepsFileAccess) return;
    for (const name of ["read", "write"] as const) Deno.permissions.revokeSync({ name });
  };
}
