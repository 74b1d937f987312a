/**
 * TLS over TCP: certificates, the listener, the client and handshake errors live in ./tls/ (certs.ts, listener.ts, connect.ts, errors.ts); this module
 * declares the transport.
 * @module
 */
import { formatHostPort } from "../endpoints/address.ts";
import { connectTls, listenTls, serveOnce, tlsSummary } from "./tls/tls.ts";
import type { TlsEndpoint } from "./types.ts";
import { parseHostPort } from "./hostport.ts";
import type { Transport } from "./transport.ts";

/** The TLS transport: `tls://HOST:PORT`. */
export const tls: Transport<TlsEndpoint> = {
  name: "tls",
  label: "TLS",
  schemes: ["tls://"],
  spec: "tls://HOST:PORT",
  help: "tls://HOST:PORT: TLS over TCP (server: --cert/--key or an ephemeral certificate)",
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
  options: ["--cert", "--key", "--write-cert", "--alpn", "--ca", "--servername", "--pin", "--insecure"],
  namedInListening: true,
  format: (ep) => formatHostPort(ep.hostname, ep.port),
  parse: (rest, _spec, role) => ({ transport: "tls", ...parseHostPort(rest.replace(/\/$/, ""), role) }),
  listen: (ep, emit, settings) => listenTls(ep, emit, settings),
  shareListen: (ep, emit) => serveOnce(ep, emit),
  usesTls: () => true,
  connect: (ep, signal) => connectTls(ep, signal),
  describe: (conn) => tlsSummary(conn as Deno.TlsConn),
};
