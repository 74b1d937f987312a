/**
 * `sockkit server`: bind, listen, accept, then serve every client at once with a mode (echo by default).
 * @module
 */
import type { Cidr } from "../endpoints/cidr.ts";
import type { EventSink, ServerEvent, ServerSummary } from "../report/events.ts";
import { networkReason, UsageError } from "../core/errors.ts";
import type { Hub } from "../hub/hub.ts";
import type { HubSettings } from "../hub/url.ts";
import { plural } from "../core/format.ts";
import { DEFAULT_MAX_LINE } from "../core/framing.ts";
import { accessRefusal, idleReason, IdleTimer, notReadingReason } from "../server/guards.ts";
import {
  type ByteWriter,
  closeQuietly,
  closeWithReason,
  closeWriteWithReason,
  isClosedError,
  sleep,
  writeAll,
} from "../core/io.ts";
import { acceptLoop } from "../server/accept.ts";
import {
  type ConnectionTransport,
  type RefusalKind,
  ServerCounters,
  summaryOf,
  SummedCounters,
} from "../metrics/counters.ts";
import { SharedSlots } from "../loops/slots.ts";
import { type HttpAddress, type HttpListener, startHttpListeners } from "../web/http.ts";
import type { WebRoom } from "../web/routes.ts";
import {
  hasRoom,
  type Message,
  type ModeName,
  MODES,
  modesOver,
  ROOM_MODES_TEXT,
  type Session,
} from "../modes/mod.ts";
import { hubFor } from "../hub/mod.ts";
import { DEFAULT_MAX_QUEUE } from "../server/queue.ts";
import {
  type Connection,
  type Endpoint,
  endpointZone,
  type IoCore,
  listen,
  type Listener,
  listenerAddress,
  peerLabel,
  transportNote,
} from "../transports/dispatch.ts";
import type { UdpSettings } from "../transports/types.ts";
import { transportOf } from "../transports/mod.ts";
import { EventLoopTurns, READS_PER_TURN } from "../server/turns.ts";
import { WireTap } from "../server/wire.ts";
import { TraceFeed } from "../web/traces.ts";

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
  /** TCP: which API moves the bytes (`--io`, default `deno`). */
  io?: IoCore;
  /** Report every socket call (`--trace`). */
  trace?: boolean;
  /** With `trace`: name the line of sockkit that made each call (`--trace=columns`). */
  sites?: boolean;
  /** With `trace`: time the calls from this `performance.now()` (`sockkit demo`: one clock for both sides). */
  traceClock?: number;
  /** Report the bytes received and sent as hex dumps (`--hex`). */
  hex?: boolean;
  /** UDP: reply rate limit and largest datagram. */
  udp?: UdpSettings;
  /** Chat and broadcast: share the room with the other instances on this Redis (`--hub`, `--room`). */
  hub?: HubSettings;
  /** Serve Prometheus metrics at `http://HOST:PORT/metrics` (`--metrics`). */
  metrics?: HttpAddress;
  /** Chat and broadcast: serve the chat page, its WebSocket and `/metrics` here (`--web`). */
  web?: HttpAddress;
}

/** How the server is driven: stopped by `signal`, observed through `onEvent`. */
export interface RunServerContext {
  signal?: AbortSignal;
  onEvent?: EventSink<ServerEvent>;
  /** This run is one event loop of a server on several (lib/server/loops.ts), and what it shares with them. */
  loop?: ServerLoopShare;
}

/**
 * What one event loop of a server shares with the others: it binds the listen address with SO_REUSEPORT
 * beside them, numbers and counts its clients in shared cells (so `--max-conns` and `online` are the whole
 * server's), writes its counters in its row of shared ones (so `/metrics` adds every loop up), and its room
 * meets theirs through `hub`.
 */
export interface ServerLoopShare {
  /** This loop's number from 0. */
  index: number;
  /** How many loops serve. */
  loops: number;
  /** Client ids and clients open (`SharedSlots`). */
  slots: Int32Array;
  /** Every loop's counters (`ServerCounters.shared`). */
  counters: Float64Array;
  /** Where this loop's room meets the others' (lib/hub/loops.ts). */
  hub: Hub;
  /** When the server started, in milliseconds since the epoch (traces are timed from it). */
  startedAt: number;
  /** The first loop's, with --web and --trace: the /trace page's feed, which every loop's calls reach. */
  traces?: TraceFeed;
}

