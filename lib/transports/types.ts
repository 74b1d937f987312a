/**
 * The types every transport module shares: the endpoints (where to listen or connect) and the listener.
 * Kept apart from lib/transports/dispatch.ts, which dispatches to the transports, so that they need not import it.
 * @module
 */
import type { EventSink, ServerEvent, ServerSummary } from "../report/events.ts";

/** Certificates and verification settings; each field says which side uses it. */
export interface TlsSettings {
  /** Server: its certificate chain (PEM file). Client: a certificate to show servers that ask for one. */
  certFile?: string;
  /** The private key (PEM file) for `certFile`. */
  keyFile?: string;
  /** Client: a PEM file of extra trust anchors (a CA, or a self-signed server certificate). */
  caFile?: string;
  /** Client: the name sent as SNI and checked against the certificate (default: the host connected to). */
  serverName?: string;
  /** ALPN protocols, most preferred first. */
  alpn?: string[];
  /** Client: trust the server exactly when its certificate has one of these SHA-256 fingerprints (`--pin`). */
  pins?: string[];
  /** Client: do not verify the server's certificate at all (`--insecure`). */
  insecure?: boolean;
  /** Server without `certFile`: write the generated certificate (PEM) to this file. */
  writeCertFile?: string;
  /** Server: how long a client may take to finish its handshake (default 10 s). */
  handshakeTimeoutMs?: number;
  /** Server: the certificate and key (PEM) already read or made, and reported, once for several event loops. */
  served?: { cert: string; key: string };
}

/** The user name and password of a proxy URL (`socks5://user:pass@…`). */
export interface ProxyAuth {
  username: string;
  password: string;
}

/** An upstream proxy a client's TCP connect goes through (`--proxy`; lib/transports/proxy/). */
export interface ProxySpec {
  /** The URL as given, without its password (for messages). */
  readonly shown: string;
  /** `socks5:`, `socks5h:` or `http:`. */
  readonly scheme: string;
  readonly hostname: string;
  readonly port: number;
  readonly auth?: ProxyAuth;
}

/** Plain TCP to a host and port (a client's: maybe through a `proxy`). */
export interface TcpEndpoint {
  transport: "tcp";
  hostname: string;
  port: number;
  proxy?: ProxySpec;
}

/** TLS over TCP; `tls` holds certificates and verification settings (a client's: maybe through a `proxy`). */
export interface TlsEndpoint {
  transport: "tls";
  hostname: string;
  port: number;
  tls?: TlsSettings;
  proxy?: ProxySpec;
}

/** A Unix domain (stream) socket at a file path. */
export interface UnixEndpoint {
  transport: "unix";
  path: string;
}

/** UDP datagrams to or from a host and port (a listener sorts them by source into connections). */
export interface UdpEndpoint {
  transport: "udp";
  hostname: string;
  port: number;
}

/** What a WebSocket server does beyond its address (lib/transports/ws/): keep-alive, limits, subprotocol, origins. */
export interface WsSettings {
  /** Seconds without a message before a ping; a peer that does not answer it within as long is closed. */
  pingIntervalS?: number;
  /** The largest message accepted, in bytes; a larger one closes the connection with code 1009. */
  maxMessage?: number;
  /** The most bytes queued for (or from) one client before it waits or is cut off (`--max-queue`). */
  maxQueue?: number;
  /** The subprotocol agreed to when a client asks for it (`--subprotocol`). */
  subprotocol?: string;
  /** Origins let in besides the server's own (`--allow-origin`); `*` lets in any. */
  allowOrigins?: string[];
}

/** A WebSocket (`ws://HOST:PORT/PATH`), or over TLS (`wss://`, `secure`, with `tls`); served by lib/transports/ws/. */
export interface WsEndpoint {
  transport: "ws";
  hostname: string;
  port: number;
  /** Where upgrades are accepted (server) or asked for (client): `/` or `/chat`. */
  path: string;
  /** `wss://`: TLS underneath, with `tls` as for `tls://`. */
  secure: boolean;
  tls?: TlsSettings;
  ws?: WsSettings;
}

/** The endpoints that carry a byte stream (WebSocket: messages, read as bytes): what `listen` and `connect` accept. */
export type StreamEndpoint = TcpEndpoint | TlsEndpoint | UnixEndpoint | WsEndpoint;

/** Where to listen or connect, over any transport. */
export type Endpoint = StreamEndpoint | UdpEndpoint;

/** The name of a transport. */
export type TransportName = Endpoint["transport"];

