/**
 * `sockkit client`: connect, send, receive the echo, in one of three ways: one message (default), one
 * message per interval (`repeat`), or stdin to the socket and the socket to stdout (`pipe`).
 * @module
 */
import { RepeatSchedule } from "../client/schedule.ts";
import { formatAddr } from "../endpoints/address.ts";
import type { ClientEvent, ClientSummary, EventSink } from "../report/events.ts";
import { networkReason, SockkitError, toNetworkError } from "../core/errors.ts";
import { escapeBytes } from "../core/format.ts";
import {
  type ByteReader,
  type ByteWriter,
  closeQuietly,
  isClosedError,
  sameBytes,
  writeAll,
} from "../core/io.ts";
import { ReplyTracker } from "../client/replies.ts";
import { RttAccumulator } from "../core/stats.ts";
import { LineEditor, type Terminal, textForTerminal, WholeLines } from "../client/terminal.ts";
import {
  connect,
  type Connection,
  describeConnection,
  type Endpoint,
  endpointZone,
  formatEndpoint,
  type IoCore,
  type StreamEndpoint,
} from "../transports/dispatch.ts";
import { looksLikeTls } from "../transports/tls/tls.ts";
import type { UdpSettings } from "../transports/types.ts";
import { runsOverTls, transportOf } from "../transports/mod.ts";
import { WireTap } from "../server/wire.ts";

/** What `runClient` needs; main.ts fills in the defaults. */
export interface ClientOptions {
  /** Where to connect and over which transport: TCP, TLS, a Unix socket or UDP. */
  endpoint: Endpoint;
  /** The bytes to send (default `Hello`). */
  message?: Uint8Array;
  /**
   * `once` (default): one message; `repeat`: one per interval; `pipe`: stdin ⇄ socket; `interactive`:
   * lines typed go to the server and lines that arrive are printed whole (a chat client).
   */
  mode?: "once" | "repeat" | "pipe" | "interactive";
  /** Repeat mode: stop after this many messages (default: until aborted). */
  count?: number;
  /** Repeat mode: time between messages (default 1000 ms). */
  intervalMs?: number;
  /** Bounds connecting and each reply (default 5000 ms). */
  timeoutMs?: number;
  /** Report every socket call (`--trace`). */
  trace?: boolean;
  /** With `trace`: name the line of sockkit that made each call (`--trace=columns`). */
  sites?: boolean;
  /** With `trace`: time the calls from this `performance.now()` (`sockkit demo`: one clock for both sides). */
  traceClock?: number;
  /** Report the bytes sent and received as hex dumps (`--hex`). */
  hex?: boolean;
  /** UDP: the largest datagram sent or received. */
  udp?: UdpSettings;
  /** WebSocket: send binary messages (`--binary`), not text. */
  binary?: boolean;
  /** WebSocket: offer this subprotocol (`--subprotocol`). */
  subprotocol?: string;
  /** TCP: which API moves the bytes (`--io`, default `deno`). */
  io?: IoCore;
}

/** How the client is driven: stopped by `signal`, observed through `onEvent`, with pipe mode's streams. */
export interface RunClientContext {
  signal?: AbortSignal;
  onEvent?: EventSink<ClientEvent>;
  /** Pipe mode reads this (default `Deno.stdin`). */
  stdin?: ByteReader;
  /** Pipe mode writes what it receives here (default `Deno.stdout`). */
  stdout?: ByteWriter;
  /** Interactive mode: the terminal stdin belongs to, switched to raw mode for line editing (default none). */
  terminal?: Terminal;
}

const DEFAULT_MESSAGE = new TextEncoder().encode("Hello");
const PIPE_BUFFER_SIZE = 64 * 1024;

