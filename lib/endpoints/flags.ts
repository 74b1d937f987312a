/**
 * Turns the transport flags of the command line (`--tls`, `--unix`, `--udp` and their options) into the one
 * `Endpoint` a command runs on, rejecting combinations that make no sense with a usage error.
 * @module
 */
import { runsOverTls, transportOf } from "../transports/mod.ts";
import { parseHost, parsePort } from "./address.ts";
import { parseAddressSpec } from "./addressspec.ts";
import { UsageError } from "../core/errors.ts";
import type { Endpoint } from "../transports/dispatch.ts";

/** The transport flags both commands share; each is undefined when not given. */
export interface TransportFlags {
  tls?: boolean;
  unix?: string;
  udp?: boolean;
  cert?: string;
  key?: string;
  alpn?: string[];
  /** `--trace` (`=columns`: how) and `--hex` follow socket calls: a transport not traceable refuses them. */
  trace?: boolean | string;
  hex?: boolean;
  /** Set by a `ws://` or `wss://` address (`secure`): the path upgrades are accepted at or asked for. */
  ws?: { path: string; secure: boolean };
}

/** The server's flags: where to bind, and the server-only TLS and UDP options. */
export interface ServerFlags extends TransportFlags {
  host: string;
  port: number;
  /** True when the port or `--host` was given on the command line (not the defaults). */
  addressGiven?: boolean;
  /** True when `--host` was given on the command line. */
  hostGiven?: boolean;
  writeCert?: string;
  udpRate?: number;
  maxDatagram?: number;
  maxConns?: number;
}

/** The client's flags: the positional arguments as given, and the client-only TLS and UDP options. */
export interface ClientFlags extends TransportFlags {
  ca?: string;
  servername?: string;
  /** `--pin`: SHA-256 fingerprints (parsed) the server's certificate may have. */
  pin?: string[];
  /** `--insecure`: no verification of the server's certificate. */
  insecure?: boolean;
  maxDatagram?: number;
}

/**
 * True when a positional argument is an address spec (`tls://host:443`, `unix:/tmp/s.sock`, `host:1234`,
 * `[::1]:1234`) rather than a bare host or port; a bare IPv6 address (`::1`) is a host.
 */
export function looksLikeSpec(arg: string | undefined): arg is string {
  if (arg === undefined) return false;
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(arg) || arg.startsWith("unix:") || /^\[[^\]]*\]:/.test(arg) ||
    /^[^:[\]]+:[^:]*$/.test(arg);
}

/**
 * Folds an address spec into the transport flags it stands for (`tls://` is `--tls`, `unix:P` is `--unix P`),
 * refusing a flag that says something else, so one validation serves both spellings.
 */
function foldSpec<F extends TransportFlags>(spec: string, role: "listen" | "connect", f: F): {
  flags: F;
  hostname?: string;
  port?: number;
} {
  const ep = parseAddressSpec(spec, role);
  const clash = (flag: string) =>
    new UsageError(`${flag} and the address '${spec}' say different things: give the transport once`);
  if (f.unix !== undefined) throw clash("--unix");
  if (ep.transport !== "tls" && f.tls) throw clash("--tls");
  if (ep.transport !== "udp" && f.udp) throw clash("--udp");
  if (ep.transport === "unix") return { flags: { ...f, unix: ep.path } };
  if (ep.transport === "ws") {
    return {
      flags: { ...f, ws: { path: ep.path, secure: ep.secure }, tls: ep.secure || undefined },
      hostname: ep.hostname,
      port: ep.port,
    };
  }
  return {
    flags: { ...f, tls: ep.transport === "tls" || undefined, udp: ep.transport === "udp" || undefined },
    hostname: ep.hostname,
    port: ep.port,
  };
}

/**
 * `--trace` and `--hex` follow a stream's socket calls: a transport that does not declare itself traceable
 * (WebSocket: messages) refuses them, whichever command and spelling chose it; UDP takes `--trace` on the
 * server and the client (`followsCalls`: its socket's calls), not `--hex`, nor on the relay.
 */
function checkWire(ep: Endpoint, f: { trace?: boolean | string; hex?: boolean }, followsCalls = true): void {
  const t = transportOf(ep);
  const { traceable } = t.capabilities;
  if (traceable === true || !(f.trace || f.hex)) return;
  // a server's or client's datagram socket is traced (bind, sendto, recvfrom); the relay's UDP sessions are not
  if (traceable === "calls" && followsCalls && !f.hex) return;
  const flag = f.trace && !(traceable === "calls" && followsCalls) ? "--trace" : "--hex";
  const schemes = t.schemes.join(" or ");
  throw new UsageError(`${flag} follows socket calls: it does not work with ${schemes} (${t.label}; try -v)`);
}

