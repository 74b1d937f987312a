/** What the server reports while it runs; a reporter turns these into text or JSON lines. */
export type ServerEvent =
  | { type: "listening"; address: string; mode: string }
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
  | ({ type: "summary" } & ServerSummary);

/** What `runServer` resolves to once it has shut down. */
export interface ServerSummary {
  address: string;
  clients: number;
  messages: number;
  bytes: number;
  uptimeMs: number;
}

/** What the client reports while it runs. */
export type ClientEvent =
  | { type: "connected"; address: string; remote: string; connectMs: number }
  | { type: "reply"; seq: number; bytes: number; rttMs: number; text: string }
  | { type: "lost"; seq: number; reason: string }
  | { type: "eof"; sent: number; received: number }
  | ({ type: "summary" } & ClientSummary);

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
  /** Why a repeat run ended early (the connection failed). */
  error?: string;
}

/** A receiver of events; commands call it synchronously and never wait on it. */
export type EventSink<E> = (event: E) => void;