/**
 * Runs the client and resolves to a summary. Throws a `SockkitError` when it cannot connect, and in `once`
 * mode when the reply does not come back complete; in `repeat` mode lost replies are counted instead.
 *
 * @example
 * ```ts ignore
 * const summary = await runClient({ endpoint: { transport: "tcp", hostname: "127.0.0.1", port: 1234 } }, {
 *   onEvent: (e) => e.type === "reply" && console.log(e.text), // Hello
 * });
 * ```
 */
export async function runClient(opts: ClientOptions, ctx: RunClientContext = {}): Promise<ClientSummary> {
  // A transport with a client of its own (UDP, WebSocket) runs it; the byte streams share the one below.
  const own = transportOf(opts.endpoint).runClient as
    | ((o: ClientOptions, c: RunClientContext) => Promise<ClientSummary>)
    | undefined;
  if (own) return await own(opts, ctx);
  const endpoint = opts.endpoint as StreamEndpoint;
  const emit = ctx.onEvent ?? (() => {});
  const signal = ctx.signal ?? new AbortController().signal;
  const timeoutMs = opts.timeoutMs ?? 5000;
  const address = formatEndpoint(endpoint);
  const startedAt = performance.now();

  const tap = new WireTap(opts, emit, startedAt);

  // connect
  let conn: Connection;
  try {
    conn = await tap.connecting(connectWithin(endpoint, timeoutMs, signal, opts.io));
  } catch (err) {
    tap.trace("connect", { peer: address, error: err instanceof Error ? err.message : String(err) });
    throw err;
  }
  const connectMs = performance.now() - startedAt;
  const detail = await describeConnection(endpoint, conn);
  const zone = endpointZone(endpoint);
  // through --proxy the connection's far end is the proxy: say so instead of naming it as the server
  const proxy = "proxy" in endpoint ? endpoint.proxy : undefined;
  const remote = proxy ? `through ${proxy.shown}` : formatAddr(conn.remoteAddr, zone);
  tap.connected(conn, { peer: remote, address: formatAddr(conn.localAddr, zone) });
  conn = tap.wrap(conn, remote);
  emit({ type: "connected", address, remote, connectMs, detail, ...tlsTrust(endpoint, conn) });

  const onAbort = () => closeQuietly(conn);
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    const stdin = ctx.stdin ?? Deno.stdin;
    const stdout = ctx.stdout ?? Deno.stdout;
    const result = opts.mode === "pipe"
      ? await pipe(conn, stdin, stdout, signal, emit)
      : opts.mode === "interactive"
      ? await interactive(conn, stdin, stdout, ctx.terminal, signal, emit)
      : await exchange(conn, opts, timeoutMs, signal, emit);
    const summary: ClientSummary = { address, ...result, elapsedMs: performance.now() - startedAt };
    emit({ type: "summary", ...summary });
    return summary;
  } finally {
    signal.removeEventListener("abort", onAbort);
    closeQuietly(conn);
  }
}

async function connectWithin(
  ep: StreamEndpoint,
  timeoutMs: number,
  signal: AbortSignal,
  io?: IoCore,
): Promise<Connection> {
  try {
    return await connect(ep, AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]), io);
  } catch (err) {
    if (signal.aborted) throw new SockkitError(`cannot connect to ${formatEndpoint(ep)}: interrupted`);
    if (err instanceof SockkitError && /timed out/.test(err.message)) {
      throw new SockkitError(
        `cannot connect to ${
          formatEndpoint(ep)
        }: timed out after ${timeoutMs} ms (check the host and port, or raise --timeout)`,
        undefined,
        { cause: err },
      );
    }
    throw err;
  }
}

/** How a TLS server was trusted, when not by its CA: `--insecure` (not verified), or the `--pin` it matched. */
function tlsTrust(ep: StreamEndpoint, conn: Connection): { verified?: false; pinned?: string } {
  if (!runsOverTls(ep)) return {};
  if (ep.tls?.insecure) return { verified: false };
  const pinned = (conn as { pinned?: string }).pinned;
  return pinned ? { pinned } : {};
}

type Counts = Omit<ClientSummary, "address" | "elapsedMs">;