/** A WebSocket address takes no `--alpn`: its upgrade runs over HTTP/1.1. */
function rejectWsAlpn(ws: boolean, f: { alpn?: string[] }): void {
  if (ws && f.alpn) {
    throw new UsageError("--alpn does not apply to wss://: a WebSocket upgrade runs over HTTP/1.1");
  }
}

function rejectCombinations(f: TransportFlags): void {
  rejectWsAlpn(f.ws !== undefined, f);
  if (f.udp && f.tls) throw new UsageError("--tls and --udp do not go together (sockkit has no DTLS)");
  if (f.unix !== undefined && f.tls) {
    throw new UsageError("--tls and --unix do not go together: TLS runs over TCP");
  }
  if (f.unix !== undefined && f.udp) {
    throw new UsageError("--unix and --udp do not go together: Unix sockets here are stream sockets");
  }
}

function requireFlag(given: unknown, flag: string, needs: string): void {
  if (given !== undefined && given !== false) throw new UsageError(`${flag} needs ${needs}`);
}

function requireTlsOptions(
  f: TransportFlags & {
    writeCert?: string;
    ca?: string;
    servername?: string;
    pin?: string[];
    insecure?: boolean;
  },
): void {
  if (f.tls) {
    if (f.pin?.length && f.insecure) {
      throw new UsageError(
        "--pin and --insecure exclude each other: --pin checks the certificate, --insecure does not",
      );
    }
    if (f.ca !== undefined && (f.pin?.length || f.insecure)) {
      throw new UsageError(
        `--ca and ${f.insecure ? "--insecure" : "--pin"} exclude each other: ` +
          (f.insecure
            ? "--insecure trusts any certificate"
            : "a pinned certificate is trusted by its fingerprint alone"),
      );
    }
    return;
  }
  const tls = f.ws ? "a wss:// address (ws:// has no TLS)" : "--tls";
  requireFlag(f.pin?.length ? f.pin : undefined, "--pin", tls);
  requireFlag(f.insecure, "--insecure", tls);
  requireFlag(f.cert, "--cert", tls);
  requireFlag(f.key, "--key", tls);
  requireFlag(f.alpn, "--alpn", tls);
  requireFlag(f.writeCert, "--write-cert", tls);
  requireFlag(f.ca, "--ca", tls);
  requireFlag(f.servername, "--servername", tls);
}

function requireCertAndKey(f: TransportFlags): void {
  if ((f.cert === undefined) !== (f.key === undefined)) {
    throw new UsageError("--cert and --key go together: give both, or neither");
  }
}

/** A TLS listener's certificate: `--cert` with `--key`, or a generated one that `--write-cert` may save. */
function requireServerCertificate(f: TransportFlags & { writeCert?: string }): void {
  requireCertAndKey(f);
  if (f.writeCert !== undefined && f.cert !== undefined) {
    throw new UsageError("--write-cert writes the generated certificate: with --cert there is none to write");
  }
}

/**
 * The endpoint `sockkit server` listens on, from its flags.
 *
 * @example
 * ```ts
 * serverEndpoint({ host: "::", port: 4433, tls: true }); // { transport: "tls", hostname: "::", port: 4433, tls: {} }
 * serverEndpoint({ host: "0.0.0.0", port: 1234, unix: "/tmp/s.sock" }); // { transport: "unix", path: "/tmp/s.sock" }
 * ```
 */
export function serverEndpoint(f: ServerFlags & { spec?: string }): Endpoint {
  const ep = buildServerEndpoint(f);
  checkWire(ep, f);
  return ep;
}

