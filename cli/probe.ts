/**
 * `sockkit probe`: its options and action.
 * @module
 */
import { parseProxy } from "../lib/transports/proxy/mod.ts";
import { Command } from "@commander-js/extra-typings";
import { parseWholeNumber } from "../lib/endpoints/flags.ts";
import { ExitCode, UsageError } from "../lib/core/errors.ts";
import {
  DEFAULT_PROBE_CONCURRENCY,
  DEFAULT_PROBE_TIMEOUT,
  MAX_PROBE_CONCURRENCY,
  parsePortList,
  probeReporter,
  runProbe,
} from "../lib/probe/probe.ts";

import { durationOption, hostArg, interruptSignal, output, usageOutput } from "./common.ts";

/** `sockkit probe HOST PORTS`: which TCP ports of a host accept a connection (lib/probe/probe.ts). */
export function addProbeCommand(program: Command, setExit: (code: number) => void): void {
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
    .option(
      "--proxy <url>",
      "probe through a proxy: socks5://[USER:PASS@]HOST:PORT (it resolves the host, and its reply says " +
        "refused or unreachable) or http://[USER:PASS@]HOST:PORT (HTTP CONNECT)",
      parseProxy,
    )
    .action(async (host, ports, o) => {
      if (o.timeout === 0) {
        throw new UsageError("invalid --timeout '0': a connect needs some time, such as 500ms");
      }
      const { signal, dispose } = interruptSignal();
      try {
        const summary = await runProbe(
          { host, ports, concurrency: o.concurrency, timeoutMs: o.timeout, proxy: o.proxy },
          { signal, onEvent: probeReporter(o, output(false)) },
        );
        setExit(summary.open > 0 ? ExitCode.Ok : ExitCode.Failure);
      } finally {
        dispose();
      }
    });
}
