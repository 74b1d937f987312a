/**
 * `sockkit server`: its options and action.
 * @module
 */
import {
  accessOptions,
  checkIo,
  ioOption,
  outputOptions,
  transportFlagOptions,
  wireViewOptions,
} from "./options.ts";
import { Command, Option } from "@commander-js/extra-typings";
import { runServer, type RunServerContext, type ServerOptions } from "../lib/server/run.ts";
import { DEFAULT_SERVER_WORKERS, runServerWorkers, serverLoops } from "../lib/server/loops.ts";
import { parseDuration } from "../lib/core/duration.ts";
import { looksLikeSpec, serverEndpoint } from "../lib/endpoints/flags.ts";
import { ExitCode, UsageError } from "../lib/core/errors.ts";
import {
  hasRoom,
  MODE_NAMES,
  type ModeName,
  modesOver,
  ROOM_MODES,
  ROOM_MODES_TEXT,
} from "../lib/modes/mod.ts";
import { DEFAULT_ROOM, type HubSettings } from "../lib/hub/url.ts";
import { parseHub } from "../lib/hub/mod.ts";
import type { Endpoint } from "../lib/transports/dispatch.ts";
import { transportOf } from "../lib/transports/mod.ts";
import { serverReporter } from "../lib/report/reporter.ts";
import { UDP_MAX_PAYLOAD } from "../lib/transports/udp/client.ts";

import {
  addressHelp,
  alpnArg,
  choiceOption,
  dropFileAccessOnceListening,
  durationOption,
  hostArg,
  httpAddressArg,
  interruptSignal,
  maxDatagramArg,
  output,
  portArg,
  sizeOption,
  udpRateArg,
  usageOutput,
  wholeNumberArg,
  writeLine,
} from "./common.ts";
import { allowOriginArg, applyWsOptions, subprotocolArg } from "./ws.ts";

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
  if (!hasRoom(o.mode)) {
    throw new UsageError(
      `--hub shares a ${ROOM_MODES.join(" or ")} room, not --mode ${o.mode}: add ${ROOM_MODES_TEXT}`,
    );
  }
  requireServedMode("--hub", o.mode, endpoint);
  return parseHub(o.hub, o.room);
}

/** `--web` serves a room's page: it needs chat or broadcast, over a transport that serves them (not UDP). */
function webCheck(mode: string, endpoint: Endpoint): void {
  if (!hasRoom(mode)) {
    throw new UsageError(
      `--web serves a chat page, which needs a room: add ${ROOM_MODES_TEXT} (not --mode ${mode})`,
    );
  }
  requireServedMode("--web", mode, endpoint);
}

/** `flag` shares a room: the endpoint's transport must serve `mode`. */
function requireServedMode(flag: string, mode: ModeName, endpoint: Endpoint): void {
  const t = transportOf(endpoint);
  if (!modesOver(t.capabilities).includes(mode)) {
    throw new UsageError(`${flag} works with ${ROOM_MODES.join(" and ")}, which ${t.label} does not serve`);
  }
}

