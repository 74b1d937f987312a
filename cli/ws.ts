/**
 * The WebSocket options of the command line (`--ping-interval`, `--max-message`, `--subprotocol`,
 * `--allow-origin`, `--binary`): their parsers, and the check that they come with a `ws://` address.
 * @module
 */
import { UsageError } from "../lib/core/errors.ts";
import { escapeText } from "../lib/core/format.ts";
import type { Endpoint } from "../lib/transports/dispatch.ts";
import { parseAllowOrigin } from "../lib/transports/ws/origin.ts";
import { rejectOtherTransportsOptions } from "./common.ts";

/** Parses `--subprotocol`: a token as RFC 6455 allows (letters, digits and `!#$%&'*+-.^_`|~`). */
export function subprotocolArg(value: string): string {
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(value)) {
    throw new UsageError(
      `invalid --subprotocol '${
        escapeText(value)
      }': expected one name of letters, digits and - . _ (such as chat.v1)`,
    );
  }
  return value;
}

/** Collects `--allow-origin` (repeatable). */
export function allowOriginArg(value: string, previous: string[] = []): string[] {
  const origin = parseAllowOrigin(value);
  if (origin === undefined) {
    throw new UsageError(
      `invalid --allow-origin '${
        escapeText(value)
      }': expected an origin such as https://app.example:8443, null or *`,
    );
  }
  return [...previous, origin];
}

/** What `applyWsOptions` reads from the server's options. */
interface WsOptionValues {
  pingInterval: number;
  maxMessage: number;
  maxQueue: number;
  subprotocol?: string;
  allowOrigin?: string[];
}

/**
 * Puts the WebSocket options into a `ws://` endpoint; given (on the command line) with any other address,
 * they are a usage error.
 */
export function applyWsOptions(
  endpoint: Endpoint,
  o: WsOptionValues,
  cmd: { getOptionValueSource(key: string): string | undefined },
): void {
  const given = (key: string) => cmd.getOptionValueSource(key) === "cli";
  rejectOtherTransportsOptions(endpoint, "listen", {
    "--ping-interval": given("pingInterval"),
    "--max-message": given("maxMessage"),
    "--subprotocol": given("subprotocol"),
    "--allow-origin": given("allowOrigin"),
  });
  if (endpoint.transport !== "ws") return;
  if (o.pingInterval !== 0 && o.pingInterval < 1000) {
    throw new UsageError(
      "invalid --ping-interval: the runtime pings in whole seconds: give 1s or more (0: never)",
    );
  }
  endpoint.ws = {
    pingIntervalS: Math.ceil(o.pingInterval / 1000),
    maxMessage: o.maxMessage,
    maxQueue: o.maxQueue,
    subprotocol: o.subprotocol,
    allowOrigins: o.allowOrigin,
  };
}
