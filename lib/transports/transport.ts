/**
 * What a transport declares about itself, and the one small connection interface every stream transport
 * hands to servers, clients, the relay and the load generator. Each transport is one module in this folder
 * (tcp.ts, tls.ts, unix.ts, udp.ts) exporting a `Transport`; ./mod.ts lists them.
 * @module
 */
import type { ClientEvent, ClientSummary, EventSink, ServerEvent } from "../report/events.ts";
import type { ByteReader, ByteWriter } from "../core/io.ts";
import type { Connection, Endpoint, IoCore, Listener, ListenSettings, UdpSettings } from "./types.ts";

export type { Connection, Listener } from "./types.ts";

/** How a transport carries data: a byte stream (TCP, TLS, Unix) or separate messages (UDP datagrams). */
export type Framing = "stream" | "message";

/** What a transport can and cannot do; the commands check these instead of the transport's name. */
export interface Capabilities {
  /** A byte stream, or messages whose boundaries the peer sees. */
  framing: Framing;
  /** One side can finish sending and still receive (a TCP FIN). */
  halfClose: boolean;
  /** Data may be lost or reordered on the way, and nobody is told (UDP). */
  lossy: boolean;
  /** Peers never close: the listener times a silent one out itself (UDP), instead of the server's --idle-timeout. */
  peersExpire: boolean;
  /** The server keeps read/write access to files after listening (a Unix socket's file is removed at exit). */
  keepsFileAccess: boolean;
  /**
   * `--trace` and `--hex` can follow its connections; `"calls"`: `--trace` follows its socket's calls (bind,
   * sendto, recvfrom) on the server and the client, and `--hex` does not (UDP: one socket, no connections).
   */
  traceable: boolean | "calls";
  /**
   * Several event loops can listen on one address at once (SO_REUSEPORT; the kernel spreads new connections
   * over them), so the relay can run its pairs on `--workers` threads.
   */
  sharesPort: boolean;
  /**
   * A peer that sends faster than it is served is slowed down (the server stops reading it), rather than cut
   * off once its queue is full (WebSocket: the server cannot stop reading) or dropped (UDP).
   */
  backpressure: boolean;
  /** A client's connect can go through an upstream proxy (`--proxy`: it connects over TCP). */
  proxied: boolean;
}

/** What `sockkit client` asks of a transport that runs its own client: the endpoint and the options given. */
export interface OwnClientOptions<E extends Endpoint = Endpoint> {
  endpoint: E;
  /** What to send (default `Hello`). */
  message?: Uint8Array;
  mode?: "once" | "repeat" | "pipe" | "interactive";
  /** Repeat mode: how many messages (default: until stopped). */
  count?: number;
  /** Repeat mode: the time between messages. */
  intervalMs?: number;
  /** The limit for connecting and for each reply. */
  timeoutMs?: number;
  /** UDP: the largest datagram (`--max-datagram`). */
  udp?: UdpSettings;
  /** WebSocket: send binary messages (`--binary`), not text. */
  binary?: boolean;
  /** WebSocket: the subprotocol to ask for (`--subprotocol`). */
  subprotocol?: string;
  /** UDP: report each bind, sendto and recvfrom (`--trace`), with the line that made it (`sites`). */
  trace?: boolean;
  /** With `trace`: name the line of sockkit that made each call. */
  sites?: boolean;
  /** With `trace`: time the calls from this `performance.now()`. */
  traceClock?: number;
}

/** How a transport's own client is driven: stopped by `signal`, observed through `onEvent`, with pipe mode's streams. */
export interface OwnClientContext {
  signal?: AbortSignal;
  onEvent?: EventSink<ClientEvent>;
  /** Pipe mode reads this (default `Deno.stdin`). */
  stdin?: ByteReader;
  /** Pipe mode writes what it receives here (default `Deno.stdout`). */
  stdout?: ByteWriter;
}

/**
 * One transport, declared once: its name and label, the address schemes that select it, what it can do,
 * the command-line options it adds, and how to listen on and connect to its endpoints.
 */
export interface Transport<E extends Endpoint = Endpoint> {
  /** The name endpoints carry (`tcp`). */
  readonly name: E["transport"];
  /** How messages name it (`TCP`, `Unix socket`). */
  readonly label: string;
  /** The address-spec prefixes that select it (`tcp://`, `unix:`). */
  readonly schemes: readonly string[];
  /** How its addresses are written, in usage errors (`tcp://HOST:PORT`, `unix:PATH`). */
  readonly spec: string;
  /** One line for `--help` and docs/transports.md. */
  readonly help: string;
  /** What it can do. */
  readonly capabilities: Capabilities;
  /** The I/O cores it can move bytes with (`--io`); the first is the default. */
  readonly ioCores?: readonly IoCore[];
  /** The command-line options it adds, as the help shows them. */
  readonly options: readonly string[];
  /** True when the "Listening on" line should name it (the address alone does not show it). */
  readonly namedInListening: boolean;
  /** How an endpoint is shown to people: `127.0.0.1:1234`, `unix:/tmp/s.sock`. */
  format(ep: E): string;
  /** The "Listening on" address, from the address the listener got (default: that address as it is). */
  listeningAddress?(addr: string, ep: E): string;
  /**
   * Parses what follows the scheme in an address spec (`HOST:PORT`, a path); throws a `SpecError` saying what
   * is wrong, which the address-spec parser turns into a usage error listing the forms.
   */
  parse(rest: string, spec: string, role: "listen" | "connect"): E;
  /** Binds and listens; `settings` are the server's, each transport takes what applies to it. */
  listen(ep: E, emit: EventSink<ServerEvent>, settings: ListenSettings): Promise<Listener>;
  /**
   * Where the transport shares ports: does once what every event loop listening on `ep` would otherwise each
   * do (a TLS certificate made and reported), and returns the endpoint they all listen on (default: `ep`).
   */
  shareListen?(ep: E, emit: EventSink<ServerEvent>): Promise<E>;
  /**
   * Connects, giving up when `signal` aborts (stream transports; UDP's client is lib/transports/udp/client.ts).
   * `io` picks the API where the transport offers both (TCP); the others ignore it.
   */
  connect?(ep: E, signal?: AbortSignal, io?: IoCore): Promise<Connection>;
  /**
   * `sockkit client`'s exchange, where the transport's own differs from the byte-stream one in lib/client/run.ts (UDP:
   * datagrams whose loss is counted, not a connection; WebSocket: whole messages and close codes).
   */
  runClient?(opts: OwnClientOptions<E>, ctx: OwnClientContext): Promise<ClientSummary>;
  /** Whether this endpoint runs over TLS, so that its `tls` settings apply (`tls://`, and `wss://` but not `ws://`). */
  usesTls?(ep: E): boolean;
  /** What a client shows about a connection besides its address (`TLS, ALPN h2`). */
  describe?(conn: Connection, ep: E): Promise<string | undefined>;
}
