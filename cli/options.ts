/**
 * The option groups more than one command takes, each declared once: verifying a TLS peer (`--ca`,
 * `--servername`, `--pin`, `--insecure`), who may connect (`--allow`, `--deny`), watching the wire
 * (`--trace`, `--hex`), how much is printed (`-v`, `-q`, `--json`), which API moves TCP's bytes (`--io`), and
 * the transport flags that stand for an address's scheme (`--unix`, `--tls`, `--udp`).
 * A command adds a group with one call and says, in a few words, what the group applies to there.
 * @module
 */
import { parseProxy } from "../lib/transports/proxy/mod.ts";
import { type Command, Option, type OptionValues } from "@commander-js/extra-typings";
import { choiceOption, cidrListArg, pinArg, unixArg } from "./common.ts";
import { transportOf } from "../lib/transports/mod.ts";
import { type Endpoint, IO_CORES, type IoCore } from "../lib/transports/types.ts";
import { UsageError } from "../lib/core/errors.ts";
import { escapeText } from "../lib/core/format.ts";

/**
 * `--ca`, `--servername`, `--pin` and `-k/--insecure`: how a TLS peer is verified. `scope` opens each
 * description (`with --tls`, `tls:// target`), `peer` names what is verified (`the server`, `it`).
 */
export function tlsTrustOptions<A extends unknown[], O extends OptionValues, G extends OptionValues>(
  cmd: Command<A, O, G>,
  scope: string,
  peer = "the server",
) {
  return cmd
    .option("--ca <file>", `${scope}: also trust this CA or self-signed certificate (PEM)`)
    .option("--servername <name>", `${scope}: the name to send (SNI) and verify, instead of the host`)
    .option(
      "--pin <fingerprint>",
      `${scope}: trust ${peer} exactly when its certificate has this SHA-256 fingerprint (repeatable)`,
      pinArg,
    )
    .option(
      "-k, --insecure",
      `${scope}: do not verify ${
        peer === "the server" ? "the server's" : "its"
      } certificate (a warning says so)`,
    );
}

/** `--allow` and `--deny`: the networks whose peers may connect (`what`: `accept`, `relay`). */
export function accessOptions<A extends unknown[], O extends OptionValues, G extends OptionValues>(
  cmd: Command<A, O, G>,
  what: string,
) {
  return cmd
    .addOption(
      new Option("--allow <cidr>", `only ${what} peers in this network (repeatable, or comma-separated)`)
        .argParser(cidrListArg("--allow")).default([], "everyone"),
    )
    .addOption(
      new Option("--deny <cidr>", "refuse peers in this network (repeatable; wins over --allow)")
        .argParser(cidrListArg("--deny")).default([], "nobody"),
    );
}

/**
 * `--io deno|node`: which runtime API moves TCP's bytes (`what`: whose connections, e.g. `TCP clients`).
 * `node` is `node:net`, even under hundreds of busy connections where `Deno.Conn` read loops starve some
 * (docs/transports.md "Which API moves the bytes").
 */
export function ioOption<A extends unknown[], O extends OptionValues, G extends OptionValues>(
  cmd: Command<A, O, G>,
  what: string,
) {
  return cmd.addOption(
    choiceOption(
      "--io <api>",
      `which API moves ${what}' bytes: Deno.listen/Deno.connect (deno), or node:net (node: even service to ` +
        `hundreds of busy connections)`,
      IO_CORES,
      "deno",
    ),
  );
}

/** Adds `--proxy URL` (an upstream SOCKS5 or HTTP CONNECT proxy) for what `what` connects to. */
export function proxyOption<A extends unknown[], O extends OptionValues, G extends OptionValues>(
  cmd: Command<A, O, G>,
  what: string,
) {
  return cmd.option(
    "--proxy <url>",
    `connect to ${what} through a proxy: socks5://[USER:PASS@]HOST:PORT (the proxy resolves names) or ` +
      `http://[USER:PASS@]HOST:PORT (HTTP CONNECT)`,
    parseProxy,
  );
}

