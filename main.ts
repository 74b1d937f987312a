/**
 * sockkit's one entry point: parses the command line, turns Ctrl-C/SIGTERM into an AbortSignal, runs a
 * command, prints its events, and picks the exit code.
 * @module
 */
import { Command, CommanderError, Option } from "@commander-js/extra-typings";
import meta from "./deno.json" with { type: "json" };
import { runClient } from "./client.ts";
import { runServer } from "./server.ts";
import { checkRelayPair, runRelay } from "./relay.ts";
import { type BenchEvent, runBench } from "./bench.ts";
import {
  formatHistogram,
  formatNothingEchoed,
  formatProgress,
  formatResult,
  formatStart,
} from "./lib/bench/report.ts";
import { parseHost, parsePort, parseUnixPath } from "./lib/address.ts";
import { type Cidr, parseCidr } from "./lib/cidr.ts";
import { parseDuration } from "./lib/duration.ts";
import {
  clientTarget,
  looksLikeSpec,
  parseAlpn,
  parseWholeNumber,
  relayEndpoints,
  serverEndpoint,
} from "./lib/endpoints.ts";
import { parsePin } from "./lib/fingerprint.ts";
import { ExitCode, SockkitError, UsageError } from "./lib/errors.ts";
import type { EventSink, ServerEvent } from "./lib/events.ts";
import { escapeText } from "./lib/format.ts";
import { MODE_NAMES, type ModeName } from "./lib/modes/mod.ts";
import { DEFAULT_ROOM, type HubSettings, parseHubUrl } from "./lib/hub/url.ts";
import type { Endpoint } from "./lib/transport.ts";
import { clientReporter, INSECURE_WARNING, type ReporterOutput, serverReporter } from "./lib/reporter.ts";
import { parseSize } from "./lib/size.ts";
import {
  DEFAULT_PROBE_CONCURRENCY,
  DEFAULT_PROBE_TIMEOUT,
  MAX_PROBE_CONCURRENCY,
  parsePortList,
  probeReporter,
  runProbe,
} from "./lib/probe.ts";
import type { Terminal } from "./lib/terminal.ts";
import { UDP_MAX_PAYLOAD } from "./lib/udp.ts";
import { UDP_HEADER_BYTES } from "./lib/bench/udp_load.ts";

/** The version printed by `--version` and carried by compiled binaries. */
export const VERSION: string = meta.version;

const encoder = new TextEncoder();

/** Writes a line; when nobody reads the stream any more (broken pipe) the line is dropped and work goes on. */
function writeLine(stream: { writeSync(p: Uint8Array): number }, line: string): void {
  const bytes = encoder.encode(line + "\n");
  let offset = 0;
  try {
    while (offset < bytes.length) offset += stream.writeSync(bytes.subarray(offset));
  } catch (err) {
    if (!(err instanceof Deno.errors.BrokenPipe)) throw err;
  }
}

/** Status to stdout (or to stderr when stdout carries payload); warnings always to stderr. */
function output(statusToStderr: boolean): ReporterOutput {
  return {
    status: (line) => writeLine(statusToStderr ? Deno.stderr : Deno.stdout, line),
    warn: (line) => writeLine(Deno.stderr, line),
  };
}

