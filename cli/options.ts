/**
 * The option groups more than one command takes, each declared once: verifying a TLS peer (`--ca`,
 * `--servername`, `--pin`, `--insecure`), who may connect (`--allow`, `--deny`), watching the wire
 * (`--trace`, `--hex`) and how much is printed (`-v`, `-q`, `--json`). A command adds a group with one call
 * and says, in a few words, what the group applies to there.
 * @module
 */
import { type Command, Option, type OptionValues } from "@commander-js/extra-typings";
import { cidrListArg, pinArg } from "./common.ts";

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

/** `--trace` and `--hex`, with what each shows on this command. */
export function wireOptions<A extends unknown[], O extends OptionValues, G extends OptionValues>(
  cmd: Command<A, O, G>,
  trace: string,
  hex: string,
) {
  return cmd.option("--trace", trace).option("--hex", hex);
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
