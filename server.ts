/**
 * `sockkit server`: bind, listen, accept, then serve every client at once with a mode (echo by default).
 * @module
 */
import type { Cidr } from "./lib/cidr.ts";
import type { EventSink, ServerEvent, ServerSummary } from "./lib/events.ts";
import { networkReason, UsageError } from "./lib/errors.ts";
import type { Hub } from "./lib/hub/hub.ts";
import type { HubSettings } from "./lib/hub/url.ts";
import { plural } from "./lib/format.ts";
import { DEFAULT_MAX_LINE } from "./lib/framing.ts";
import { accessRefusal, idleReason, IdleTimer, notReadingReason } from "./lib/guards.ts";
import { type ByteWriter, closeQuietly, isClosedError, sleep, writeAll } from "./lib/io.ts";
import { acceptLoop } from "./lib/accept.ts";
import { type Message, type ModeName, MODES, type Session } from "./lib/modes/mod.ts";
import { DEFAULT_MAX_QUEUE } from "./lib/queue.ts";
import {
  type Endpoint,
  endpointZone,
  listen,
  listenerAddress,
  peerLabel,
  transportNote,
} from "./lib/transport.ts";
import { runUdpServer, type UdpSettings } from "./lib/udp.ts";
import { EventLoopTurns, READS_PER_TURN } from "./lib/turns.ts";
import { WireTap } from "./lib/wire.ts";
import { isWsConn } from "./lib/ws/conn.ts";

/** What `runServer` needs; main.ts fills in the defaults. */
export interface ServerOptions {
  /** Where to bind and over which transport: TCP, TLS, a Unix socket or UDP; port 0 picks a free port. */
  endpoint: Endpoint;
  /** What to do with each client (default `echo`). */
  mode?: ModeName;
  /** How long shutdown waits for in-flight work before closing what is left (default 2000 ms). */
  graceMs?: number;
  /** Line modes (chat): the longest line accepted, in bytes (default 64 KiB). */
  maxLine?: number;
  /** Fan-out modes: bytes that may wait for one client before it is disconnected (default 1 MiB). */
  maxQueue?: number;
  /** Clients served at once; one more is told "server full" and closed (default: no limit). */
  maxConns?: number;
  /**
   * Clients that send nothing for this long are closed (default: never). Over UDP, where nothing closes, a
   * peer silent this long is reported gone (default 30 s).
   */
  idleTimeoutMs?: number;
  /** Only peers in these networks may connect (default: everyone). */
  allow?: readonly Cidr[];
  /** Peers in these networks are refused, even when allowed (default: none). */
  deny?: readonly Cidr[];
  /** Report every socket call (`--trace`). */
  trace?: boolean;
  /** Report the bytes received and sent as hex dumps (`--hex`). */
  hex?: boolean;
  /** UDP: reply rate limit and largest datagram. */
  udp?: UdpSettings;
  /** Chat and broadcast: share the room with the other instances on this Redis (`--hub`, `--room`). */
  hub?: HubSettings;
}

/** How the server is driven: stopped by `signal`, observed through `onEvent`. */
export interface RunServerContext {
  signal?: AbortSignal;
  onEvent?: EventSink<ServerEvent>;
}

/** The longest a connection whose mode has ended lingers to drain what the peer still sends. */
const LINGER_MAX_MS = 2000;
/** Where bytes that arrive after the goodbye go: they are read only so that closing does not reset the peer. */
const DISCARD = new Uint8Array(16 * 1024);

class Client implements Session {
  messages = 0;
  bytes = 0;
  stopping = false;
  // Guard rails and fan-out modes: why the server closed it, its idle timer, a mode's shutdown hook.
  closeReason?: string;
  idle?: IdleTimer;
  onStop?: () => void;
  /** Why a write failed (a reset, a broken pipe), also when the mode handled the error itself (a queue). */
  writeFailure?: string;
  #reading = false;
  #writing = 0;
  #sawEnd = false;
  #goodbyeWanted = false;
  #halfClosed?: Promise<void>;
  #closed = false;
  readonly startedAt = performance.now();

  /** WebSocket: whole messages (see Session); absent over TCP, TLS and Unix sockets. */
  readMessage?: () => Promise<Message | null>;
  writeMessage?: (message: Message) => Promise<void>;

