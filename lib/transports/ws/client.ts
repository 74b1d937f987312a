/**
 * `sockkit client ws://…`: the client's modes over WebSocket, a message at a time. Once and repeat send the
 * message (text, or binary with `--binary`) and time the reply, the next message that arrives; pipe mode
 * sends each stdin line as one text message (without its line ending; `--binary`: each chunk read as one
 * binary message) and writes each text message that arrives as a line (a binary one as its bytes). At the end
 * of stdin it waits until as many messages came back as it sent (an echo), or until nothing arrived for a
 * second, then closes with 1000 and waits for the server's close. A close by the server with another code
 * than 1000, 1001 or 1005 is an error that names it: `closed by peer: 1008 policy violation (too slow: …)`.
 * @module
 */
import { RepeatSchedule } from "../../client/schedule.ts";
import type { ClientEvent, ClientSummary, EventSink } from "../../report/events.ts";
import { SockkitError, UsageError } from "../../core/errors.ts";
import { escapeBytes } from "../../core/format.ts";
import { type ByteReader, type ByteWriter, sameBytes, sleep, writeAll } from "../../core/io.ts";
import { RttAccumulator } from "../../core/stats.ts";
import type { WsEndpoint } from "../types.ts";
import type { OwnClientContext, OwnClientOptions } from "../transport.ts";
import { CLOSE_GOING_AWAY, CLOSE_NORMAL, describeClose } from "./close.ts";
import { connectWs, wsUrl } from "./connect.ts";
import type { Message, WsConn } from "./conn.ts";

/** What the WebSocket client takes (the WebSocket part of the client's options). */
export type WsClientOptions = OwnClientOptions<WsEndpoint>;

/** How the WebSocket client is driven (as `runClient`). */
export type WsClientContext = OwnClientContext;

const DEFAULT_MESSAGE = new TextEncoder().encode("Hello");
/** At the end of stdin, the longest the client waits for a message before it closes. */
const QUIET_MS = 1000;
const PIPE_BUFFER_SIZE = 64 * 1024;

type Counts = Omit<ClientSummary, "address" | "elapsedMs">;

/** Codes with which a server ends a connection normally (done, shutting down, or no code at all). */
function isNormalClose(code: number): boolean {
  return code === CLOSE_NORMAL || code === CLOSE_GOING_AWAY || code === 1005;
}

/** The error for a connection that ended before it should have (how, in words). */
function endedError(conn: WsConn): SockkitError {
  const c = conn.closed;
  if (!c) return new SockkitError("the connection was closed");
  if (!c.clean) return new SockkitError(`connection lost: ${describeClose(c.code, c.reason)}`);
  return new SockkitError(`${c.byPeer ? "closed by peer" : "closed"}: ${describeClose(c.code, c.reason)}`);
}

/** The next message, or a timeout error; null once the connection is closed. */
async function nextMessage(conn: WsConn, timeoutMs: number, signal: AbortSignal): Promise<Message | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  try {
    return await Promise.race([
      conn.receive(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new SockkitError(`no reply within ${timeoutMs} ms (raise --timeout)`)),
          timeoutMs,
        );
        onAbort = () => reject(new SockkitError("interrupted"));
        signal.addEventListener("abort", onAbort, { once: true });
      }),
    ]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal.removeEventListener("abort", onAbort);
  }
}

/** Closes with 1000 and waits (at most `ms`) for the server's close. */
async function closeAndWait(conn: WsConn, ms: number): Promise<void> {
  conn.close();
  const giveUp = new AbortController();
  await Promise.race([conn.done, sleep(ms, giveUp.signal)]);
  giveUp.abort();
}

/**
 * Runs the client over WebSocket and resolves to a summary; throws a `SockkitError` when it cannot connect,
 * when the server closes with an error code, and in once mode when no reply comes.
 */
export async function runWsClient(opts: WsClientOptions, ctx: WsClientContext = {}): Promise<ClientSummary> {
  if (opts.mode === "interactive") {
    throw new UsageError(
      "--interactive does not work with ws:// yet: use pipe mode (-) to chat a line at a time",
    );
  }
  const emit = ctx.onEvent ?? (() => {});
  const signal = ctx.signal ?? new AbortController().signal;
  const timeoutMs = opts.timeoutMs ?? 5000;
  const address = wsUrl(opts.endpoint);
  const startedAt = performance.now();
  const conn = await connectWs(opts.endpoint, {
    protocols: opts.subprotocol ? [opts.subprotocol] : undefined,
    signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
  });
  const connectMs = performance.now() - startedAt;
  const tls = opts.endpoint.tls;
  const detail = [
    opts.endpoint.secure ? "WebSocket over TLS" : "WebSocket",
    conn.protocol ? `subprotocol ${conn.protocol}` : undefined,
  ].filter(Boolean).join(", ");
  emit({
    type: "connected",
    address,
    remote: address,
    connectMs,
    detail,
    ...(opts.endpoint.secure && tls?.insecure && { verified: false }),
    ...(opts.endpoint.secure && conn.pinned && { pinned: conn.pinned }),
  });
  if (opts.subprotocol && conn.protocol !== opts.subprotocol) {
    conn.close();
    throw new SockkitError(
      `the server at ${address} did not agree to the subprotocol ${opts.subprotocol} (it needs --subprotocol ${opts.subprotocol})`,
    );
  }
  const onAbort = () => conn.close();
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    const result = opts.mode === "pipe"
      ? await pipe(conn, opts, ctx.stdin ?? Deno.stdin, ctx.stdout ?? Deno.stdout, timeoutMs, signal, emit)
      : await exchange(conn, opts, timeoutMs, signal, emit);
    const summary: ClientSummary = { address, ...result, elapsedMs: performance.now() - startedAt };
    emit({ type: "summary", ...summary });
    return summary;
  } finally {
    signal.removeEventListener("abort", onAbort);
    conn.close();
  }
}

