/**
 * `sockkit client`: its options and action.
 * @module
 */
import {
  checkIo,
  ioOption,
  outputOptions,
  proxyOption,
  tlsTrustOptions,
  transportFlagOptions,
  wireViewOptions,
} from "./options.ts";
import { transportOf } from "../lib/transports/mod.ts";
import { withProxy } from "../lib/transports/dispatch.ts";
import { Command } from "@commander-js/extra-typings";
import { runClient } from "../lib/client/run.ts";
import { clientTarget } from "../lib/endpoints/flags.ts";
import { ExitCode, SockkitError, UsageError } from "../lib/core/errors.ts";
import { clientReporter } from "../lib/report/reporter.ts";
import { UDP_MAX_PAYLOAD } from "../lib/transports/udp/client.ts";

import {
  addressHelp,
  alpnArg,
  countArg,
  durationOption,
  encoder,
  interruptSignal,
  maxDatagramArg,
  output,
  rejectOtherTransportsOptions,
  stdinTerminal,
  usageOutput,
} from "./common.ts";
import { subprotocolArg } from "./ws.ts";

/** `sockkit client HOST PORT [MESSAGE]`: its options and action. */
export function addClientCommand(program: Command, setExit: (code: number) => void): void {
  const command = transportFlagOptions(
    program
      .command("client")
      .addHelpText("after", addressHelp())
      .description("Connect to a server, send a message and print the reply")
      .configureOutput(usageOutput("sockkit client"))
      .argument("[host]", "server host name or address (left out with --unix)")
      .argument("[port]", "server port (left out with --unix)")
      .argument(
        "[message]",
        "what to send (default Hello); - sends stdin and prints what comes back (pipe mode)",
      ),
    "connect",
  )
    .option("--alpn <protocols>", "with --tls: ALPN protocols to ask for, comma-separated", alpnArg)
    .option("--cert <file>", "with --tls: a client certificate (PEM) for servers that ask for one")
    .option("--key <file>", "with --tls: the private key of --cert (PEM)")
    .option(
      "--max-datagram <bytes>",
      `with --udp: the largest datagram sent or received (default ${UDP_MAX_PAYLOAD})`,
      maxDatagramArg,
    )
    .option("--binary", "ws://: send binary messages (pipe mode: each stdin chunk as one), not text")
    .option(
      "--subprotocol <name>",
      "ws://: ask for this subprotocol; fail if the server does not agree",
      subprotocolArg,
    )
    .option("-r, --repeat", "send the message every --interval until Ctrl-C or --count")
    .option("-c, --count <n>", "with --repeat: stop after n messages (implies --repeat)", countArg)
    .addOption(durationOption("-i, --interval <duration>", "with --repeat: time between messages", "1s"))
    .addOption(durationOption("-t, --timeout <duration>", "limit for connecting and for each reply", "5s"))
    .option("-I, --interactive", "chat: send each line typed, print each line that arrives");
  outputOptions(
    wireViewOptions(
      tlsTrustOptions(proxyOption(ioOption(command, "the connection"), "the server"), "with --tls"),
      "narrate every socket call: connect, send, recv, close",
      "show the bytes sent and received as a hex dump",
    ),
    "more detail (a summary in single-message and pipe modes)",
  )
    .action(async (host, port, arg3, o) => {
      const target = clientTarget([host, port, arg3], o);
      const endpoint = withProxy(target.endpoint, o.proxy, o.io);
      const message = target.message;
      checkIo(o.io, [endpoint]);
      rejectOtherTransportsOptions(endpoint, "connect", {
        "--binary": o.binary,
        "--subprotocol": o.subprotocol,
      });
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
            trace: o.trace !== undefined,
            sites: o.trace === "columns",
            hex: o.hex,
            udp: { maxDatagram: o.maxDatagram },
            binary: o.binary,
            subprotocol: o.subprotocol,
            io: o.io,
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
        const failed = transportOf(endpoint).capabilities.lossy
          ? summary.received === 0 || summary.error !== undefined
          : summary.lost > 0 || (summary.mismatched ?? 0) > 0;
        setExit(failed ? ExitCode.Failure : ExitCode.Ok);
      } finally {
        dispose();
      }
    });
}
