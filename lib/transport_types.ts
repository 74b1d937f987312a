/**
 * The types every transport module shares: the endpoints (where to listen or connect) and the listener.
 * Kept apart from lib/transport.ts, which dispatches to the transports, so that they need not import it.
 * @module
 */
import type { EventSink, ServerEvent, ServerSummary } from "./events.ts";

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
}

/** Plain TCP to a host and port. */
export interface TcpEndpoint {
  transport: "tcp";
  hostname: string;
  port: number;
}

/** TLS over TCP; `tls` holds certificates and verification settings. */
export interface TlsEndpoint {
  transport: "tls";
  hostname: string;
  port: number;
  tls?: TlsSettings;
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

/** The endpoints that carry a byte stream: what `listen` and `connect` accept. */
export type StreamEndpoint = TcpEndpoint | TlsEndpoint | UnixEndpoint;

/** Where to listen or connect, over any transport. */
export type Endpoint = StreamEndpoint | UdpEndpoint;

/** The name of a transport. */
export type TransportName = Endpoint["transport"];

/**
 * One connection of a stream transport, as servers, clients, the relay and the load generator use it: the
 * part of `Deno.Conn` they need, so a transport can hand over anything that does these few things.
 */
export interface Connection {
  /** Reads into the caller's buffer: how many bytes, or null at end of stream. */
  read(buf: Uint8Array): Promise<number | null>;
  /** Writes some of `data` (maybe fewer bytes than given: see `writeAll` in lib/io.ts). */
  write(data: Uint8Array): Promise<number>;
  /** Ends the sending side; the peer reads end of stream, and this side can still read. */
  closeWrite(): Promise<void>;
  /** Closes both directions now. */
  close(): void;
  /** This side's address. */
  readonly localAddr: Deno.Addr;
  /** The peer's address (what the peer label is made from: lib/transport.ts `peerLabel`). */
  readonly remoteAddr: Deno.Addr;
  /** Message transports: the next whole message (a datagram), or null at the end. */
  readMessage?(): Promise<Uint8Array | null>;
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
export interface ListenSettings {
  /** A peer silent this long is gone, for transports whose peers never close (UDP; default 30 s there). */
  idleTimeoutMs?: number;
  /** UDP: the reply rate limit and the largest datagram. */
  udp?: UdpSettings;
  /**
   * The server's counters, for what a listener drops itself (UDP replies over the rate limit: counted as
   * dropped, and not as sent, although the mode's write of them succeeded).
   */
  counters?: { udpDropped: number; sentBytes: number };
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
  /** TLS: handshakes that failed or timed out, each a connection never handed to `accept()`'s caller. */
  readonly failedHandshakes?: number;
}