/** The longest a loop waits at shutdown for what the other loops' rooms said before (lib/hub/loops.ts). */
const SETTLE_MAX_MS = 1000;
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
  /** Closed while a write waits on a peer that does not read: the mode sees the end at its next read. */
  #ending = false;
  #lingerTimer?: ReturnType<typeof setTimeout>;
  #draining?: Promise<void>;
  readonly startedAt = performance.now();
  /** Its task: settles once it has been served and reported gone. */
  done?: Promise<void>;

  constructor(
    readonly conn: Connection,
    readonly id: number,
    readonly peer: string,
    readonly transport: ConnectionTransport,
    private readonly onMessage: (client: Client, bytes: number) => void,
    private readonly turns: EventLoopTurns,
    private readonly counters: ServerCounters,
    private readonly canHalfClose = true,
  ) {
    // A message transport (UDP, WebSocket): modes read and write whole messages (see Session).
    if (conn.readMessage && conn.writeMessage) {
      const writeMessage = conn.writeMessage.bind(conn);
      this.readMessage = () => this.#readMessage();
      this.writeMessage = (message) =>
        this.#send(() =>
          writeMessage(message).then(() => {
            this.lastWriteAt = performance.now();
            this.counters.sentBytes += message.data.length;
          })
        );
    }
  }

  /** Message transports: the next whole message, counted as one (see Session). */
  readMessage?: () => Promise<Message | null>;
  /** Message transports: sends one whole message (see Session). */
  writeMessage?: (message: Message) => Promise<void>;

  #readMessage(): Promise<Message | null> {
    if (this.stopping || this.#ending) return Promise.resolve(null);
    this.#reading = true;
    return this.conn.readMessage!().then((message) => {
      const n = this.#afterRead(message === null ? null : message.data.length);
      return typeof n === "number" ? message : n;
    }, this.#afterFailedRead);
  }

  // Hot path (read → count → mode → write). Kept lean: an idle client waits in read() with no async frame of
  // its own, and a busy one completes at most READS_PER_TURN reads before the event loop turns (lib/server/turns.ts).
  #readsInRow = 0;

  /** Data that arrives once the server is stopping is drained, not served: the mode sees the end of stream. */
  read(buf: Uint8Array): Promise<number | null> {
    if (this.stopping || this.#ending) return Promise.resolve(null);
    this.#reading = true;
    if (++this.#readsInRow < READS_PER_TURN) return this.#read(buf);
    this.#readsInRow = 0;
    return this.turns.next().then(() => this.#read(buf));
  }

  #read(buf: Uint8Array): Promise<number | null> {
    return this.conn.read(buf).then(this.#afterRead, this.#afterFailedRead);
  }

  readonly #afterRead = (n: number | null): number | null | Promise<null> => {
    this.#reading = false;
    if (n === null) this.#sawEnd = true;
    if (n === null || this.stopping || this.#ending) return null;
    if (this.#quiet) return this.#held();
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
  /** The connection as written to with an idle timer: it records each write's progress (made when needed). */
  #progressWriter?: ByteWriter;

  get #writer(): ByteWriter {
    return this.#progressWriter ??= {
      write: (p) =>
        this.conn.write(p).then((n) => {
          this.lastWriteAt = performance.now();
          return n;
        }),
    };
  }

  /** True while a write waits for the peer to make room (it is not reading what it is sent). */
  get writing(): boolean {
    return this.#writing > 0;
  }

  write(data: Uint8Array): Promise<void> {
    return this.#send(() =>
      writeAll(this.idle ? this.#writer : this.conn, data).then(() => {
        this.counters.sentBytes += data.length;
      })
    );
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

  #quiet = false;
  #stopped?: PromiseWithResolvers<void>;

  /** What a read that completes while the server is quiet returns: the end of stream, once it stops. */
  #held(): Promise<null> {
    this.#reading = true;
    this.#stopped ??= Promise.withResolvers<void>();
    return this.#stopped.promise.then(() => {
      this.#reading = false;
      return null;
    });
  }

  /**
   * The first step of shutting down a server on several loops: what the client sends from now on is not
   * served (as once it is stopping), but the mode goes on and its room still delivers what the other loops
   * said before, until `stop()`.
   */
  quiet(): void {
    this.#quiet = true;
  }

  /** Asks the mode to finish: a mode with output of its own flushes it; others are told goodbye at once. */
  stop(): void {
    this.stopping = true;
    this.#stopped?.resolve();
    if (this.onStop) this.onStop();
    else this.#goodbye();
  }

  /**
   * Closes the connection now; while the server is stopping, after a goodbye (see `#goodbye`). A peer its
   * idle timer closes while a write waits on it (it does not read) is not reset: what it sends is drained,
   * the mode ends at its next read, and the write under way may finish within LINGER_MAX_MS, so once the
   * peer reads again it gets everything written and then a clean end of stream.
   */
  close(reason?: string): void {
    if (this.#closed) return;
    this.closeReason ??= reason;
    if (this.stopping) this.#goodbye();
    else if (this.#writing > 0 && this.idle?.expired && this.canHalfClose) this.#leaveUnread();
    else this.closeNow();
  }

  #leaveUnread(): void {
    if (this.#ending) return;
    this.#ending = true;
    this.#lingerTimer = setTimeout(() => this.closeNow(), LINGER_MAX_MS);
    // Unread bytes left in the socket would turn the close into a reset: read them away meanwhile (a mode
    // waiting in read() gets them first, then its end of stream).
    if (!this.#reading) void this.#drain();
    this.#goodbye();
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
    // a goodbye at shutdown says why when the connection can (a WebSocket close frame: 1001 going away)
    this.#halfClosed ??= closeWriteWithReason(this.conn, this.stopping ? "server shutting down" : undefined)
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
    if (!failed && !this.#sawEnd && !this.#closed && this.canHalfClose) {
      await this.#halfClose();
      await this.#drain();
    }
    this.closeNow();
  }

  #drain(): Promise<void> {
    return this.#draining ??= this.#drainOnce();
  }

  async #drainOnce(): Promise<void> {
    const giveUp = this.stopping ? undefined : setTimeout(() => this.closeNow(), LINGER_MAX_MS);
    try {
      while (!this.#closed && await this.conn.read(DISCARD) !== null);
    } catch {
      // reset by the peer, or closed by the timer or at the end of the grace period: nothing left to deliver
    } finally {
      clearTimeout(giveUp);
    }
  }

  /** Closes the socket at once, whatever is in flight (a WebSocket is told why, when the server knows). */
  closeNow(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#lingerTimer);
    closeWithReason(this.conn, this.closeReason ?? (this.stopping ? "server shutting down" : undefined));
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
  const emit = ctx.onEvent ?? (() => {});
  const signal = ctx.signal ?? new AbortController().signal;
  const modeName = checkServerOptions(opts);
  const { peersExpire, halfClose } = transportOf(opts.endpoint).capabilities;
  const loop = ctx.loop;
  const hub = loop ? loop.hub : opts.hub ? await connectHub(opts.hub, modeName, emit) : undefined;
  const counters = new ServerCounters(loop ? ServerCounters.rowOf(loop.counters, loop.index) : undefined);
  // what /metrics and the web page report: the whole server, every loop added up
  const readings = loop ? new SummedCounters(loop.counters, loop.loops) : counters;
  // client numbers, and the clients open now (for --max-conns and "online"), over every loop
  const slots = new SharedSlots(loop?.slots);
  const maxLine = opts.maxLine ?? DEFAULT_MAX_LINE;
  const mode = MODES[modeName].factory({
    maxLine,
    maxQueue: opts.maxQueue ?? DEFAULT_MAX_QUEUE,
    emit,
    hub,
    counters,
  });
  const startedAt = loop ? loop.startedAt - performance.timeOrigin : performance.now();
  // with --web, the /trace page draws the calls --trace reports
  const traces = opts.web && opts.trace ? (loop?.traces ?? new TraceFeed()) : undefined;
  const wire: EventSink<ServerEvent> = traces
    ? (e) => {
      emit(e);
      if (e.type === "trace") traces.publish(e);
    }
    : emit;
  const tap = new WireTap(opts, wire, startedAt);

  // bind + listen (a WebSocket listener asks the guard rails before each upgrade: refusalOf, below)
  const admission = {
    check: (addr: Deno.Addr) => {
      const refusal = refusalOf(addr);
      return refusal && { ...refusal, status: refusal.notice ? 503 : 403, notice: refusal.notice?.trim() };
    },
    refused: (addr: Deno.Addr, reason: string) => {
      counters.refused[refusalOf(addr)?.kind ?? "deny"]++; // else a page from another origin: also a policy
      report({
        type: "refused",
        peer: peerLabel(addr, slots.issued + 1, endpointZone(opts.endpoint)),
        reason,
      });
    },
  };
  const settings = {
    io: opts.io,
    idleTimeoutMs: opts.idleTimeoutMs,
    udp: opts.udp,
    counters,
    admission,
    reusePort: loop !== undefined,
    tap,
  };
  const addressOf = (l: Listener) => listenerAddress(l, opts.endpoint);
  const listener = await tap.listening(listen(opts.endpoint, emit, settings), addressOf).catch(
    async (err) => {
      await hub?.close();
      throw err;
    },
  );
  // The lines about clients coming and going, as the transport wants them (UDP limits them: a spoofer's flood).
  const report = listener.reporter?.(emit) ?? emit;
  const address = listenerAddress(listener, opts.endpoint);
  const transport: ConnectionTransport = opts.endpoint.transport;
  // the browsers' door into the room (--web): admitted as the listener's clients are, below
  const webRoom: WebRoom & { localAddr: Deno.NetAddr } = {
    mode: modeName === "broadcast" ? "broadcast" : "chat",
    rules: opts,
    get stopping() {
      return signal.aborted;
    },
    localAddr: { transport: "tcp", hostname: "0.0.0.0", port: 0 },
    maxInbox: Math.max(2 * maxLine, 1024 * 1024),
    refuse: (peer, kind, reason) => {
      counters.refused[kind]++;
      emit({ type: "refused", peer, reason });
    },
    admit: (conn) => admit(conn, "ws", `${peerLabel(conn.remoteAddr, 0)} (web)`),
    traces,
  };
  let http: { web?: HttpListener; metrics?: HttpListener };
  try {
    http = await startHttpListeners(opts, readings, webRoom, emit);
  } catch (err) {
    closeQuietly(listener);
    await hub?.close();
    throw err;
  }
  emit({ type: "listening", address, mode: modeName, transport: transportNote(opts.endpoint) });
  if (http.web) {
    webRoom.localAddr = http.web.addr;
    emit({ type: "http", serves: "web", url: `${http.web.url}/` });
  }
  if (http.metrics) emit({ type: "http", serves: "metrics", url: `${http.metrics.url}/metrics` });

  const clients = new Set<Client>();
  const turns = new EventLoopTurns();
  // Refused connections still being told why (each client's own task is `client.done`).
  const running = new Set<Promise<void>>();
  const onMessage = (c: Client, bytes: number) => {
    c.idle?.touch();
    counters.messagesReceived++;
    counters.receivedBytes += bytes;
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
      const active = slots.release();
      counters.disconnected(client.transport);
      report({
        type: "disconnect",
        id: client.id,
        peer: client.peer,
        messages: client.messages,
        bytes: client.bytes,
        durationMs: performance.now() - client.startedAt,
        active,
        reason: client.closeReason ?? reason ?? client.writeFailure ?? client.conn.endReason ??
          (client.stopping ? "server shutting down" : undefined),
      });
    }
  };

  const stopAccepting = () => closeQuietly(listener);
  signal.addEventListener("abort", stopAccepting, { once: true });
  if (signal.aborted) stopAccepting();

  /** Why the guard rails turn a new connection away (and the line it is sent first), or undefined. */
  const refusalOf = (addr: Deno.Addr): Refusal | undefined => {
    const denied = accessRefusal(addr, opts);
    if (denied) return { kind: "deny", reason: denied };
    if (opts.maxConns !== undefined && slots.active >= opts.maxConns) return full(opts.maxConns);
  };

  /** Closes a connection the guard rails turned away, after its one-line notice when there is one. */
  const refuse = (conn: Connection, peer: string, { kind, reason, notice }: Refusal) => {
    counters.refused[kind]++;
    report({ type: "refused", peer, reason });
    if (notice === undefined) return closeWithReason(conn, reason);
    const task = writeAll(conn, new TextEncoder().encode(notice)).catch(() => {}).finally(() => {
      closeWithReason(conn, reason);
      running.delete(task);
    });
    running.add(task);
  };

  /** Serves one connection (accepted here, or a WebSocket from --web) as a client, guard rails first. */
  const admit = (accepted: Connection, via: ConnectionTransport, label?: string) => {
    const peer = label ?? peerLabel(accepted.remoteAddr, slots.issued + 1, endpointZone(opts.endpoint));
    // UDP's calls (sendto, recvfrom) are its one socket's, traced by its listener: no accept, no connection
    const datagrams = via === "udp";
    const conn = datagrams ? accepted : tap.wrap(accepted, peer);
    if (!datagrams) tap.accepted(accepted, { address, peer });
    const denied = accessRefusal(accepted.remoteAddr, opts);
    if (denied) return refuse(conn, peer, { kind: "deny", reason: denied });
    // a slot for the whole server, taken at once: two loops cannot both let in the last client
    const active = slots.take(opts.maxConns);
    if (!active) return refuse(conn, peer, full(opts.maxConns!));
    counters.connected(via);
    // What the listener's transport declares; a browser's WebSocket (--web) is a stream that can say goodbye.
    const own = via === transport;
    const client = new Client(
      conn,
      slots.nextId(),
      peer,
      via,
      onMessage,
      turns,
      counters,
      own ? halfClose : true,
    );
    // A transport whose peers never close times silent ones out itself (the listener got --idle-timeout).
    const idleMs = own && peersExpire ? undefined : opts.idleTimeoutMs;
    if (idleMs) {
      client.idle = new IdleTimer(idleMs, () => {
        // Blocked writing, the server reads nothing: a client that reads its echo, however slowly, is active
        // (and in echo mode, what is written is its own echo: that counts until it is all sent).
        const writtenLately = performance.now() - client.lastWriteAt < idleMs;
        if (writtenLately && (client.writing || modeName === "echo")) return "active";
        counters.refused[client.writing ? "too-slow" : "idle"]++;
        client.close(client.writing ? notReadingReason(idleMs) : idleReason(idleMs));
      });
    }
    clients.add(client);
    report({ type: "connect", id: client.id, peer: client.peer, active });
    client.done = serve(client);
  };

  // accept, one task per client
  await acceptLoop(tap.listener(listener), signal, emit, (accepted) => admit(accepted, transport));
  signal.removeEventListener("abort", stopAccepting);

  // shutdown: idle clients close now, busy ones get the grace period
  emit({ type: "stopping", active: clients.size });
  if (loop?.hub.settle) {
    // on several loops: nothing new is served, and what the others said before reaches this loop's room
    for (const client of clients) client.quiet();
    await loop.hub.settle(SETTLE_MAX_MS);
  }
  for (const client of clients) client.stop();
  const grace = new AbortController();
  const allDone = Promise.all([...running, ...[...clients].map((c) => c.done)]).then(() => grace.abort());
  await sleep(opts.graceMs ?? 2000, grace.signal);
  for (const client of clients) client.closeNow();
  await allDone;
  turns.close();
  await Promise.all([http.web?.shutdown(), http.metrics?.shutdown()]);
  await hub?.close();

  const summary: ServerSummary = {
    ...summaryOf(counters, address, performance.now() - startedAt),
    ...listener.finish?.(),
  };
  emit({ type: "summary", ...summary });
  return summary;
}

/** `--max-conns` reached: the refusal, and the line the client is sent. */
function full(maxConns: number): Refusal {
  const limit = plural(maxConns, "client");
  return {
    kind: "max-conns",
    reason: `server full (${limit}, --max-conns)`,
    notice: `server full (${limit}), try again later\n`,
  };
}

/** Why the guard rails turn a connection away, the line it is sent first, and how /metrics counts it. */
interface Refusal {
  kind: RefusalKind;
  reason: string;
  notice?: string;
}

/**
 * Refuses what a server cannot serve (a mode its transport does not carry, `--web` without a room) with a
 * usage error; returns the mode.
 */
export function checkServerOptions(opts: ServerOptions): ModeName {
  const modeName = opts.mode ?? "echo";
  const declared = transportOf(opts.endpoint);
  const modes = modesOver(declared.capabilities);
  if (!modes.includes(modeName)) {
    throw new UsageError(
      `--mode ${modeName} does not work over ${declared.label}: use ${modes.join(" or ")}`,
    );
  }
  if (opts.web && !hasRoom(modeName)) throw webModeError(modeName);
  return modeName;
}

/** `--web` serves a room: any other mode is a usage error. */
function webModeError(mode: string): UsageError {
  return new UsageError(
    `--web serves a chat page, which needs a room: add ${ROOM_MODES_TEXT} (not --mode ${mode})`,
  );
}

/** Connects the room to the other instances over Redis (the client is loaded only when --hub is given). */
export async function connectHub(
  settings: HubSettings,
  mode: ModeName,
  emit: EventSink<ServerEvent>,
): Promise<Hub> {
  if (!hasRoom(mode)) throw new UsageError(`--hub shares a room: add ${ROOM_MODES_TEXT}`);
  return await hubFor(settings).connect({ settings, mode, emit });
}