function buildServerEndpoint(f: ServerFlags & { spec?: string }): Endpoint {
  if (f.spec !== undefined) {
    if (f.hostGiven) throw new UsageError(`--host and the address '${f.spec}' both name the host: give one`);
    const folded = foldSpec(f.spec, "listen", f);
    const { spec: _, ...rest } = folded.flags;
    return serverEndpoint({
      ...rest,
      host: folded.hostname ?? f.host,
      port: folded.port ?? f.port,
      addressGiven: folded.flags.unix === undefined,
    });
  }
  rejectCombinations(f);
  requireTlsOptions(f);
  if (!f.udp) {
    requireFlag(f.udpRate, "--udp-rate", "--udp");
    requireFlag(f.maxDatagram, "--max-datagram", "--udp");
  }
  if (f.unix !== undefined) {
    if (f.addressGiven) {
      throw new UsageError("--unix takes the place of the port and --host: give one or the other");
    }
    return { transport: "unix", path: f.unix };
  }
  if (f.udp) {
    if (f.maxConns !== undefined) {
      throw new UsageError("--max-conns counts connections: it does not work with --udp");
    }
    return { transport: "udp", hostname: f.host, port: f.port };
  }
  if (f.ws) {
    if (f.ws.secure) requireServerCertificate(f);
    return {
      transport: "ws",
      hostname: f.host,
      port: f.port,
      path: f.ws.path,
      secure: f.ws.secure,
      ...(f.ws.secure && { tls: { certFile: f.cert, keyFile: f.key, writeCertFile: f.writeCert } }),
    };
  }
  if (f.tls) {
    requireServerCertificate(f);
    return {
      transport: "tls",
      hostname: f.host,
      port: f.port,
      tls: { certFile: f.cert, keyFile: f.key, alpn: f.alpn, writeCertFile: f.writeCert },
    };
  }
  return { transport: "tcp", hostname: f.host, port: f.port };
}

/** What the client's positional arguments mean once `--unix` is taken into account. */
export interface ClientTarget {
  endpoint: Endpoint;
  message?: string;
}

/**
 * The endpoint `sockkit client` connects to and the message, from its positional arguments
 * (`HOST PORT [MESSAGE]`, or only `[MESSAGE]` with `--unix PATH`) and its flags; `sockkit bench` uses it
 * too, and its usage errors name that command.
 *
 * @example
 * ```ts
 * clientTarget(["::1", "4433", "hi"], { tls: true, ca: "ca.pem" }).endpoint;
 * // { transport: "tls", hostname: "::1", port: 4433, tls: { caFile: "ca.pem", … } }
 * clientTarget(["hi"], { unix: "/tmp/s.sock" }); // { endpoint: { transport: "unix", … }, message: "hi" }
 * ```
 */
export function clientTarget(
  args: (string | undefined)[],
  f: ClientFlags,
  command: "client" | "bench" = "client",
): ClientTarget {
  const target = buildClientTarget(args, f, command);
  checkWire(target.endpoint, f);
  return target;
}

function buildClientTarget(
  args: (string | undefined)[],
  f: ClientFlags,
  command: "client" | "bench",
): ClientTarget {
  const message = command === "client" ? " [MESSAGE]" : "";
  if (looksLikeSpec(args[0])) {
    if (command === "bench" && args[1] !== undefined) {
      throw new UsageError(`the address '${args[0]}' already names the port: give no port after it`);
    }
    if (args[2] !== undefined) {
      throw new UsageError(
        `the address '${args[0]}' already names the port: the message is the one argument after it ` +
          "(quote it if it has spaces)",
      );
    }
    const folded = foldSpec(args[0], "connect", f);
    const rest = folded.flags.unix !== undefined
      ? args.slice(1)
      : [folded.hostname, String(folded.port), ...args.slice(1, 2)];
    return clientTarget(rest, folded.flags, command);
  }
  rejectCombinations(f);
  requireTlsOptions(f);
  if (!f.udp) requireFlag(f.maxDatagram, "--max-datagram", "--udp");
  const [first, second, third] = args;
  if (f.unix !== undefined) {
    if (second !== undefined) {
      throw new UsageError("with --unix PATH give no host or port, only the message (if any)");
    }
    return { endpoint: { transport: "unix", path: f.unix }, message: first };
  }
  if (first === undefined) {
    throw new UsageError(
      `missing the host and port: sockkit ${command} HOST PORT${message} [options], or --unix PATH${message}`,
    );
  }
  if (second === undefined && /^\d{1,5}$/.test(first)) {
    // `sockkit client 1234`: a port alone, as the server takes it; the client needs to know where too.
    throw new UsageError(
      `missing the host: '${first}' is a port; connect with sockkit ${command} HOST ${first}, such as ` +
        `sockkit ${command} localhost ${first}`,
    );
  }
  const hostname = parseHost(first);
  if (second === undefined) {
    throw new UsageError(`missing required argument 'port' (see 'sockkit ${command} --help')`);
  }
  const port = parsePort(second, { allowZero: false });
  if (f.udp) return { endpoint: { transport: "udp", hostname, port }, message: third };
  if (f.ws) {
    if (f.cert !== undefined || f.key !== undefined) {
      throw new UsageError("--cert and --key (a client certificate) do not work with wss://");
    }
    const tls = {
      caFile: f.ca,
      serverName: f.servername,
      ...(f.pin?.length && { pins: f.pin }),
      ...(f.insecure && { insecure: true }),
    };
    return {
      endpoint: {
        transport: "ws",
        hostname,
        port,
        path: f.ws.path,
        secure: f.ws.secure,
        ...(f.ws.secure && { tls }),
      },
      message: third,
    };
  }
  if (f.tls) {
    requireCertAndKey(f);
    if (f.cert !== undefined && f.servername !== undefined) {
      throw new UsageError("--servername cannot be combined with a client certificate (--cert/--key)");
    }
    return {
      endpoint: {
        transport: "tls",
        hostname,
        port,
        tls: {
          caFile: f.ca,
          serverName: f.servername,
          alpn: f.alpn,
          certFile: f.cert,
          keyFile: f.key,
          ...(f.pin?.length && { pins: f.pin }),
          ...(f.insecure && { insecure: true }),
        },
      },
      message: third,
    };
  }
  return { endpoint: { transport: "tcp", hostname, port }, message: third };
}