/** An AbortSignal that fires on Ctrl-C (and SIGTERM); a second Ctrl-C exits at once. */
function interruptSignal(): { signal: AbortSignal; dispose(): void } {
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

const portArg = (value: string) => parsePort(value);
const hostArg = (value: string) => parseHost(value);
const unixArg = (value: string) => parseUnixPath(value);
const alpnArg = (value: string) => parseAlpn(value);
const pinArg = (value: string, previous: string[] = []) => [...previous, parsePin(value)];
const udpRateArg = (value: string) => parseWholeNumber(value, "--udp-rate", 0, 1_000_000);
const maxDatagramArg = (value: string) => parseWholeNumber(value, "--max-datagram", 1, UDP_MAX_PAYLOAD);

/** An option that takes a duration (`500ms`, `5s`, `2m`) and holds milliseconds. */
function durationOption<F extends string>(flags: F, description: string, fallback: string) {
  const long = flags.split(/[ ,]+/).find((f) => f.startsWith("--"))!;
  return new Option(flags, description)
    .argParser((v) => parseDuration(v, long))
    .default(parseDuration(fallback), fallback);
}

/** An option that takes a byte size (`65536`, `64KiB`, `1MiB`) and holds bytes. */
function sizeOption<F extends string>(flags: F, description: string, fallback: string) {
  const long = flags.split(/[ ,]+/).find((f) => f.startsWith("--"))!;
  return new Option(flags, description)
    .argParser((v) => parseSize(v, long))
    .default(parseSize(fallback), fallback);
}

/** The edit distance between two short words (for "did you mean"). */
function editDistance(a: string, b: string): number {
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
function choiceOption<F extends string, C extends string>(
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
const POSITIONAL_PORT: Record<string, string> = {
  "sockkit server": "sockkit server 1234",
  "sockkit client": "sockkit client HOST 1234",
  "sockkit bench": "sockkit bench HOST 1234",
  "sockkit relay": "sockkit relay 8080 127.0.0.1:80",
  "sockkit probe": "sockkit probe HOST 22,80,8000-8100",
};

/** Usage errors as one line that names the help to read; quoted user input is escaped (see escapeText). */
function usageOutput(command: string) {
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
function wholeNumberArg(option: string) {
  return (value: string): number => {
    const n = /^\d+$/.test(value) ? Number(value) : NaN;
    if (!Number.isSafeInteger(n) || n < 1) {
      throw new UsageError(`invalid ${option} '${value}': expected a whole number of 1 or more`);
    }
    return n;
  };
}
const countArg = wholeNumberArg("--count");

/** A repeatable option that collects networks (`--allow 10.0.0.0/8 --allow ::1`, or comma-separated). */
function cidrListArg(option: string) {
  return (value: string, previous: Cidr[]): Cidr[] => [
    ...previous,
    ...value.split(",").filter((v) => v.trim() !== "").map((v) => parseCidr(v, option)),
  ];
}

/** The terminal the interactive client edits lines on, when both stdin and stdout are one. */
function stdinTerminal(): Terminal | undefined {
  if (!Deno.stdin.isTerminal() || !Deno.stdout.isTerminal()) return undefined;
  return { setRaw: (raw) => Deno.stdin.setRaw(raw, { cbreak: true }) };
}

/**
 * Passes events on; once a TCP, TLS or UDP server is listening it never opens a file again (certificates are
 * read by then), so it gives up read and write access for the rest of its run. A Unix socket server keeps
 * them: its socket file is removed when it stops.
 */
function dropFileAccessOnceListening(
  endpoint: Endpoint,
  report: EventSink<ServerEvent>,
): EventSink<ServerEvent> {
  return (event) => {
    report(event);
    if (event.type !== "listening" || endpoint.transport === "unix") return;
    for (const name of ["read", "write"] as const) Deno.permissions.revokeSync({ name });
  };
}

/** `--hub` and `--room`, checked against the mode and transport they are given with. */
function hubSettings(
  o: { hub?: string; room?: string; mode: string },
  endpoint: Endpoint,
): HubSettings | undefined {
  if (o.hub === undefined) {
    if (o.room !== undefined) {
      throw new UsageError("--room names a room shared over --hub: add --hub redis://HOST:PORT");
    }
    return undefined;
  }
  if (o.mode !== "chat" && o.mode !== "broadcast") {
    throw new UsageError(
      `--hub shares a chat or broadcast room, not --mode ${o.mode}: add --mode chat or --mode broadcast`,
    );
  }
  if (endpoint.transport === "udp") {
    throw new UsageError("--hub works with chat and broadcast, which --udp does not serve");
  }
  return parseHubUrl(o.hub, o.room);
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

  program
    .command("server")
    .description(
      "Run a concurrent server (echo, chat, broadcast or discard) over TCP, TLS, Unix or UDP until Ctrl-C",
    )
    .configureOutput(usageOutput("sockkit server"))
    .argument(
      "[port]",
      "port to listen on (0 picks a free port), or an address: tcp://, tls://, udp://HOST:PORT, unix:PATH",
      (v: string) => (looksLikeSpec(v) ? v : portArg(v)),
      1234 as number | string,
    )
    .option(
      "--host <host>",
      "address to bind: 0.0.0.0 (all IPv4), :: (all IPv6), 127.0.0.1, ::1, fe80::1%eth0 …",
      hostArg,
      "0.0.0.0",
    )
    .option("--unix <path>", "listen on a Unix domain socket at this path instead of a port", unixArg)
    .option("--tls", "serve TLS: with --cert/--key, or an ephemeral self-signed certificate")
    .option("--cert <file>", "with --tls: the server's certificate chain (PEM)")
    .option("--key <file>", "with --tls: the private key of --cert (PEM)")
    .option("--write-cert <file>", "with --tls and no --cert: write the generated certificate here")
    .option(
      "--alpn <protocols>",
      "with --tls: ALPN protocols to offer, comma-separated (e.g. h2,http/1.1)",
      alpnArg,
    )
    .option("--udp", "serve UDP datagrams instead of TCP (modes echo and discard)")
    .option(
      "--udp-rate <n>",
      "with --udp: replies per second to one source IP (IPv6: /64), 0 for no limit (default 200)",
      udpRateArg,
    )
    .option(
      "--max-datagram <bytes>",
      `with --udp: the largest datagram accepted; larger ones are reported (default ${UDP_MAX_PAYLOAD})`,
      maxDatagramArg,
    )
    .addOption(choiceOption("--mode <mode>", "what to do with each client", MODE_NAMES, "echo"))
    .addOption(durationOption("--grace <duration>", "on shutdown, how long busy clients may finish", "2s"))
    .addOption(sizeOption("--max-line <size>", "chat: the longest line accepted", "64KiB"))
    .addOption(
      sizeOption(
        "--max-queue <size>",
        "chat/broadcast: bytes waiting for one client before it is cut off",
        "1MiB",
      ),
    )
    .option(
      "--max-conns <n>",
      "clients served at once; one more is told 'server full'",
      wholeNumberArg("--max-conns"),
    )
    .addOption(
      new Option(
        "--idle-timeout <duration>",
        "close clients that send nothing for this long (e.g. 5m; 0: never); --udp: report a silent peer gone (default 30s)",
      )
        .argParser((v) => parseDuration(v, "--idle-timeout")),
    )
    .addOption(
      new Option("--allow <cidr>", "only accept peers in this network (repeatable, or comma-separated)")
        .argParser(cidrListArg("--allow")).default([], "everyone"),
    )
    .addOption(
      new Option("--deny <cidr>", "refuse peers in this network (repeatable; wins over --allow)")
        .argParser(cidrListArg("--deny")).default([], "nobody"),
    )
    .option(
      "--hub <url>",
      "chat/broadcast: share the room with other instances over Redis: redis://[user:password@]HOST:PORT[/DB] or rediss://",
    )
    .option("--room <name>", `with --hub: the room to join (default ${DEFAULT_ROOM})`)
    .option("--trace", "narrate every socket call: bind, listen, accept, recv, send, close")
    .option("--hex", "show the bytes received and sent as a hex dump")
    .option("-v, --verbose", "also print a line per message received")
    .option("-q, --quiet", "print only warnings and errors")
    .option("--json", "print one JSON object per event")
    .action(async (port, o, cmd) => {
      const spec = typeof port === "string" ? port : undefined;
      const endpoint = serverEndpoint({
        ...o,
        port: typeof port === "number" ? port : 1234,
        spec,
        hostGiven: cmd.getOptionValueSource("host") === "cli",
        addressGiven: cmd.args.length > 0 || cmd.getOptionValueSource("host") === "cli",
      });
      const hub = hubSettings(o, endpoint);
      const { signal, dispose } = interruptSignal();
      try {
        await runServer(
          {
            endpoint,
            mode: o.mode as ModeName,
            graceMs: o.grace,
            maxLine: o.maxLine,
            maxQueue: o.maxQueue,
            maxConns: o.maxConns,
            idleTimeoutMs: o.idleTimeout || undefined,
            allow: o.allow,
            deny: o.deny,
            trace: o.trace,
            hex: o.hex,
            udp: { ratePerSecond: o.udpRate, maxDatagram: o.maxDatagram },
            hub,
          },
          {
            signal,
            onEvent: dropFileAccessOnceListening(
              endpoint,
              serverReporter(
                { ...o, announce: endpoint.transport !== "unix" && endpoint.port === 0 },
                output(false),
              ),
            ),
          },
        );
        setExit(ExitCode.Ok);
      } finally {
        dispose();
      }
    });

  program
    .command("client")
    .description("Connect to a server, send a message and print the reply")
    .configureOutput(usageOutput("sockkit client"))
    .argument("[host]", "server host name or address (left out with --unix)")
    .argument("[port]", "server port (left out with --unix)")
    .argument(
      "[message]",
      "what to send (default Hello); - sends stdin and prints what comes back (pipe mode)",
    )
    .option(
      "--unix <path>",
      "connect to the Unix domain socket at this path instead of a host and port",
      unixArg,
    )
    .option("--tls", "connect with TLS, verifying the server's certificate and name")
    .option("--ca <file>", "with --tls: also trust this CA or self-signed certificate (PEM)")
    .option("--servername <name>", "with --tls: the name to send (SNI) and verify, instead of the host")
    .option("--alpn <protocols>", "with --tls: ALPN protocols to ask for, comma-separated", alpnArg)
    .option(
      "--pin <fingerprint>",
      "with --tls: trust the server exactly when its certificate has this SHA-256 fingerprint (repeatable)",
      pinArg,
    )
    .option("-k, --insecure", "with --tls: do not verify the server's certificate (a warning says so)")
    .option("--cert <file>", "with --tls: a client certificate (PEM) for servers that ask for one")
    .option("--key <file>", "with --tls: the private key of --cert (PEM)")
    .option("--udp", "send UDP datagrams instead of connecting over TCP")
    .option(
      "--max-datagram <bytes>",
      `with --udp: the largest datagram sent or received (default ${UDP_MAX_PAYLOAD})`,
      maxDatagramArg,
    )
    .option("-r, --repeat", "send the message every --interval until Ctrl-C or --count")
    .option("-c, --count <n>", "with --repeat: stop after n messages (implies --repeat)", countArg)
    .addOption(durationOption("-i, --interval <duration>", "with --repeat: time between messages", "1s"))
    .addOption(durationOption("-t, --timeout <duration>", "limit for connecting and for each reply", "5s"))
    .option("-I, --interactive", "chat: send each line typed, print each line that arrives")
    .option("--trace", "narrate every socket call: connect, send, recv, close")
    .option("--hex", "show the bytes sent and received as a hex dump")
    .option("-v, --verbose", "more detail (a summary in single-message and pipe modes)")
    .option("-q, --quiet", "print only warnings and errors")
    .option("--json", "print one JSON object per event")
    .action(async (host, port, arg3, o) => {
      const { endpoint, message } = clientTarget([host, port, arg3], o);
      const pipe = message === "-";
      if (message === "") throw new UsageError("the message is empty: give some text, or - to send stdin");
      if (pipe && (o.repeat || o.count)) {
        throw new UsageError("--repeat and --count do not apply to pipe mode (-)");
      }
      if (o.interactive && (message !== undefined || o.repeat || o.count)) {
        throw new UsageError("--interactive takes no message, --repeat or --count: type the lines instead");
      }
      const mode = o.interactive ? "interactive" : pipe ? "pipe" : o.repeat || o.count ? "repeat" : "once";
      const payloadOnStdout = pipe || mode === "interactive";
      const { signal, dispose } = interruptSignal();
      const report = clientReporter(
        { ...o, numbered: mode === "repeat", interactive: mode === "interactive" },
        output(payloadOnStdout),
      );
      let lostReason: string | undefined;
      try {
        const summary = await runClient(
          {
            endpoint,
            message: pipe || message === undefined ? undefined : encoder.encode(message),
            mode,
            count: o.count,
            intervalMs: o.interval,
            timeoutMs: o.timeout,
            trace: o.trace,
            hex: o.hex,
            udp: { maxDatagram: o.maxDatagram },
          },
          {
            signal,
            onEvent: (event) => {
              if (event.type === "lost") lostReason = event.reason;
              report(event);
            },
            terminal: mode === "interactive" ? stdinTerminal() : undefined,
          },
        );
        // The line of the reply it cost already says why a repeat run ended: say it once.
        if (summary.error && summary.error !== lostReason) throw new SockkitError(summary.error);
        // Over UDP loss is expected: the run fails only when no reply came back at all.
        const failed = endpoint.transport === "udp"
          ? summary.received === 0 || summary.error !== undefined
          : summary.lost > 0 || (summary.mismatched ?? 0) > 0;
        setExit(failed ? ExitCode.Failure : ExitCode.Ok);
      } finally {
        dispose();
      }
    });

  addRelayCommand(program, setExit);
  addBenchCommand(program, setExit);
  addProbeCommand(program, setExit);

  return program;
}

/** `sockkit relay LISTEN TARGET`: its options and action. */
function addRelayCommand(program: Command, setExit: (code: number) => void): void {
  program
    .command("relay")
    .description("Relay every client of LISTEN to its own connection to TARGET, both ways, until Ctrl-C")
    .configureOutput(usageOutput("sockkit relay"))
    .argument(
      "<listen>",
      "where clients connect: PORT, HOST:PORT, tcp://, tls://, udp://HOST:PORT or unix:PATH",
    )
    .argument("<target>", "where each goes: HOST:PORT, tcp://, tls://, udp://HOST:PORT or unix:PATH")
    .option("--cert <file>", "tls:// listen: the certificate chain (PEM); default: an ephemeral certificate")
    .option("--key <file>", "tls:// listen: the private key of --cert (PEM)")
    .option("--write-cert <file>", "tls:// listen without --cert: write the generated certificate here")
    .option("--alpn <protocols>", "tls:// listen: ALPN protocols to offer, comma-separated", alpnArg)
    .option("--ca <file>", "tls:// target: also trust this CA or self-signed certificate (PEM)")
    .option("--servername <name>", "tls:// target: the name to send (SNI) and verify, instead of the host")
    .option(
      "--pin <fingerprint>",
      "tls:// target: trust it exactly when its certificate has this SHA-256 fingerprint (repeatable)",
      pinArg,
    )
    .option("-k, --insecure", "tls:// target: do not verify its certificate (a warning says so)")
    .option(
      "--max-conns <n>",
      "clients relayed at once; one more is closed (UDP: sessions, default 1024)",
      wholeNumberArg("--max-conns"),
    )
    .addOption(
      new Option(
        "--idle-timeout <duration>",
        "close a pair with nothing either way for this long (UDP default 30s)",
      )
        .argParser((v) => parseDuration(v, "--idle-timeout")),
    )
    .addOption(durationOption("--connect-timeout <duration>", "limit for connecting to the target", "5s"))
    .addOption(durationOption("--grace <duration>", "on shutdown, how long pairs may finish", "2s"))
    .addOption(
      new Option("--allow <cidr>", "only relay peers in this network (repeatable, or comma-separated)")
        .argParser(cidrListArg("--allow")).default([], "everyone"),
    )
    .addOption(
      new Option("--deny <cidr>", "refuse peers in this network (repeatable; wins over --allow)")
        .argParser(cidrListArg("--deny")).default([], "nobody"),
    )
    .option("--trace", "narrate every socket call on both legs (client and target)")
    .option("--hex", "show the bytes of both legs as a hex dump")
    .option("-v, --verbose", "also print a line when each target connection is made")
    .option("-q, --quiet", "print only warnings and errors")
    .option("--json", "print one JSON object per event")
    .action(async (listenSpec, targetSpec, o) => {
      const { listen, target } = relayEndpoints(listenSpec, targetSpec, o);
      checkRelayPair(listen, target);
      if (target.transport === "tls" && o.insecure) writeLine(Deno.stderr, INSECURE_WARNING);
      const { signal, dispose } = interruptSignal();
      // A Unix socket (either side) or a --ca read at each connect keep file access; otherwise it is dropped.
      const keepFiles = listen.transport === "unix" || target.transport === "unix" || o.ca !== undefined;
      const report = serverReporter(
        { ...o, announce: "port" in listen && listen.port === 0 },
        output(false),
      );
      try {
        await runRelay(
          {
            listen,
            target,
            graceMs: o.grace,
            maxConns: o.maxConns,
            idleTimeoutMs: o.idleTimeout || undefined,
            connectTimeoutMs: o.connectTimeout,
            allow: o.allow,
            deny: o.deny,
            trace: o.trace,
            hex: o.hex,
          },
          {
            signal,
            onEvent: keepFiles
              ? report
              : dropFileAccessOnceListening({ transport: "tcp", hostname: "", port: 0 }, report),
          },
        );
        setExit(ExitCode.Ok);
      } finally {
        dispose();
      }
    });
}

/** Prints bench events: the start line and the final table, a live progress line on a terminal only. */
function benchReporter(o: { json?: boolean; histogram?: boolean }) {
  const live = !o.json && Deno.stderr.isTerminal();
  const clearLive = () => live && Deno.stderr.writeSync(encoder.encode("\r\x1b[2K"));
  return (event: BenchEvent) => {
    if (o.json) {
      if (event.type === "result") writeLine(Deno.stdout, JSON.stringify(event));
      return;
    }
    if (event.type === "start") writeLine(Deno.stdout, formatStart(event));
    else if (event.type === "progress" && live) {
      Deno.stderr.writeSync(encoder.encode(`\r\x1b[2K${formatProgress(event)}`));
    } else if (event.type === "result") {
      clearLive();
      const nothing = formatNothingEchoed(event);
      if (nothing) return writeLine(Deno.stderr, `sockkit: ${nothing}`);
      for (const line of formatResult(event)) writeLine(Deno.stdout, line);
      if (o.histogram) { for (const line of formatHistogram(event)) writeLine(Deno.stdout, line); }
    }
  };
}

/** `sockkit bench HOST PORT`: the load generator. */
function addBenchCommand(program: Command, setExit: (code: number) => void): void {
  program
    .command("bench")
    .description("Load an echo server and report throughput, latency, fairness and errors")
    .configureOutput(usageOutput("sockkit bench"))
    .argument("[host]", "server host name or address (left out with --unix)")
    .argument("[port]", "server port (left out with --unix)")
    .option(
      "-c, --connections <n>",
      "connections to open (default 50)",
      benchNumber("--connections", 100_000),
    )
    .addOption(durationOption("-d, --duration <duration>", "how long to run", "10s"))
    .option(
      "-n, --requests <n>",
      "stop after n messages in total instead of --duration",
      benchNumber("--requests", Number.MAX_SAFE_INTEGER),
    )
    .option(
      "--size <bytes>",
      "bytes per message (default 64; 262144 per write with --mode stream)",
      benchNumber("--size", MAX_BENCH_MESSAGE),
    )
    .option(
      "--pipeline <k>",
      "messages in flight per connection (default 1)",
      benchNumber("--pipeline", 10_000),
    )
    .option(
      "--rate <r>",
      "open loop: send r messages/s in total on schedule; latency counts from due time",
      benchNumber("--rate", 100_000_000),
    )
    .addOption(
      choiceOption(
        "--mode <mode>",
        "pingpong (round trips) or stream (continuous bulk echo)",
        ["pingpong", "stream"],
        "pingpong",
      ),
    )
    .option("--connect-only", "connection churn: connect, one echo, close, again")
    .option(
      "-w, --workers <n>",
      "spread connections over n threads (default 1)",
      benchNumber("--workers", 64),
    )
    .addOption(durationOption("-t, --timeout <duration>", "limit for each connect and for a reply", "5s"))
    .option("--unix <path>", "load the Unix domain socket at this path instead of a host and port", unixArg)
    .option("--tls", "connect with TLS, verifying the server's certificate and name")
    .option("--ca <file>", "with --tls: also trust this CA or self-signed certificate (PEM)")
    .option("--servername <name>", "with --tls: the name to send (SNI) and verify, instead of the host")
    .option(
      "--pin <fingerprint>",
      "with --tls: trust the server exactly when its certificate has this SHA-256 fingerprint (repeatable)",
      pinArg,
    )
    .option("-k, --insecure", "with --tls: do not verify the server's certificate (a warning says so)")
    .option(
      "--udp",
      "load a UDP echo server: each connection is a socket sending datagrams; lost ones are counted",
    )
    .option("--json", "print the result as one JSON object")
    .option("--histogram", "also print the latency distribution as a chart")
    .action(async (host, port, o) => {
      checkBenchOptions(o);
      if (o.udp) checkUdpBenchOptions(o);
      const { endpoint } = clientTarget([host, port], o, "bench");
      if (o.insecure) writeLine(Deno.stderr, INSECURE_WARNING);
      const { signal, dispose } = interruptSignal();
      try {
        const result = await runBench(
          {
            endpoint,
            mode: o.connectOnly ? "connect" : o.mode as "pingpong" | "stream",
            connections: o.connections,
            durationMs: o.duration,
            requests: o.requests,
            size: o.size,
            pipeline: o.pipeline,
            rate: o.rate,
            workers: o.workers,
            timeoutMs: o.timeout,
          },
          { signal, onEvent: benchReporter(o) },
        );
        setExit(result.errors > 0 || result.messages === 0 ? ExitCode.Failure : ExitCode.Ok);
      } finally {
        dispose();
      }
    });
}

/** `sockkit probe HOST PORTS`: which TCP ports of a host accept a connection (lib/probe.ts). */
function addProbeCommand(program: Command, setExit: (code: number) => void): void {
  program
    .command("probe")
    .description("Check which TCP ports of a host accept a connection, like nc -z over lists and ranges")
    .configureOutput(usageOutput("sockkit probe"))
    .argument("<host>", "host name or address; a name is resolved once and its first address probed", hostArg)
    .argument("<ports>", "ports and ranges, comma-separated: 22,80,8000-8100", (v) => parsePortList(v))
    .option(
      "-c, --concurrency <n>",
      `connects in flight at once (default ${DEFAULT_PROBE_CONCURRENCY})`,
      (v) => parseWholeNumber(v, "--concurrency", 1, MAX_PROBE_CONCURRENCY),
    )
    .addOption(
      durationOption(
        "-t, --timeout <duration>",
        "limit for each connect; then: no answer",
        DEFAULT_PROBE_TIMEOUT,
      ),
    )
    .option("-v, --verbose", "list every port, also the closed and unanswered ones of a long list")
    .option("-q, --quiet", "print only errors: the exit code says whether any port is open")
    .option("--json", "print one JSON object per event: start, port (every port), summary")
    .action(async (host, ports, o) => {
      if (o.timeout === 0) {
        throw new UsageError("invalid --timeout '0': a connect needs some time, such as 500ms");
      }
      const { signal, dispose } = interruptSignal();
      try {
        const summary = await runProbe(
          { host, ports, concurrency: o.concurrency, timeoutMs: o.timeout },
          { signal, onEvent: probeReporter(o, output(false)) },
        );
        setExit(summary.open > 0 ? ExitCode.Ok : ExitCode.Failure);
      } finally {
        dispose();
      }
    });
}

/** The largest `--size` bench accepts (and so the most it keeps in flight per message). */
const MAX_BENCH_MESSAGE = 16 * 1024 * 1024;

function benchNumber(flag: string, max: number) {
  return (value: string) => parseWholeNumber(value, flag, 1, max);
}

/** Bench options that exclude each other, or would hold too much in flight. */
function checkBenchOptions(
  o: { connectOnly?: boolean; mode: string; rate?: number; pipeline?: number; size?: number },
): void {
  if (o.connectOnly && o.mode === "stream") {
    throw new UsageError("--connect-only and --mode stream exclude each other");
  }
  if (o.rate !== undefined && (o.connectOnly || o.mode === "stream")) {
    throw new UsageError("--rate applies to ping-pong only, not to --mode stream or --connect-only");
  }
  if (o.rate !== undefined && o.pipeline !== undefined) {
    throw new UsageError("--rate and --pipeline exclude each other: with --rate, messages leave on schedule");
  }
  if ((o.pipeline ?? 1) * (o.size ?? 64) > MAX_BENCH_MESSAGE) {
    throw new UsageError(
      `--pipeline × --size must stay within ${MAX_BENCH_MESSAGE} bytes in flight per connection`,
    );
  }
}

/** What `--udp` cannot do: stream or churn, datagrams over the UDP limit or too short for the header. */
function checkUdpBenchOptions(o: { connectOnly?: boolean; mode: string; size?: number }): void {
  if (o.mode === "stream") {
    throw new UsageError("--mode stream needs a byte stream: it does not work with --udp (use ping-pong)");
  }
  if (o.connectOnly) {
    throw new UsageError("--connect-only churns connections: UDP has none, so not with --udp");
  }
  const size = o.size ?? 64;
  if (size > UDP_MAX_PAYLOAD) {
    throw new UsageError(
      `invalid --size '${size}' with --udp: one datagram carries at most ${UDP_MAX_PAYLOAD} bytes`,
    );
  }
  if (size < UDP_HEADER_BYTES) {
    throw new UsageError(
      `invalid --size '${size}' with --udp: each datagram starts with an ${UDP_HEADER_BYTES}-byte header ` +
        `(socket and sequence number), so use --size ${UDP_HEADER_BYTES} or more`,
    );
  }
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
