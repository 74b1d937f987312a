/**
 * UDP datagrams: message framing, loss expected, no half-close. The listener (datagrams sorted by source into
 * per-peer connections) is ./udp/listener.ts; the client and load generator are ./udp/client.ts and
 * ../bench/udp_load.ts. This module declares the transport.
 * @module
 */
import { formatHostPort } from "../endpoints/address.ts";
import type { UdpEndpoint } from "./types.ts";
import { listenUdp } from "./udp/listener.ts";
import { parseHostPort } from "./hostport.ts";
import type { Transport } from "./transport.ts";

/** The UDP transport: `udp://HOST:PORT` (needs `--unstable-net`). */
export const udp: Transport<UdpEndpoint> = {
  name: "udp",
  label: "UDP",
  schemes: ["udp://"],
  spec: "udp://HOST:PORT",
  help: "udp://HOST:PORT: UDP datagrams, one message each (echo and discard; rate-limited replies)",
  capabilities: {
    framing: "message",
    halfClose: false,
    lossy: true,
    peersExpire: true,
    keepsFileAccess: false,
    traceable: "calls",
    backpressure: false,
    sharesPort: false,
    proxied: false,
  },
  options: ["--udp", "--udp-rate", "--max-datagram"],
  namedInListening: true,
  format: (ep) => formatHostPort(ep.hostname, ep.port),
  parse: (rest, _spec, role) => ({ transport: "udp", ...parseHostPort(rest.replace(/\/$/, ""), role) }),
  // deno-lint-ignore require-await
  listen: async (ep, emit, settings) => listenUdp(ep, emit, settings),
  async runClient(opts, ctx) {
    const { runUdpClient } = await import("./udp/client.ts");
    return await runUdpClient(opts, ctx);
  },
};
