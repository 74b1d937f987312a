/**
 * TCP: the plain byte stream of the socket formula, on `Deno.listen` and `Deno.connect`, or on `node:net`
 * with `--io node` (./node/: even service under hundreds of busy connections).
 * @module
 */
import { formatHostPort } from "../endpoints/address.ts";
import { toNetworkError } from "../core/errors.ts";
import type { TcpEndpoint } from "./types.ts";
import { parseHostPort } from "./hostport.ts";
import type { Transport } from "./transport.ts";
import { connectNode, listenNode } from "./node/listener.ts";
import { openVia } from "./proxy/mod.ts";

/** The TCP transport: `tcp://HOST:PORT`, and a bare `HOST:PORT` or `PORT`. */
export const tcp: Transport<TcpEndpoint> = {
  name: "tcp",
  label: "TCP",
  schemes: ["tcp://"],
  spec: "tcp://HOST:PORT",
  help: "tcp://HOST:PORT (also HOST:PORT, and PORT where listening): a TCP byte stream",
  capabilities: {
    framing: "stream",
    halfClose: true,
    lossy: false,
    peersExpire: false,
    keepsFileAccess: false,
    traceable: true,
    backpressure: true,
    sharesPort: true,
    proxied: true,
  },
  ioCores: ["deno", "node"],
  options: ["--io"],
  namedInListening: false,
  format: (ep) => formatHostPort(ep.hostname, ep.port),
  parse: (rest, _spec, role) => ({ transport: "tcp", ...parseHostPort(rest.replace(/\/$/, ""), role) }),
  async listen(ep, _emit, settings) {
    try {
      if (settings.io === "node") return await listenNode({ hostname: ep.hostname, port: ep.port });
      return Deno.listen({
        hostname: ep.hostname,
        port: ep.port,
        transport: "tcp",
        reusePort: settings.reusePort,
      });
    } catch (err) {
      throw toNetworkError(err, "listen", tcp.format(ep));
    }
  },
  async connect(ep, signal, io) {
    if (ep.proxy) return await openVia(ep.proxy, ep, signal);
    try {
      if (io === "node") return await connectNode({ hostname: ep.hostname, port: ep.port }, signal);
      return await Deno.connect({ hostname: ep.hostname, port: ep.port, transport: "tcp", signal });
    } catch (err) {
      throw toNetworkError(err, "connect", tcp.format(ep));
    }
  },
};
