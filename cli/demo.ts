/**
 * `sockkit demo`: its options and action.
 * @module
 */
import { Command } from "@commander-js/extra-typings";
import { type DemoResult, type DemoTransport, runDemo } from "../lib/demo/run.ts";
import { ExitCode, UsageError } from "../lib/core/errors.ts";
import { MODE_NAMES, type ModeName } from "../lib/modes/mod.ts";
import { columnHeader, columnRow, fittedLayout } from "../lib/report/columns.ts";
import { formatBytes, plural } from "../lib/core/format.ts";
import { choiceOption, countArg, encoder, interruptSignal, usageOutput, writeLine } from "./common.ts";

/** What the text view says under the rows, by transport: where to look. */
const NOTES: Record<DemoTransport, string> = {
  tcp: "TCP: the server binds, listens and accepts; the client connects; both send and recv.",
  tls: "TLS: the handshake sits between connect and the first send; the server's accept hands up a " +
    "connection already through it.",
  udp:
    "UDP: no listen, no accept, no connection: a socket is bound, and each datagram is one sendto and one " +
    "recvfrom that names its peer.",
  unix: "Unix socket: the same calls as TCP, with a path for an address.",
};

/** `sockkit demo [MESSAGE]`: its options and action. */
export function addDemoCommand(program: Command, setExit: (code: number) => void): void {
  program
    .command("demo")
    .description("Run a server and a client in one process and show their socket calls side by side")
    .configureOutput(usageOutput("sockkit demo"))
    .argument("[message]", "what the client sends (default Hello)")
    .addOption(choiceOption("--mode <mode>", "the server's mode", MODE_NAMES, "echo"))
    .option("--tls", "over TLS, with an ephemeral certificate the client is given to trust")
    .option("--udp", "over UDP: datagrams, no connection")
    .option("--unix", "over a Unix socket in a temporary folder")
    .option("-c, --count <n>", "send the message n times (default 1)", countArg)
    .option("--json", "print one JSON object per socket call")
    .action(async (message, o) => {
      const picked = (["tls", "udp", "unix"] as const).filter((t) => o[t]);
      if (picked.length > 1) {
        throw new UsageError(`--${picked.join(" and --")} pick different transports: give one of them`);
      }
      if (message === "") throw new UsageError("the message is empty: give some text");
      const transport: DemoTransport = picked[0] ?? "tcp";
      const { signal, dispose } = interruptSignal();
      try {
        const result = await runDemo({
          transport,
          mode: o.mode as ModeName,
          message: message === undefined ? undefined : encoder.encode(message),
          count: o.count,
        }, { signal });
        for (const line of o.json ? jsonLines(result) : textLines(result)) writeLine(Deno.stdout, line);
        // an echo that did not all come back is a failed run (exit 1), as it is for `sockkit client --count`
        const echoed = result.mode !== "echo" || result.client.lost === 0;
        setExit(echoed ? ExitCode.Ok : ExitCode.Failure);
      } finally {
        dispose();
      }
    });
}

function jsonLines(r: DemoResult): string[] {
  return r.calls.map(({ type: _type, elapsedMs: _elapsed, side, us, ...call }) =>
    JSON.stringify({ type: "call", side, us, ...call })
  );
}

function textLines(r: DemoResult): string[] {
  const { client, server } = r;
  const layout = fittedLayout(r.calls);
  return [
    `sockkit demo: ${r.mode} over ${r.transport.toUpperCase()}, server on ${r.address}; µs since the start`,
    columnHeader(layout),
    ...r.calls.map((c) => columnRow(c, c.side, layout)),
    NOTES[r.transport],
    `client: ${plural(client.sent, "message")} sent, ${client.received} received; server: ${
      plural(server.clients, "client")
    }, ${plural(server.messages, "message")}, ${formatBytes(server.bytes)} received`,
  ];
}
