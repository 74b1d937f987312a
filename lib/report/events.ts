/** What the server reports while it runs; a reporter turns these into text or JSON lines. */
export type ServerEvent =
  | { type: "listening"; address: string; mode: string; transport?: string }
  | {
    type: "certificate";
    /** SHA-256 of the certificate, as `openssl x509 -fingerprint -sha256` prints it. */
    fingerprint: string;
    /** True when generated at start-up (self-signed, key never written). */
    ephemeral: boolean;
    /** The host names and addresses a generated certificate is for. */
    names?: string[];
    /** When a generated certificate expires (ISO 8601). */
    notAfter?: string;
    /** The `--cert` file it came from. */
    file?: string;
    /** Where `--write-cert` wrote a generated certificate. */
    writtenTo?: string;
    /** The client flags that trust a written certificate, when not `--tls --ca FILE` (wss://: `--ca FILE`). */
    trustWith?: string;
  }
  | { type: "connect"; id: number; peer: string; active: number }
  | { type: "message"; id: number; peer: string; count: number; bytes: number }
  | {
    type: "disconnect";
    id: number;
    peer: string;
    messages: number;
    bytes: number;
    durationMs: number;
    active: number;
    reason?: string;
  }
  | { type: "warning"; message: string }
  | { type: "stopping"; active: number }
  | ({ type: "summary" } & ServerSummary)
  | { type: "refused"; peer: string; reason: string }
  | HttpEvent
  | RelayEvent
  | ModeEvent
  | HubEvent
  | WireEvent;

/** An HTTP listener is up: the chat page (`--web`, also serving `/ws` and `/metrics`) or `/metrics` alone. */
export interface HttpEvent {
  type: "http";
  serves: "web" | "metrics";
  /** Where to point a browser or Prometheus: `http://127.0.0.1:8080/`, `http://127.0.0.1:9464/metrics`. */
  url: string;
}

/** What the relay reports about each pair: its target connected, and the pair done. */
export type RelayEvent =
  | { type: "target"; id: number; peer: string; target: string; connectMs: number }
  | {
    type: "pair";
    id: number;
    peer: string;
    target: string;
    /** Bytes from the client to the target. */
    up: number;
    /** Bytes from the target to the client. */
    down: number;
    durationMs: number;
    active: number;
    /** Why it ended early: the target could not be reached, a reset, an idle timeout. */
    reason?: string;
  };

/** Where a room shared over `--hub` stands: connected at start, lost (`down`), and back (`up`). */
export interface HubEvent {
  type: "hub";
  state: "connected" | "down" | "up";
  /** The hub's URL, without its password. */
  hub: string;
  room: string;
  /** This server instance's id, with which what it publishes is tagged. */
  instance: string;
  /** What happened, as the log line says it. */
  message: string;
}

/**
 * What a mode reports: a chat transcript line (as members see it), a note about one client, or a warning
 * (what the hub brought that was dropped).
 */
export type ModeEvent =
  | { type: "chat"; id: number; peer: string; text: string }
  | { type: "note"; id: number; peer: string; text: string }
  | { type: "warning"; message: string };

/** A socket call narrated by `--trace`: what was called, on which peer, with which sizes, and when. */
export interface TraceEvent {
  type: "trace";
  /** The event loop that made the call (1, 2, …), when the command runs on several (`--workers`). */
  loop?: number;
  call:
    | "bind"
    | "listen"
    | "accept"
    | "connect"
    | "handshake"
    | "recv"
    | "send"
    | "recvfrom"
    | "sendto"
    | "shutdown"
    | "close";
  /** Milliseconds since the command started. */
  elapsedMs: number;
  /** The local address (bind, listen, connect). */
  address?: string;
  /** The other end of the connection. */
  peer?: string;
  /** recv: the buffer size offered; send: the bytes given. */
  size?: number;
  /** Bytes received (0 at end of stream) or sent. */
  result?: number;
  error?: string;
  /** The line of sockkit that made the call (`file:line`), with `--trace=columns` and in `sockkit demo`. */
  site?: string;
}

/** Bytes on the wire for `--hex`: one event per recv or send, with the stream offset of its first byte. */
export interface HexEvent {
  type: "hex";
  /** The event loop that moved the bytes (1, 2, …), when the command runs on several (`--workers`). */
  loop?: number;
  direction: "recv" | "send";
  peer: string;
  offset: number;
  /** The bytes, two lowercase hex digits each. */
  hex: string;
}

/** What `--trace` and `--hex` report, on the server and on the client. */
export type WireEvent = TraceEvent | HexEvent;

/** What `runServer` resolves to once it has shut down. */
export interface ServerSummary {
  address: string;
  clients: number;
  messages: number;
  bytes: number;
  uptimeMs: number;
  /** Connections closed at once by the guard rails (--max-conns, --allow, --deny). */
  refused: number;
  /** UDP: replies not sent because a source went over `--udp-rate`. */
  dropped?: number;
  /** Relay: bytes moved from clients to the target (`up`) and back (`down`). */
  relayed?: { up: number; down: number };
}

/** What the client reports while it runs. */
export type ClientEvent =
  | {
    type: "connected";
    address: string;
    remote: string;
    connectMs: number;
    detail?: string;
    /** TLS: `false` with `--insecure` (the server's certificate was not verified). */
    verified?: boolean;
    /** TLS with `--pin`: the fingerprint the server's certificate matched. */
    pinned?: string;
  }
  | { type: "sending"; address: string; local: string; transport: string }
  | {
    type: "reply";
    seq: number;
    bytes: number;
    rttMs: number;
    text: string;
    truncated?: boolean;
    /** The reply is not the bytes that were sent: the peer is not (only) echoing (over UDP: not counted). */
    differs?: boolean;
    /** UDP: the echo of datagram `seq`, after it was counted lost (not counted again). */
    late?: boolean;
    /** UDP: an echo while no datagram was waiting and none was lost: the server sent it twice (not counted). */
    duplicate?: boolean;
    /** What the reply looks like when it is recognisably something else, e.g. `looks like TLS: add --tls`. */
    hint?: string;
  }
  | { type: "lost"; seq: number; reason: string }
  | { type: "eof"; sent: number; received: number }
  | ({ type: "summary" } & ClientSummary)
  | WireEvent;

/** Round-trip statistics in milliseconds, as ping prints them. */
export interface RttStats {
  min: number;
  avg: number;
  max: number;
  mdev: number;
}

/** What `runClient` resolves to. */
export interface ClientSummary {
  address: string;
  sent: number;
  received: number;
  lost: number;
  bytesSent: number;
  bytesReceived: number;
  elapsedMs: number;
  rtt?: RttStats;
  /** Replies that were not the bytes sent (over UDP: datagrams that were no echo, not counted as replies). */
  mismatched?: number;
  /** Why a repeat run ended early (the connection failed). */
  error?: string;
}

/** A receiver of events; commands call it synchronously and never wait on it. */
export type EventSink<E> = (event: E) => void;
