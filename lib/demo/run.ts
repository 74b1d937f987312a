/**
 * `sockkit demo`: a server and a client in one process, each run by the code `sockkit server` and
 * `sockkit client` run, on 127.0.0.1 port 0 (or a temporary Unix socket), with every socket call traced on
 * one clock and with the line of sockkit that made it, so the six steps (bind, listen, accept, connect, send,
 * recv) can be read as one sequence: the client's calls on the left, the server's on the right.
 * @module
 */
import { runServer } from "../server/run.ts";
import { runClient } from "../client/run.ts";
import type { ClientSummary, ServerSummary, TraceEvent } from "../report/events.ts";
import type { ModeName } from "../modes/mod.ts";
import type { Endpoint } from "../transports/types.ts";
import type { Side } from "../report/columns.ts";

/** The transports the demo runs over. */
export type DemoTransport = "tcp" | "tls" | "udp" | "unix";

/** What `runDemo` runs; the defaults are those of `sockkit demo`. */
export interface DemoOptions {
  /** Over what (default TCP). */
  transport?: DemoTransport;
  /** The server's mode (default echo). */
  mode?: ModeName;
  /** What the client sends (default `Hello`). */
  message?: Uint8Array;
  /** How many times it sends it (default 1). */
  count?: number;
}

/** One socket call of the demo: a trace event, the side that made it, and its time in µs since the start. */
export interface DemoCall extends TraceEvent {
  side: Side;
  /** Microseconds since the demo started, on the clock both sides share. */
  us: number;
}

/** What a demo run saw: every call in time order, and what the server and the client each summed up. */
export interface DemoResult {
  transport: DemoTransport;
  mode: ModeName;
  /** Where the server listened. */
  address: string;
  calls: DemoCall[];
  server: ServerSummary;
  client: ClientSummary;
}

/** How long the demo waits for the server to close its side once the client is done. */
const CLOSE_WAIT_MS = 2000;
/** How long the client waits for a reply in a mode that may send none (discard, chat, broadcast). */
const QUIET_REPLY_MS = 300;

/**
 * Runs a server and a client over `transport` and resolves to every socket call both made, sorted by time.
 * A mode the transport does not carry (chat over UDP) is a `UsageError`, as it is for `sockkit server`.
 *
 * @example
 * ```ts ignore
 * const { calls } = await runDemo({ transport: "udp" });
 * calls.map((c) => `${c.side} ${c.call}`); // ["server bind", "client bind", "client sendto", …]
 * ```
 */
export async function runDemo(
  opts: DemoOptions = {},
  ctx: { signal?: AbortSignal } = {},
): Promise<DemoResult> {
  const transport = opts.transport ?? "tcp";
  const mode = opts.mode ?? "echo";
  const count = opts.count ?? 1;
  const clock = performance.now();
  const calls: DemoCall[] = [];
  const record = (side: Side) => (e: { type: string }) => {
    if (e.type !== "trace") return;
    const call = e as TraceEvent;
    calls.push({ ...call, side, us: Math.round(call.elapsedMs * 1000) });
    if (side === "server" && call.call === "close") serverClosed.resolve();
  };
  const serverClosed = Promise.withResolvers<void>();
  const listening = Promise.withResolvers<string>();
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  ctx.signal?.addEventListener("abort", onAbort, { once: true });
  const setup = await demoEndpoints(transport);
  try {
    const server = runServer(
      { endpoint: setup.server, mode, graceMs: 200, trace: true, sites: true, traceClock: clock },
      {
        signal: stop.signal,
        onEvent: (e) => {
          if (e.type === "listening") listening.resolve(e.address);
          record("server")(e);
        },
      },
    );
    server.catch((err) => listening.reject(err));
    const address = await listening.promise;
    const port = Number(address.slice(address.lastIndexOf(":") + 1));
    const echo = mode === "echo";
    let client: ClientSummary;
    try {
      client = await runClient({
        endpoint: setup.client(port),
        message: opts.message,
        mode: count === 1 && echo ? "once" : "repeat",
        count,
        intervalMs: 0,
        timeoutMs: echo ? 5000 : QUIET_REPLY_MS,
        trace: true,
        sites: true,
        traceClock: clock,
      }, { signal: stop.signal, onEvent: record("client") });
      // a stream's server closes its side once it has read the client's end: wait for that row
      if (transport !== "udp") await within(serverClosed.promise, CLOSE_WAIT_MS);
    } finally {
      stop.abort();
    }
    const summary = await server;
    calls.sort((a, b) => a.elapsedMs - b.elapsedMs);
    return { transport, mode, address, calls, server: summary, client };
  } finally {
    ctx.signal?.removeEventListener("abort", onAbort);
    await setup.cleanup();
  }
}

/** Resolves when `p` does, or after `ms`, whichever is first. */
async function within(p: Promise<void>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([p, new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}

/** The server's endpoint and the client's for it, and what to remove at the end (a socket file, a CA file). */
async function demoEndpoints(transport: DemoTransport): Promise<{
  server: Endpoint;
  client: (port: number) => Endpoint;
  cleanup: () => Promise<void>;
}> {
  const hostname = "127.0.0.1";
  switch (transport) {
    case "tcp":
    case "udp":
      return {
        server: { transport, hostname, port: 0 },
        client: (port) => ({ transport, hostname, port }),
        cleanup: () => Promise.resolve(),
      };
    case "unix": {
      const dir = await Deno.makeTempDir({ prefix: "sockkit-demo-" });
      const path = `${dir}/demo.sock`;
      return {
        server: { transport: "unix", path },
        client: () => ({ transport: "unix", path }),
        cleanup: () => Deno.remove(dir, { recursive: true }).catch(() => {}),
      };
    }
    case "tls": {
      // an ephemeral certificate the client trusts as its CA: verified as a real client verifies a server
      const { serverCertificate } = await import("../transports/tls/tls.ts");
      const { cert, key } = await serverCertificate({}, hostname);
      const caFile = await Deno.makeTempFile({ prefix: "sockkit-demo-", suffix: ".pem" });
      await Deno.writeTextFile(caFile, cert);
      return {
        server: { transport: "tls", hostname, port: 0, tls: { served: { cert, key } } },
        client: (port) => ({ transport: "tls", hostname, port, tls: { caFile } }),
        cleanup: () => Deno.remove(caFile).catch(() => {}),
      };
    }
  }
}