/** One whole message of a message transport: its bytes, and whether it is text (UTF-8; WebSocket only). */
export interface Message {
  data: Uint8Array;
  text: boolean;
}

/**
 * One connection of a stream transport, as servers, clients, the relay and the load generator use it: the
 * part of `Deno.Conn` they need, so a transport can hand over anything that does these few things.
 */
export interface Connection {
  /** Reads into the caller's buffer: how many bytes, or null at end of stream. */
  read(buf: Uint8Array): Promise<number | null>;
  /** Writes some of `data` (maybe fewer bytes than given: see `writeAll` in lib/core/io.ts). */
  write(data: Uint8Array): Promise<number>;
  /** Ends the sending side; the peer reads end of stream, and this side can still read. */
  closeWrite(): Promise<void>;
  /** Closes both directions now. */
  close(): void;
  /** This side's address. */
  readonly localAddr: Deno.Addr;
  /** The peer's address (what the peer label is made from: lib/transports/dispatch.ts `peerLabel`). */
  readonly remoteAddr: Deno.Addr;
  /** Message transports (UDP, WebSocket): the next whole message, or null at the end. */
  readMessage?(): Promise<Message | null>;
  /** Message transports: sends one whole message (a datagram, a WebSocket message of its type). */
  writeMessage?(message: Message): Promise<void>;
  /** Why the transport itself ended the connection (a UDP peer gone silent), once it has. */
  readonly endReason?: string;
}

/** UDP-only settings. */
export interface UdpSettings {
  /**
   * Server: replies per second to any one source IP, or IPv6 /64, whatever its ports; the rest are dropped
   * and logged (default 200, 0: no limit).
   */
  ratePerSecond?: number;
  /** The largest datagram sent or accepted (default 65,507); a longer one received is reported as truncated. */
  maxDatagram?: number;
}

/** Server settings a transport's listener may use (each takes what applies to it). */
/**
 * Which runtime API moves a stream's bytes: `deno` (`Deno.listen`/`Deno.connect`, the default) or `node`
 * (`node:net` from the same runtime, which serves hundreds of busy connections evenly: docs/transports.md "Which API moves the bytes").
 */
export type IoCore = "deno" | "node";

/** The I/O cores, as `--io` takes them. */
export const IO_CORES: readonly IoCore[] = ["deno", "node"];

export interface ListenSettings {
  /** TCP and Unix sockets: which API moves the bytes (default `deno`). */
  io?: IoCore;
  /** A peer silent this long is gone, for transports whose peers never close (UDP; default 30 s there). */
  idleTimeoutMs?: number;
  /** UDP: the reply rate limit and the largest datagram. */
  udp?: UdpSettings;
  /**
   * The server's counters, for what a listener drops itself (UDP replies over the rate limit: counted as
   * dropped, and not as sent, although the mode's write of them succeeded; failed TLS handshakes: refused,
   * reason `handshake`).
   */
  counters?: { udpDropped: number; sentBytes: number; refused?: { handshake: number } };
  /** WebSocket: the guard rails' decision before an upgrade (refused with an HTTP status). */
  admission?: Admission;
  /** Transports that share a port: bind with SO_REUSEPORT, beside the other event loops of the same relay. */
  reusePort?: boolean;
  /** `--trace`: a datagram socket whose sendto and recvfrom are reported (UDP), from the server's tap. */
  tap?: { datagram(socket: Deno.DatagramConn): Deno.DatagramConn };
}

/** A refusal by the guard rails before a WebSocket upgrade: the reason logged, and what the client gets. */
export interface Refusal {
  reason: string;
  /** 403 for `--deny`/`--allow`, 503 for `--max-conns`. */
  status?: number;
  /** The one line the client is told (default: the reason). */
  notice?: string;
}

/** What the server or relay decides before a WebSocket upgrade, and hears about what was refused. */
export interface Admission {
  /** Why a peer is turned away now, or undefined to let it in. */
  check?(addr: Deno.Addr): Refusal | undefined;
  /** A request was refused before its upgrade (counted and logged by the caller). */
  refused?(peer: Deno.Addr, reason: string): void;
}

/** The server's half of a transport: bound and listening, accepting connections. */
export interface Listener {
  readonly addr: Deno.Addr;
  accept(): Promise<Connection>;
  close(): void;
  /** How the lines about its peers are reported, when the transport limits them (UDP: a spoofer's flood). */
  reporter?(emit: EventSink<ServerEvent>): EventSink<ServerEvent>;
  /** Called once the server has stopped: reports what it held back, and adds to the summary (UDP drops). */
  finish?(): Partial<ServerSummary>;
}