/** `sockkit server [PORT]`: its options and action. */
export function addServerCommand(program: Command, setExit: (code: number) => void): void {
  const command = transportFlagOptions(
    program
      .command("server")
      .addHelpText("after", addressHelp())
      .description(
        "Run a concurrent server (echo, chat, broadcast or discard) over TCP, TLS, Unix or UDP until Ctrl-C",
      )
      .configureOutput(usageOutput("sockkit server"))
      .argument(
        "[port]",
        "port to listen on (0 picks a free port), or an address: tcp://, tls://, udp://HOST:PORT, unix:PATH, ws://HOST:PORT/PATH, wss://…",
        (v: string) => (looksLikeSpec(v) ? v : portArg(v)),
        1234 as number | string,
      )
      .option(
        "--host <host>",
        "address to bind: 0.0.0.0 (all IPv4), :: (all IPv6), 127.0.0.1, ::1, fe80::1%eth0 …",
        hostArg,
        "0.0.0.0",
      ),
    "listen",
  )
    .option("--cert <file>", "with --tls: the server's certificate chain (PEM)")
    .option("--key <file>", "with --tls: the private key of --cert (PEM)")
    .option("--write-cert <file>", "with --tls and no --cert: write the generated certificate here")
    .option(
      "--alpn <protocols>",
      "with --tls: ALPN protocols to offer, comma-separated (e.g. h2,http/1.1)",
      alpnArg,
    )
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
    .option(
      "--workers <n>",
      `TCP or TLS: event loops (threads) the clients are spread over (default ${DEFAULT_SERVER_WORKERS}: one per CPU, ` +
        "at least 8; with --max-conns N, N/100 but one per CPU at least; one loop serves about 100 busy clients evenly)",
      wholeNumberArg("--workers"),
    )
    .addOption(
      new Option(
        "--idle-timeout <duration>",
        "close clients that send nothing for this long (e.g. 5m; 0: never); --udp: report a silent peer gone (default 30s)",
      )
        .argParser((v) => parseDuration(v, "--idle-timeout")),
    )
    .option(
      "--hub <url>",
      "chat/broadcast: share the room with other instances over Redis: redis://[user:password@]HOST:PORT[/DB] or rediss://",
    )
    .option("--room <name>", `with --hub: the room to join (default ${DEFAULT_ROOM})`)
    .option(
      "--metrics <host:port>",
      "serve Prometheus metrics at http://HOST:PORT/metrics (e.g. 127.0.0.1:9464)",
      httpAddressArg("--metrics"),
    )
    .option(
      "--web <host:port>",
      "chat/broadcast: serve a chat page for browsers at http://HOST:PORT/ (its WebSocket /ws, and /metrics)",
      httpAddressArg("--web"),
    )
    .addOption(
      durationOption(
        "--ping-interval <duration>",
        "ws://: ping a client silent this long; close it when no pong comes within as long (whole seconds)",
        "30s",
      ),
    )
    .addOption(
      sizeOption("--max-message <size>", "ws://: the largest message; a larger one closes with 1009", "1MiB"),
    )
    .option(
      "--subprotocol <name>",
      "ws://: agree to this subprotocol when a client asks for it",
      subprotocolArg,
    )
    .option(
      "--allow-origin <origin>",
      "ws://: also let in browser pages from this origin, e.g. https://app.example (repeatable; * for any)",
      allowOriginArg,
    );
  outputOptions(
    wireViewOptions(
      accessOptions(ioOption(command, "TCP clients"), "accept"),
      "narrate every socket call: bind, listen, accept, recv, send, close",
      "show the bytes received and sent as a hex dump",
    ),
    "also print a line per message received",
  )
    .action(async (port, o, cmd) => {
      const spec = typeof port === "string" ? port : undefined;
      const endpoint = serverEndpoint({
        ...o,
        port: typeof port === "number" ? port : 1234,
        spec,
        hostGiven: cmd.getOptionValueSource("host") === "cli",
        addressGiven: cmd.args.length > 0 || cmd.getOptionValueSource("host") === "cli",
      });
      applyWsOptions(endpoint, o, cmd);
      checkIo(o.io, [endpoint]);
      const hub = hubSettings(o, endpoint);
      if (o.web) webCheck(o.mode, endpoint);
      const loops = serverLoops(o.workers, { endpoint, io: o.io, maxConns: o.maxConns });
      if (loops.warning) writeLine(Deno.stderr, `sockkit: warning: ${loops.warning}`);
      const run = loops.count > 1
        ? (opts: ServerOptions, ctx: RunServerContext) => runServerWorkers(opts, loops.count, ctx)
        : runServer;
      const { signal, dispose } = interruptSignal();
      try {
        await run(
          {
            endpoint,
            mode: o.mode as ModeName,
            graceMs: o.grace,
            maxLine: o.maxLine,
            maxQueue: o.maxQueue,
            maxConns: o.maxConns,
            idleTimeoutMs: o.idleTimeout || undefined,
            io: o.io,
            allow: o.allow,
            deny: o.deny,
            trace: o.trace !== undefined,
            sites: o.trace === "columns",
            hex: o.hex,
            udp: { ratePerSecond: o.udpRate, maxDatagram: o.maxDatagram },
            hub,
            metrics: o.metrics,
            web: o.web,
          },
          {
            signal,
            onEvent: dropFileAccessOnceListening(
              endpoint,
              serverReporter(
                { ...o, announce: "port" in endpoint && endpoint.port === 0 },
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
}
