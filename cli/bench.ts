/**
 * `sockkit bench`: its options, its reporter and its action.
 * @module
 */
import { checkIo, ioOption, tlsTrustOptions, transportFlagOptions } from "./options.ts";
import { transportOf } from "../lib/transports/mod.ts";
import { Command } from "@commander-js/extra-typings";
import { type BenchEvent, runBench } from "../lib/bench/run.ts";
import {
  formatHistogram,
  formatNothingEchoed,
  formatProgress,
  formatResult,
  formatStart,
} from "../lib/bench/report.ts";
import { clientTarget, parseWholeNumber } from "../lib/endpoints/flags.ts";
import { ExitCode, UsageError } from "../lib/core/errors.ts";
import { INSECURE_WARNING } from "../lib/report/reporter.ts";
import { UDP_MAX_PAYLOAD } from "../lib/transports/udp/client.ts";
import { UDP_HEADER_BYTES } from "../lib/bench/udp_load.ts";

import {
  addressHelp,
  choiceOption,
  durationOption,
  encoder,
  interruptSignal,
  usageOutput,
  writeLine,
} from "./common.ts";

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
export function addBenchCommand(program: Command, setExit: (code: number) => void): void {
  const command = program
    .command("bench")
    .addHelpText("after", addressHelp())
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
    .addOption(durationOption("-t, --timeout <duration>", "limit for each connect and for a reply", "5s"));
  tlsTrustOptions(ioOption(transportFlagOptions(command, "load"), "the load's connections"), "with --tls")
    .option("--json", "print the result as one JSON object")
    .option("--histogram", "also print the latency distribution as a chart")
    .action(async (host, port, o) => {
      checkBenchOptions(o);
      if (o.udp) checkUdpBenchOptions(o);
      const { endpoint } = clientTarget([host, port], o, "bench");
      checkIo(o.io, [endpoint]);
      const transport = transportOf(endpoint);
      if (!transport.capabilities.backpressure && o.mode === "stream") {
        // e.g. a WebSocket server cannot stop reading (lib/transports/ws/conn.ts): a sender that never waits is cut off
        throw new UsageError(
          `--mode stream never waits for the echo: over ${
            transport.schemes.join(" or ")
          }, where the server cannot ` +
            "push back, it is cut off as too slow; use ping-pong (the default, with --pipeline for more in flight)",
        );
      }
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
            io: o.io,
          },
          { signal, onEvent: benchReporter(o) },
        );
        setExit(result.errors > 0 || result.messages === 0 ? ExitCode.Failure : ExitCode.Ok);
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