/** Once and repeat modes: send a message, wait for its complete echo, and again every interval. */
async function exchange(
  conn: Connection,
  opts: ClientOptions,
  timeoutMs: number,
  signal: AbortSignal,
  emit: EventSink<ClientEvent>,
): Promise<Counts> {
  const message = opts.message ?? DEFAULT_MESSAGE;
  const schedule = new RepeatSchedule(opts);
  const { repeat } = schedule;
  const replies = new ReplyTracker();
  const receiving = receive(conn, replies);
  const rtt = new RttAccumulator();
  const counts = { sent: 0, received: 0, lost: 0, bytesSent: 0, bytesReceived: 0 };
  let mismatched = 0;
  try {
    for (let seq = 1; schedule.wants(seq, signal); seq++) {
      const start = counts.bytesSent;
      const reply = replies.expect(start, start + message.length, timeoutMs, signal);
      const sentAt = performance.now();
      try {
        await writeAll(conn, message);
        counts.sent++;
        counts.bytesSent += message.length;
        const bytes = await reply;
        const rttMs = performance.now() - sentAt;
        rtt.add(rttMs);
        counts.received++;
        const differs = !sameBytes(bytes, message);
        if (differs) mismatched++;
        emit({
          type: "reply",
          seq,
          bytes: bytes.length,
          rttMs,
          text: escapeBytes(bytes),
          ...(differs && { differs }),
          ...(differs && opts.endpoint.transport !== "tls" && looksLikeTls(bytes) &&
            { hint: "looks like TLS: add --tls" }),
        });
      } catch (err) {
        reply.catch(() => {});
        if (signal.aborted && counts.sent < seq) break;
        const failure = signal.aborted ? "interrupted" : describeFailure(err);
        if (!repeat) throw toClientError(err);
        counts.lost++;
        emit({ type: "lost", seq, reason: failure });
        if (!(err instanceof SockkitError && /^(no complete reply|reply not kept)/.test(err.message))) {
          return { ...counts, bytesReceived: replies.received, rtt: rtt.stats(), mismatched, error: failure };
        }
      }
      await schedule.waitAfter(seq, signal);
    }
  } finally {
    closeQuietly(conn);
    await receiving;
  }
  return { ...counts, bytesReceived: replies.received, rtt: rtt.stats(), mismatched };
}

function describeFailure(err: unknown): string {
  return err instanceof SockkitError ? err.message : networkReason(err);
}

function toClientError(err: unknown): SockkitError {
  return err instanceof SockkitError ? err : new SockkitError(networkReason(err), undefined, { cause: err });
}

/** Reads everything the server sends into the tracker until the stream ends or the connection is closed. */
async function receive(conn: Connection, replies: ReplyTracker): Promise<void> {
  const buf = new Uint8Array(PIPE_BUFFER_SIZE);
  try {
    while (true) {
      const n = await conn.read(buf);
      if (n === null) return replies.end();
      replies.push(buf.subarray(0, n));
    }
  } catch (err) {
    replies.end(isClosedError(err) ? new SockkitError("the connection was closed") : err);
  }
}

/** Pipe mode: stdin to the socket (half-closing at its end) and the socket to stdout, until the server closes. */
async function pipe(
  conn: Connection,
  stdin: ByteReader,
  stdout: ByteWriter,
  signal: AbortSignal,
  emit: EventSink<ClientEvent>,
): Promise<Counts> {
  const counts = { sent: 0, received: 0, lost: 0, bytesSent: 0, bytesReceived: 0 };
  const upload = async (send: (data: Uint8Array) => Promise<void>) => {
    const buf = new Uint8Array(PIPE_BUFFER_SIZE);
    for (let n = await stdin.read(buf); n !== null; n = await stdin.read(buf)) await send(buf.subarray(0, n));
  };
  const ended = await relay(conn, signal, counts, upload, (chunk) => writeAll(stdout, chunk));
  if (ended !== "output") emit({ type: "eof", sent: counts.bytesSent, received: counts.bytesReceived });
  return counts;
}

