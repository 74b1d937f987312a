/**
 * The registry of transports: one line per transport. Commands find a transport here by its name or by the
 * scheme of an address spec, and ask it what it can do; adding a transport is one module in this folder
 * and one line below (plus its endpoint type in ./types.ts); docs/architecture.md has the whole list.
 * @module
 */
import type { Endpoint, TlsEndpoint, TransportName, WsEndpoint } from "./types.ts";
import { tcp } from "./tcp.ts";
import { tls } from "./tls.ts";
import type { Transport } from "./transport.ts";
import { udp } from "./udp.ts";
import { unix } from "./unix.ts";
import { ws } from "./ws.ts";

export type { Capabilities, Connection, Framing, Listener, Transport } from "./transport.ts";

/** Every transport, in the order help lists them. */
export const TRANSPORTS: readonly Transport[] = [tcp, tls, udp, ws, unix] as Transport[];

const BY_NAME = new Map(TRANSPORTS.map((t) => [t.name, t]));

/**
 * The transport an endpoint (or a transport name) goes over.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(transportOf("unix").label, "Unix socket");
 * assert.equal(transportOf({ transport: "udp", hostname: "::1", port: 9 }).capabilities.framing, "message");
 * ```
 */
export function transportOf(ep: Endpoint | TransportName): Transport {
  const t = BY_NAME.get(typeof ep === "string" ? ep : ep.transport);
  if (!t) throw new Error(`no transport named '${typeof ep === "string" ? ep : ep.transport}'`);
  return t;
}

/** The transport whose scheme starts `spec` (`tls://…`, `unix:…`), with what follows the scheme. */
export function transportForSpec(spec: string): { transport: Transport; rest: string } | undefined {
  const lower = spec.toLowerCase();
  for (const transport of TRANSPORTS) {
    for (const scheme of transport.schemes) {
      if (lower.startsWith(scheme)) return { transport, rest: spec.slice(scheme.length) };
    }
  }
  return undefined;
}

/**
 * Whether an endpoint runs over TLS, as its transport says (`tls://`, `wss://`): then its `tls` settings apply.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(runsOverTls({ transport: "ws", hostname: "::1", port: 443, path: "/", secure: true }), true);
 * assert.equal(runsOverTls({ transport: "tcp", hostname: "::1", port: 443 }), false);
 * ```
 */
export function runsOverTls(ep: Endpoint): ep is TlsEndpoint | WsEndpoint {
  const usesTls = transportOf(ep).usesTls as ((ep: Endpoint) => boolean) | undefined;
  return usesTls?.(ep) ?? false;
}

/**
 * The transport that declares a command-line option among its own (`--binary`: WebSocket), if one does.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(transportDeclaring("--max-datagram")?.name, "udp");
 * assert.equal(transportDeclaring("--count"), undefined);
 * ```
 */
export function transportDeclaring(flag: string): Transport | undefined {
  return TRANSPORTS.find((t) => t.options.includes(flag));
}