/**
 * Checks that every endpoint's transport can move its bytes with `io` (`--io node` is TCP's alone, and not
 * on a link-local address with a zone), and says what to do when one cannot.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.throws(() => checkIo("node", [{ transport: "unix", path: "/tmp/s" }]), /--io node moves TCP only/);
 * ```
 */
export function checkIo(io: IoCore, endpoints: readonly Endpoint[]): void {
  if (io === "deno") return;
  for (const ep of endpoints) {
    const t = transportOf(ep);
    if (!(t.ioCores ?? ["deno"]).includes(io)) {
      throw new UsageError(
        `--io ${io} moves TCP only, not ${t.label}: drop --io ${io}, or use tcp:// addresses`,
      );
    }
    if ("hostname" in ep && ep.hostname.includes("%")) {
      throw new UsageError(
        `--io ${io} cannot use a link-local address with a zone (${ep.hostname}): node:net in this Deno ` +
          `cannot bind or connect one; drop --io ${io}`,
      );
    }
  }
}

/** What the transport flags do for a command that listens, connects once, or loads a server. */
const TRANSPORT_FLAG_HELP = {
  listen: {
    unix: "listen on a Unix domain socket at this path instead of a port",
    tls: "serve TLS: with --cert/--key, or an ephemeral self-signed certificate",
    udp: "serve UDP datagrams instead of TCP (modes echo and discard)",
  },
  connect: {
    unix: "connect to the Unix domain socket at this path instead of a host and port",
    tls: "connect with TLS, verifying the server's certificate and name",
    udp: "send UDP datagrams instead of connecting over TCP",
  },
  load: {
    unix: "load the Unix domain socket at this path instead of a host and port",
    tls: "connect with TLS, verifying the server's certificate and name",
    udp: "load a UDP echo server: each connection is a socket sending datagrams; lost ones are counted",
  },
} as const;

/**
 * `--unix <path>`, `--tls` and `--udp`: the flags that say what `unix:`, `tls://` and `udp://` say in an
 * address (lib/endpoints/flags.ts folds both spellings into one endpoint), for a command that listens,
 * connects or loads.
 */
export function transportFlagOptions<A extends unknown[], O extends OptionValues, G extends OptionValues>(
  cmd: Command<A, O, G>,
  role: keyof typeof TRANSPORT_FLAG_HELP,
) {
  const help = TRANSPORT_FLAG_HELP[role];
  return cmd.option("--unix <path>", help.unix, unixArg).option("--tls", help.tls).option("--udp", help.udp);
}

/** `--trace` and `--hex`, with what each shows on this command. */
export function wireOptions<A extends unknown[], O extends OptionValues, G extends OptionValues>(
  cmd: Command<A, O, G>,
  trace: string,
  hex: string,
) {
  return cmd.option("--trace", trace).option("--hex", hex);
}

/** How `--trace` shows the calls: strace-like lines, or `--trace=columns` (a sequence, with each call's line). */
export type TraceView = "lines" | "columns";

/** Parses `--trace=VIEW`: `lines` (the default) or `columns`. */
export function traceViewArg(value: string): TraceView {
  if (value === "lines" || value === "columns") return value;
  throw new UsageError(
    `invalid --trace '${escapeText(value)}': expected --trace, --trace=lines or --trace=columns ` +
      `(give the view with =, after the address)`,
  );
}

/**
 * `--trace[=columns]` and `--hex`: like `wireOptions`, and `--trace=columns` draws the calls as the client's
 * and the server's columns of a sequence, each with the line of sockkit that made it.
 */
export function wireViewOptions<A extends unknown[], O extends OptionValues, G extends OptionValues>(
  cmd: Command<A, O, G>,
  trace: string,
  hex: string,
) {
  return cmd.option("--trace [view]", `${trace}; --trace=columns draws them as a sequence`, traceViewArg)
    .option("--hex", hex);
}

/** `-v/--verbose`, `-q/--quiet` and `--json`; `verbose` says what -v adds on this command. */
export function outputOptions<A extends unknown[], O extends OptionValues, G extends OptionValues>(
  cmd: Command<A, O, G>,
  verbose: string,
) {
  return cmd
    .option("-v, --verbose", verbose)
    .option("-q, --quiet", "print only warnings and errors")
    .option("--json", "print one JSON object per event");
}