/**
 * Parses `--alpn`: protocol names separated by commas, most preferred first.
 *
 * @example
 * ```ts
 * parseAlpn("h2,http/1.1"); // ["h2", "http/1.1"]
 * ```
 */
export function parseAlpn(value: string): string[] {
  const names = value.split(",").map((n) => n.trim());
  if (names.some((n) => n === "" || new TextEncoder().encode(n).length > 255)) {
    throw new UsageError(
      `invalid --alpn '${value}': expected protocol names separated by commas, such as h2,http/1.1`,
    );
  }
  return names;
}

/** Parses a whole number for `flag` from `min` to `max`. */
export function parseWholeNumber(value: string, flag: string, min: number, max: number): number {
  const n = /^\d+$/.test(value.trim()) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`invalid ${flag} '${value}': expected a whole number from ${min} to ${max}`);
  }
  return n;
}

/** The relay's flags: TLS options for the side that is TLS (`--cert`/`--key` listen, `--ca`/`--pin` target). */
export interface RelayFlags {
  cert?: string;
  key?: string;
  writeCert?: string;
  alpn?: string[];
  ca?: string;
  servername?: string;
  pin?: string[];
  insecure?: boolean;
  trace?: boolean;
  hex?: boolean;
}

/**
 * The relay's two endpoints from its address specs and flags: the listen side's certificate options need a
 * `tls://` listen address, the target's verification options a `tls://` target, as `--tls` does elsewhere.
 *
 * @example
 * ```ts
 * relayEndpoints("tls://0.0.0.0:8443", "127.0.0.1:8080", { cert: "c.pem", key: "k.pem" }).listen;
 * // { transport: "tls", hostname: "0.0.0.0", port: 8443, tls: { certFile: "c.pem", keyFile: "k.pem" } }
 * ```
 */
export function relayEndpoints(listenSpec: string, targetSpec: string, f: RelayFlags): {
  listen: Endpoint;
  target: Endpoint;
} {
  const listen = parseAddressSpec(listenSpec, "listen");
  const target = parseAddressSpec(targetSpec, "connect");
  if (!runsOverTls(listen)) {
    for (
      const [flag, given] of [["--cert", f.cert], ["--key", f.key], ["--write-cert", f.writeCert], [
        "--alpn",
        f.alpn,
      ]] as const
    ) {
      if (given !== undefined) throw new UsageError(`${flag} is for a TLS listen address (tls://HOST:PORT)`);
    }
  }
  if (!runsOverTls(target)) {
    for (
      const [flag, given] of [["--ca", f.ca], ["--servername", f.servername], [
        "--pin",
        f.pin?.length ? f.pin : undefined,
      ], ["--insecure", f.insecure || undefined]] as const
    ) {
      if (given !== undefined) throw new UsageError(`${flag} is for a TLS target (tls://HOST:PORT)`);
    }
  }
  checkWire(listen, f, false);
  if (runsOverTls(listen)) {
    rejectWsAlpn(listen.transport === "ws", f);
    requireServerCertificate(f);
    listen.tls = { certFile: f.cert, keyFile: f.key, alpn: f.alpn, writeCertFile: f.writeCert };
  }
  if (runsOverTls(target)) {
    requireTlsOptions({
      ...f,
      cert: undefined,
      key: undefined,
      alpn: undefined,
      writeCert: undefined,
      tls: true,
    });
    target.tls = {
      caFile: f.ca,
      serverName: f.servername,
      ...(f.pin?.length && { pins: f.pin }),
      ...(f.insecure && { insecure: true }),
    };
  }
  return { listen, target };
}