/**
 * Pipe and interactive modes: `upload` sends what it reads through `send`, then the client half-closes;
 * meanwhile every chunk the server sends goes to `onChunk`. Resolves with why it ended: the server closed
 * the connection (`"server"`), the run was interrupted (`"interrupted"`), or whoever reads the output went
 * away (`"output"`, as with `| head`: like nc, the client then stops quietly); throws when reading or writing
 * the connection failed.
 */
async function relay(
  conn: Connection,
  signal: AbortSignal,
  counts: Counts,
  upload: (send: (data: Uint8Array) => Promise<void>) => Promise<void>,
  onChunk: (chunk: Uint8Array) => Promise<unknown>,
): Promise<"server" | "interrupted" | "output"> {
  const send = async (data: Uint8Array) => {
    await writeAll(conn, data);
    counts.sent++;
    counts.bytesSent += data.length;
  };
  let uploadError: unknown;
  upload(send).then(() => conn.closeWrite()).catch((err) => (uploadError = err));

  const buf = new Uint8Array(PIPE_BUFFER_SIZE);
  let ended: "server" | "interrupted" | "output" = "interrupted";
  try {
    for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
      counts.received++;
      counts.bytesReceived += n;
      try {
        await onChunk(buf.subarray(0, n));
      } catch (err) {
        if (err instanceof Deno.errors.BrokenPipe) return "output";
        throw err;
      }
    }
    ended = "server";
  } catch (err) {
    if (!(signal.aborted && isClosedError(err))) throw toNetworkError(err, "read", "the connection");
  }
  if (uploadError !== undefined && !isClosedError(uploadError) && !signal.aborted) {
    throw toNetworkError(uploadError, "write", "the connection");
  }
  return ended;
}

/**
 * Interactive mode: what is typed goes to the server, what arrives is printed a whole line at a time. On a
 * terminal, a line editor keeps the line being typed below the lines that arrive; otherwise stdin is sent
 * as it comes and received lines are written untouched. Ends when the server closes the connection.
 */
async function interactive(
  conn: Connection,
  stdin: ByteReader,
  stdout: ByteWriter,
  terminal: Terminal | undefined,
  signal: AbortSignal,
  emit: EventSink<ClientEvent>,
): Promise<Counts> {
  const counts = { sent: 0, received: 0, lost: 0, bytesSent: 0, bytesReceived: 0 };
  const editor = terminal ? new LineEditor() : undefined;
  const encoder = new TextEncoder();
  let screen = Promise.resolve();
  const show = (data: Uint8Array) => (screen = screen.then(() => writeAll(stdout, data)));
  const lines = new WholeLines();
  const print = (data: Uint8Array) =>
    data.length === 0
      ? screen
      : show(editor ? encoder.encode(editor.showAbove(textForTerminal(data))) : data);

  const upload = async (send: (data: Uint8Array) => Promise<void>) => {
    const buf = new Uint8Array(4096);
    for (let n = await stdin.read(buf); n !== null; n = await stdin.read(buf)) {
      if (!editor) {
        await send(buf.subarray(0, n));
        continue;
      }
      const typed = editor.feed(buf.subarray(0, n));
      await show(encoder.encode(typed.echo));
      for (const line of typed.send) await send(line);
      if (typed.eof) return;
    }
  };

  terminal?.setRaw(true);
  try {
    const serverClosed = await relay(conn, signal, counts, upload, (chunk) => print(lines.push(chunk))) ===
      "server";
    await print(lines.rest());
    if (serverClosed) emit({ type: "eof", sent: counts.bytesSent, received: counts.bytesReceived });
  } finally {
    if (editor) await show(encoder.encode("\r\x1b[K")).catch(() => {});
    terminal?.setRaw(false);
  }
  return counts;
}
