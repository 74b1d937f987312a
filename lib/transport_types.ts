/**
 * The types every transport module shares: the endpoints (where to listen or connect) and the listener.
 * Kept apart from lib/transport.ts, which dispatches to the transports, so that they need not import it.
 * @module
 */
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

/** UDP datagrams to or from a host and port (served by lib/udp.ts, not by `listen`/`connect`). */
export interface UdpEndpoint {
  transport: "udp";
  hostname: string;
  port: number;
}

/** What a WebSocket server does beyond its address (lib/ws/): keep-alive, limits, subprotocol, origins. */
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

/** A WebSocket (`ws://HOST:PORT/PATH`), or over TLS (`wss://`, `secure`, with `tls`); served by lib/ws/. */
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

/** The server's half of a transport: bound and listening, accepting connections. */
export interface Listener {
  readonly addr: Deno.Addr;
  accept(): Promise<Deno.Conn>;
  close(): void;
}
