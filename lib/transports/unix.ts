/**
 * Unix domain stream sockets: stale-socket handling lives in ./unix/unix.ts; this module declares the transport.
 * @module
 */
import { parseUnixPath } from "../endpoints/address.ts";
import { connectUnix, listenUnix } from "./unix/unix.ts";
import type { UnixEndpoint } from "./types.ts";
import { SpecError } from "./hostport.ts";
import type { Transport } from "./transport.ts";

/** The Unix socket transport: `unix:PATH` (also `unix://PATH`). */
export const unix: Transport<UnixEndpoint> = {
  name: "unix",
  label: "Unix socket",
  schemes: ["unix:"],
  spec: "unix:PATH",
  help: "unix:PATH: a Unix domain stream socket (the server needs read/write access to PATH)",
  capabilities: {
    framing: "stream",
    halfClose: true,
    lossy: false,
    peersExpire: false,
    keepsFileAccess: true,
    traceable: true,
    backpressure: true,
    sharesPort: false,
    proxied: false,
  },
  options: ["--unix"],
  namedInListening: false,
  format: (ep) => `unix:${ep.path}`,
  parse(rest) {
    const path = rest.startsWith("//") ? rest.slice(2) : rest;
    if (path === "") throw new SpecError("no socket path after unix:");
    return { transport: "unix", path: parseUnixPath(path) };
  },
  listen: (ep, emit) => listenUnix(ep, emit),
  connect: (ep, signal) => connectUnix(ep, signal),
  describe: () => Promise.resolve("Unix socket"),
};