  constructor(
    readonly conn: Deno.Conn,
    readonly id: number,
    readonly peer: string,
    private readonly onMessage: (client: Client, bytes: number) => void,
    private readonly turns: EventLoopTurns,
  ) {
    if (isWsConn(conn)) {
      this.readMessage = async () => {
        if (this.stopping) return null;
        this.#reading = true;
        let message: Message | null;
        try {
          message = await conn.receive();
        } finally {
          this.#reading = false;
        }
        if (message === null) this.#sawEnd = true;
        if (message === null || this.stopping) return null;
        this.messages++;
        this.bytes += message.data.length;
        this.onMessage(this, message.data.length);
        return message;
      };
      this.writeMessage = (message) =>
        this.#send(() => conn.send(message).then(() => void (this.lastWriteAt = performance.now())));
    }
  }

  // Hot path (read → count → mode → write). Kept lean: an idle client waits in read() with no async frame of
  // its own, and a busy one completes at most READS_PER_TURN reads before the event loop turns (lib/turns.ts).
  #readsInRow = 0;

  /** Data that arrives once the server is stopping is drained, not served: the mode sees the end of stream. */
  read(buf: Uint8Array): Promise<number | null> {
    if (this.stopping) return Promise.resolve(null);
    this.#reading = true;
    if (++this.#readsInRow < READS_PER_TURN) return this.#read(buf);
    this.#readsInRow = 0;
    return this.turns.next().then(() => this.#read(buf));
  }

  #read(buf: Uint8Array): Promise<number | null> {
    return this.conn.read(buf).then(this.#afterRead, this.#afterFailedRead);
  }

  readonly #afterRead = (n: number | null): number | null => {
    this.#reading = false;
    if (n === null) this.#sawEnd = true;
    if (n === null || this.stopping) return null;
    this.messages++;
    this.bytes += n;
    this.onMessage(this, n);
    return n;
  };

  readonly #afterFailedRead = (err: unknown): never => {
    this.#reading = false;
    throw err;
  };

