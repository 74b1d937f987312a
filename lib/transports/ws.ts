/**
 * WebSocket: `ws://HOST:PORT/PATH` and `wss://…` (TLS underneath). Messages keep their boundaries and their
 * type (text or binary), nothing is lost, and a close carries a code and a reason. The server, client and
 * connection live in ./ws/; this module declares the transport.
 * @module
 */
import { formatHostPort } from "../endpoints/address.ts";
import type { WsEndpoint } from "./types.ts";
import { parseHostPort, SpecError } from "./hostport.ts";
import type { Transport } from "./transport.ts";

/** `ws://` or `wss://` and the host, port and path of an endpoint. */
function wsUrlOf(ep: WsEndpoint, hostPort = formatHostPort(ep.hostname, ep.port)): string {
  return `${ep.secure ? "wss" : "ws"}://${hostPort}${ep.path}`;
}

/** The WebSocket transport: `ws://HOST:PORT/PATH`, `wss://HOST:PORT/PATH`. */
export const ws: Transport<WsEndpoint> = {
  name: "ws",
  label: "WebSocket",
  schemes: ["ws://", "wss://"],
  spec: "ws://HOST:PORT/PATH, wss://…",
  help: "ws://HOST:PORT/PATH, wss://HOST:PORT/PATH: WebSocket messages, text or binary (wss: over TLS)",
  capabilities: {
    framing: "message",
    halfClose: false,
    lossy: false,
    peersExpire: false,
    keepsFileAccess: false,
    traceable: false,
    backpressure: false,
    sharesPort: false,
    proxied: false,
  },
  options: ["--binary", "--ping-interval", "--max-message", "--subprotocol", "--allow-origin"],
  namedInListening: false,
  format: (ep) => wsUrlOf(ep),
  listeningAddress: (addr, ep) => wsUrlOf(ep, addr),
  parse(rest, spec, role) {
    const scheme = spec.slice(0, spec.indexOf(":")).toLowerCase();
    const slash = rest.indexOf("/");
    const authority = slash === -1 ? rest : rest.slice(0, slash);
    const path = slash === -1 ? "/" : rest.slice(slash);
    if (/[?#]/.test(path)) {
      throw new SpecError("a query or fragment (? or #) has no place in a WebSocket address");
    }
    if (/[^\x21-\x7e]/.test(path)) throw new SpecError("the path has spaces or control characters");
    if (authority.includes("@")) throw new SpecError("user names and passwords are not supported");
    return { transport: "ws", ...parseHostPort(authority, role), path, secure: scheme === "wss" };
  },
  async listen(ep, emit, settings) {
    const { listenWs } = await import("./ws/listener.ts");
    return await listenWs(ep, emit, settings.admission);
  },
  async connect(ep, signal) {
    const { connectWs } = await import("./ws/connect.ts");
    return await connectWs(ep, { signal });
  },
  async runClient(opts, ctx) {
    const { runWsClient } = await import("./ws/client.ts");
    return await runWsClient(opts, ctx);
  },
  usesTls: (ep) => ep.secure,
  describe: (_conn, ep) => Promise.resolve(ep.secure ? "WebSocket over TLS" : "WebSocket"),
};
