/**
 * `sockkit relay`: its options and action.
 * @module
 */
import {
  accessOptions,
  checkIo,
  ioOption,
  outputOptions,
  proxyOption,
  tlsTrustOptions,
  wireOptions,
} from "./options.ts";
import { withProxy } from "../lib/transports/dispatch.ts";
import { runsOverTls, transportOf } from "../lib/transports/mod.ts";
import { Command, Option } from "@commander-js/extra-typings";
import {
  checkRelayPair,
  DEFAULT_RELAY_MAX_CONNS,
  type RelayOptions,
  runRelay,
  type RunRelayContext,
} from "../lib/relay/run.ts";
import { DEFAULT_RELAY_WORKERS, relayLoops, runRelayWorkers } from "../lib/relay/workers.ts";
import { parseDuration } from "../lib/core/duration.ts";
import { relayEndpoints } from "../lib/endpoints/flags.ts";
import { ExitCode } from "../lib/core/errors.ts";
import { INSECURE_WARNING, serverReporter } from "../lib/report/reporter.ts";

import {
  addressHelp,
  alpnArg,
  dropFileAccessOnceListening,
  durationOption,
  interruptSignal,
  output,
  usageOutput,
  wholeNumberArg,
  writeLine,
} from "./common.ts";

/** `sockkit relay LISTEN TARGET`: its options and action. */
export function addRelayCommand(program: Command, setExit: (code: number) => void): void {
  const command = program
    .command("relay")
    .addHelpText("after", addressHelp())
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
    .option(
      "--max-conns <n>",
      `clients relayed at once; one more is closed (default ${DEFAULT_RELAY_MAX_CONNS}; UDP: sessions, default 1024)`,
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
    .option(
      "--workers <n>",
      `TCP or TLS listen: event loops (threads) the pairs are spread over (default ${DEFAULT_RELAY_WORKERS}; ` +
        "one loop serves about 100 busy pairs evenly)",
      wholeNumberArg("--workers"),
    );
  outputOptions(
    wireOptions(
      accessOptions(
        tlsTrustOptions(proxyOption(ioOption(command, "both legs"), "the target"), "tls:// target", "it"),
        "relay",
      ),
      "narrate every socket call on both legs (client and target)",
      "show the bytes of both legs as a hex dump",
    ),
    "also print a line when each target connection is made",
  )
    .action(async (listenSpec, targetSpec, o) => {
      const pair = relayEndpoints(listenSpec, targetSpec, o);
      const listen = pair.listen;
      const target = withProxy(pair.target, o.proxy, o.io);
      checkRelayPair(listen, target);
      checkIo(o.io, [listen, target]);
      const loops = relayLoops(o.workers, { listen, io: o.io });
      if (runsOverTls(target) && o.insecure) writeLine(Deno.stderr, INSECURE_WARNING);
      const { signal, dispose } = interruptSignal();
      // A Unix socket (either side) or a --ca read at each connect keep file access; otherwise it is dropped.
      const keepFiles = [listen, target].some((ep) => transportOf(ep).capabilities.keepsFileAccess) ||
        o.ca !== undefined;
      const report = serverReporter(
        { ...o, announce: "port" in listen && listen.port === 0 },
        output(false),
      );
      if (loops.warning) writeLine(Deno.stderr, `sockkit: warning: ${loops.warning}`);
      const run = loops.count > 1
        ? (opts: RelayOptions, ctx: RunRelayContext) => runRelayWorkers(opts, loops.count, ctx)
        : runRelay;
      try {
        await run(
          {
            listen,
            target,
            graceMs: o.grace,
            maxConns: o.maxConns,
            idleTimeoutMs: o.idleTimeout || undefined,
            io: o.io,
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