  /** When a write last made progress (`performance.now()`), kept only with an idle timer. */
  lastWriteAt = 0;
  /** The connection as written to: with an idle timer, it records each write's progress. */
  readonly #writer: ByteWriter = {
    write: (p) =>
      this.conn.write(p).then((n) => {
        this.lastWriteAt = performance.now();
        return n;
      }),
  };

  /** True while a write waits for the peer to make room (it is not reading what it is sent). */
  get writing(): boolean {
    return this.#writing > 0;
  }

  write(data: Uint8Array): Promise<void> {
    return this.#send(() => writeAll(this.idle ? this.#writer : this.conn, data));
  }

  async #send(op: () => Promise<void>): Promise<void> {
    if (this.#halfClosed) throw new Deno.errors.BadResource("the server is closing this connection");
    this.#writing++;
    try {
      await op();
    } catch (err) {
      if (!isClosedError(err)) this.writeFailure ??= networkReason(err);
      throw err;
    } finally {
      this.#writing--;
      if (this.#goodbyeWanted) this.#goodbye();
    }
  }

  /** Asks the mode to finish: a mode with output of its own flushes it; others are told goodbye at once. */
  stop(): void {
    this.stopping = true;
    if (this.onStop) this.onStop();
    else this.#goodbye();
  }

  /** Closes the connection now; while the server is stopping, after a goodbye (see `#goodbye`). */
  close(reason?: string): void {
    if (this.#closed) return;
    this.closeReason ??= reason;
    if (this.stopping) this.#goodbye();
    else this.closeNow();
  }

  /**
   * Half-closes while the mode waits in read() and no write is under way, so the peer reads everything sent
   * and then a clean end of stream (data the mode already read must still be written: otherwise the goodbye
   * waits for the mode's next read or its end). The socket itself is closed when the peer closes its side,
   * or at the end of the grace period.
   */
  #goodbye(): void {
    this.#goodbyeWanted = true;
    if (!this.#reading || this.#writing > 0 || this.#halfClosed || this.#closed) return;
    void this.#halfClose();
  }

  #halfClose(): Promise<void> {
    // a WebSocket says goodbye with a close frame: 1001 going away while the server shuts down
    const ws = isWsConn(this.conn) ? this.conn : undefined;
    this.#halfClosed ??=
      (ws && this.stopping ? Promise.resolve(ws.closeFor("server shutting down")) : this.conn.closeWrite())
        .catch(() => {});
    return this.#halfClosed;
  }

  /**
   * Ends the connection. When the mode ended before the peer did, half-closes first and drains what the peer
   * still sends until it closes, within LINGER_MAX_MS (at shutdown: within the grace period). Closing
   * earlier would reset the connection as soon as the peer sends again, and the reset destroys what the
   * peer has not received yet.
   */
  async finish(failed: boolean): Promise<void> {
    if (!failed && !this.#sawEnd && !this.#closed) {
      await this.#halfClose();
      await this.#drain();
    }
    this.closeNow();
  }

  async #drain(): Promise<void> {
    const giveUp = this.stopping ? undefined : setTimeout(() => this.closeNow(), LINGER_MAX_MS);
    try {
      while (!this.#closed && await this.conn.read(DISCARD) !== null);
    } catch {
      // reset by the peer, or closed by the timer or at the end of the grace period: nothing left to deliver
    } finally {
      clearTimeout(giveUp);
    }
  }

  /** Closes the socket at once, whatever is in flight. */
  closeNow(): void {
    if (this.#closed) return;
    this.#closed = true;
    // a WebSocket is told why, with a close code (lib/ws/close.ts)
    if (isWsConn(this.conn)) this.conn.closeFor(this.closeReason);
    else closeQuietly(this.conn);
  }
}

/**
 * Runs a server until `signal` aborts, then stops accepting, lets each client finish what it is writing
 * (up to `graceMs`), closes them all and resolves to a summary.
 *
 * @example
 * ```ts
 * const ac = new AbortController();
 * const done = runServer({ endpoint: { transport: "tcp", hostname: "127.0.0.1", port: 0 } }, {
 *   signal: ac.signal,
 *   onEvent: (e) => console.log(e),
 * });
 * ac.abort();
 * const summary = await done; // { clients: 0, messages: 0, … }
 * ```
 */
export async function runServer(opts: ServerOptions, ctx: RunServerContext = {}): Promise<ServerSummary> {
  if (opts.endpoint.transport === "udp") return await runUdpServer({ ...opts, endpoint: opts.endpoint }, ctx);
  const emit = ctx.onEvent ?? (() => {});
  const signal = ctx.signal ?? new AbortController().signal;
  const modeName = opts.mode ?? "echo";
  const hub = opts.hub ? await connectHub(opts.hub, modeName, emit) : undefined;
  const mode = MODES[modeName]({
    maxLine: opts.maxLine ?? DEFAULT_MAX_LINE,
    maxQueue: opts.maxQueue ?? DEFAULT_MAX_QUEUE,
    emit,
    hub,
  });
  const startedAt = performance.now();
  const tap = new WireTap(opts, emit, startedAt);

  // bind + listen (a WebSocket listener asks the guard rails before each upgrade: refusalOf, below)
  const admission = {
    check: (addr: Deno.Addr) => {
      const refusal = refusalOf(addr);
      return refusal && { ...refusal, status: refusal.notice ? 503 : 403, notice: refusal.notice?.trim() };
    },
    refused: (addr: Deno.Addr, reason: string) => {
      totals.refused++;
      emit({
        type: "refused",
        peer: peerLabel(addr, totals.clients + 1, endpointZone(opts.endpoint)),
        reason,
      });
    },
  };
  const listener = await listen(opts.endpoint, emit, admission).catch(async (err) => {
    await hub?.close();
    throw err;
  });
  const address = listenerAddress(listener, opts.endpoint);
  tap.trace("bind", { address });
  tap.trace("listen", { address });
  emit({ type: "listening", address, mode: modeName, transport: transportNote(opts.endpoint) });

  const clients = new Set<Client>();
  const turns = new EventLoopTurns();
  const running = new Set<Promise<void>>();
  const totals = { clients: 0, messages: 0, bytes: 0, refused: 0 };
  const onMessage = (c: Client, bytes: number) => {
    c.idle?.touch();
    totals.messages++;
    totals.bytes += bytes;
    emit({ type: "message", id: c.id, peer: c.peer, count: c.messages, bytes });
  };

  const serve = async (client: Client) => {
    let reason: string | undefined;
    let failed = false;
    try {
      await mode(client);
    } catch (err) {
      failed = true;
      if (!(isClosedError(err) && client.stopping)) reason = networkReason(err);
    } finally {
      client.idle?.stop();
      await client.finish(failed);
      clients.delete(client);
      emit({
        type: "disconnect",
        id: client.id,
        peer: client.peer,
        messages: client.messages,
        bytes: client.bytes,
        durationMs: performance.now() - client.startedAt,
        active: clients.size,
        reason: client.closeReason ?? reason ?? client.writeFailure ??
          (client.stopping ? "server shutting down" : undefined),
      });
    }
  };

  const stopAccepting = () => closeQuietly(listener);
  signal.addEventListener("abort", stopAccepting, { once: true });
  if (signal.aborted) stopAccepting();

  /** Why the guard rails turn a new connection away (and the line it is sent first), or undefined. */
  const refusalOf = (addr: Deno.Addr): { reason: string; notice?: string } | undefined => {
    const denied = accessRefusal(addr, opts);
    if (denied) return { reason: denied };
    if (opts.maxConns !== undefined && clients.size >= opts.maxConns) {
      const limit = plural(opts.maxConns, "client");
      return {
        reason: `server full (${limit}, --max-conns)`,
        notice: `server full (${limit}), try again later\n`,
      };
    }
  };

  /** Closes a connection the guard rails turned away, after its one-line notice when there is one. */
  const refuse = (conn: Deno.Conn, peer: string, { reason, notice }: { reason: string; notice?: string }) => {
    totals.refused++;
    emit({ type: "refused", peer, reason });
    if (isWsConn(conn)) return conn.closeFor(reason);
    if (notice === undefined) return closeQuietly(conn);
    const task = writeAll(conn, new TextEncoder().encode(notice)).catch(() => {}).finally(() => {
      closeQuietly(conn);
      running.delete(task);
    });
    running.add(task);
  };

  // accept, one task per client
  await acceptLoop(listener, signal, emit, (accepted) => {
    const peer = peerLabel(accepted.remoteAddr, totals.clients + 1, endpointZone(opts.endpoint));
    const conn = tap.wrap(accepted, peer);
    tap.trace("accept", { address, peer });
    const refusal = refusalOf(accepted.remoteAddr);
    if (refusal) return refuse(conn, peer, refusal);
    const client = new Client(conn, ++totals.clients, peer, onMessage, turns);
    const idleMs = opts.idleTimeoutMs;
    if (idleMs) {
      client.idle = new IdleTimer(idleMs, () => {
        // Blocked writing, the server reads nothing: a client that reads its echo, however slowly, is active
        // (and in echo mode, what is written is its own echo: that counts until it is all sent).
        const writtenLately = performance.now() - client.lastWriteAt < idleMs;
        if (writtenLately && (client.writing || modeName === "echo")) return "active";
        client.close(client.writing ? notReadingReason(idleMs) : idleReason(idleMs));
      });
    }
    clients.add(client);
    emit({ type: "connect", id: client.id, peer: client.peer, active: clients.size });
    const task = serve(client).finally(() => running.delete(task));
    running.add(task);
  });
  signal.removeEventListener("abort", stopAccepting);

  // shutdown: idle clients close now, busy ones get the grace period
  emit({ type: "stopping", active: clients.size });
  for (const client of clients) client.stop();
  const grace = new AbortController();
  const allDone = Promise.all(running).then(() => grace.abort());
  await sleep(opts.graceMs ?? 2000, grace.signal);
  for (const client of clients) client.closeNow();
  await allDone;
  turns.close();
  await hub?.close();

  const summary: ServerSummary = { address, ...totals, uptimeMs: performance.now() - startedAt };
  emit({ type: "summary", ...summary });
  return summary;
}

/** Connects the room to the other instances over Redis (the client is loaded only when --hub is given). */
async function connectHub(settings: HubSettings, mode: ModeName, emit: EventSink<ServerEvent>): Promise<Hub> {
  if (mode !== "chat" && mode !== "broadcast") {
    throw new UsageError(`--hub shares a chat or broadcast room: add --mode chat or --mode broadcast`);
  }
  const { connectRedisHub } = await import("./lib/hub/redis.ts");
  return await connectRedisHub({ settings, mode, emit });
}
