/** What a mode may do with the connection it was given; the server counts and reports through it. */
export interface Session {
  /** The server-wide number of this client (1, 2, …). */
  readonly id: number;
  /** The peer's address as people write it: `127.0.0.1:53422`. */
  readonly peer: string;
  /** True once the server is shutting down: a mode returns at its next safe point. */
  readonly stopping: boolean;
  /** Receives into `buf` (recv); null at end of stream. Counts one message per read that returns data. */
  read(buf: Uint8Array): Promise<number | null>;
  /** Sends all of `data` (send), resolving once every byte was handed to the OS. */
  write(data: Uint8Array): Promise<void>;
}

/** A server mode: what the server does with one accepted connection until it ends. */
export type Mode = (session: Session) => Promise<void>;
