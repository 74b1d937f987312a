/**
 * The option parsers and option kinds the commands share (ports, hosts, sizes, durations, choices, CIDR
 * lists, HTTP addresses), and the refusal of one transport's options with another.
 * @module
 */
import { transportDeclaring } from "../lib/transports/mod.ts";
import { Option } from "@commander-js/extra-typings";
import { parseHost, parsePort, parseUnixPath } from "../lib/endpoints/address.ts";
import { type Cidr, parseCidr } from "../lib/endpoints/cidr.ts";
import { parseDuration } from "../lib/core/duration.ts";
import { parseAlpn, parseWholeNumber } from "../lib/endpoints/flags.ts";
import { parsePin } from "../lib/transports/tls/fingerprint.ts";
import { UsageError } from "../lib/core/errors.ts";
import { escapeText } from "../lib/core/format.ts";
import type { Endpoint } from "../lib/transports/dispatch.ts";
import type { HttpAddress } from "../lib/web/http.ts";
import { parseSize } from "../lib/core/size.ts";
import { UDP_MAX_PAYLOAD } from "../lib/transports/udp/client.ts";

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