/** Once and repeat: send the message, wait for the next message as its reply, and again every interval. */
async function exchange(
  conn: WsConn,
  opts: WsClientOptions,
  timeoutMs: number,
  signal: AbortSignal,
  emit: EventSink<ClientEvent>,
): Promise<Counts> {
  const message = opts.message ?? DEFAULT_MESSAGE;
  const schedule = new RepeatSchedule(opts);
  const { repeat } = schedule;
  const rtt = new RttAccumulator();
  const counts = { sent: 0, received: 0, lost: 0, bytesSent: 0, bytesReceived: 0 };
  let mismatched = 0;
  for (let seq = 1; schedule.wants(seq, signal); seq++) {
    const sentAt = performance.now();
    try {
      await conn.send({ data: message, text: !opts.binary });
      counts.sent++;
      counts.bytesSent += message.length;
      const reply = await nextMessage(conn, timeoutMs, signal);
      if (reply === null) throw endedError(conn);
      const rttMs = performance.now() - sentAt;
      rtt.add(rttMs);
      counts.received++;
      counts.bytesReceived += reply.data.length;
      const differs = !sameBytes(reply.data, message) || reply.text === !!opts.binary;
      if (differs) mismatched++;
      emit({
        type: "reply",
        seq,
        bytes: reply.data.length,
        rttMs,
        text: escapeBytes(reply.data),
        ...(differs && { differs }),
      });
    } catch (err) {
      if (signal.aborted) break;
      const failure = err instanceof SockkitError ? err : endedError(conn);
      if (!repeat) throw failure;
      counts.lost++;
      emit({ type: "lost", seq, reason: failure.message });
      if (conn.closed) {
        return { ...counts, rtt: rtt.stats(), mismatched, error: failure.message };
      }
    }
    await schedule.waitAfter(seq, signal);
  }
  await closeAndWait(conn, timeoutMs);
  return { ...counts, rtt: rtt.stats(), mismatched };
}

/** Pipe mode (see the module doc). */
async function pipe(
  conn: WsConn,
  opts: WsClientOptions,
  stdin: ByteReader,
  stdout: ByteWriter,
  timeoutMs: number,
  signal: AbortSignal,
  emit: EventSink<ClientEvent>,
): Promise<Counts> {
  const counts = { sent: 0, received: 0, lost: 0, bytesSent: 0, bytesReceived: 0 };
  const send = async (data: Uint8Array, text: boolean) => {
    await conn.send({ data, text });
    counts.sent++;
    counts.bytesSent += data.length;
  };
  let lastArrival = performance.now();
  let outputGone = false;
  const download = (async () => {
    const newline = new Uint8Array([0x0a]);
    for (let m = await conn.receive(); m !== null; m = await conn.receive()) {
      counts.received++;
      counts.bytesReceived += m.data.length;
      lastArrival = performance.now();
      try {
        await writeAll(stdout, m.text ? concat(m.data, newline) : m.data);
      } catch (err) {
        if (!(err instanceof Deno.errors.BrokenPipe)) throw err;
        outputGone = true;
        conn.close();
      }
    }
  })();
  let downloadError: unknown;
  download.catch((err) => (downloadError = err));

  const buf = new Uint8Array(PIPE_BUFFER_SIZE);
  let pending: Uint8Array = new Uint8Array(0);
  try {
    for (let n = await stdin.read(buf); n !== null && !conn.closed; n = await stdin.read(buf)) {
      if (opts.binary) {
        await send(buf.slice(0, n), false);
        continue;
      }
      pending = concat(pending, buf.subarray(0, n));
      for (let i = pending.indexOf(0x0a); i !== -1; i = pending.indexOf(0x0a)) {
        const end = i > 0 && pending[i - 1] === 0x0d ? i - 1 : i;
        await send(pending.slice(0, end), true);
        pending = pending.slice(i + 1);
      }
    }
    if (pending.length > 0 && !conn.closed) await send(pending, true);
  } catch (err) {
    if (!conn.closed) throw err;
  }
  // stdin ended: wait for the replies, then close
  const deadline = performance.now() + timeoutMs;
  while (
    !conn.closed && !signal.aborted && counts.received < counts.sent && performance.now() < deadline &&
    performance.now() - lastArrival < QUIET_MS
  ) {
    await sleep(10, signal);
  }
  if (!conn.closed) await closeAndWait(conn, timeoutMs);
  if (conn.closed?.clean) emit({ type: "eof", sent: counts.bytesSent, received: counts.bytesReceived });
  await download.catch(() => {});
  if (downloadError !== undefined && !outputGone) throw downloadError;
  const c = conn.closed;
  if (c && c.byPeer && !signal.aborted && !outputGone && !(c.clean && isNormalClose(c.code))) {
    throw endedError(conn);
  }
  return counts;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
