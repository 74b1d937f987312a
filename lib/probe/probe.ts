/**
 * `sockkit probe HOST PORTS`: which TCP ports of one host accept a connection, like `nc -z` over lists and
 * ranges (`22,80,8000-8100`). Each port gets one `Deno.connect`, closed as soon as it succeeds (nothing is
 * sent), many at a time; a connect that neither succeeds nor is refused within the timeout is "no answer".
 * A host name is resolved once, and only its first address is contacted: nothing else is ever reached.
 *
 * Results are reported in port order while the probe runs, and kept in typed arrays of one entry per port,
 * so memory stays bounded (a full 1-65535 list holds under 1 MiB of results).
 *
 * @example
 * ```ts
 * import { parsePortList, runProbe } from "./probe.ts";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const summary = await runProbe({ host: "127.0.0.1", ports: parsePortList(`${listener.addr.port}`) });
 * console.log(summary.openPorts); // [the listener's port]
 * ```
 * @module
 */
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { formatHostPort } from "../endpoints/address.ts";
import { formatDuration } from "../core/duration.ts";
import { openVia, ProxyRefusal } from "../transports/proxy/mod.ts";
import type { ProxySpec } from "../transports/types.ts";
import { SockkitError, UsageError } from "../core/errors.ts";
import type { EventSink } from "../report/events.ts";
import { plural } from "../core/format.ts";
import type { ReporterOutput } from "../report/reporter.ts";

/** Connects in flight at once unless `--concurrency` says otherwise. */
export const DEFAULT_PROBE_CONCURRENCY = 100;

/** The most connects `--concurrency` lets run at once (each holds a file descriptor). */
export const MAX_PROBE_CONCURRENCY = 10_000;

/** The time one connect may take unless `--timeout` says otherwise (one SYN retransmission fits in it). */
export const DEFAULT_PROBE_TIMEOUT = "2s";

/** Lists of more ports than this show only the open ones, unless verbose (closed ones are counted). */
export const PROBE_LIST_ALL_UP_TO = 20;

/** What a port did: accepted the connect, refused it (reset), or gave no answer in time (or an error). */
export type ProbeState = "open" | "closed" | "no-answer";

/** The result for one port. */
export interface PortResult {
  port: number;
  state: ProbeState;
  /** Open: how long the connect took, in milliseconds. */
  connectMs?: number;
  /** Closed and no answer: why (`refused`, `timed out`, `host unreachable`, …). */
  reason?: string;
}

/** Where the probe goes: the host as given, the one address contacted, and the others it resolves to. */
export interface ProbeStart {
  type: "start";
  host: string;
  address: string;
  /** Further addresses of the name, not contacted. */
  others: string[];
  ports: number;
  concurrency: number;
  timeoutMs: number;
}

/** The end of a probe: counts by state, the open ports, and whether Ctrl-C cut it short. */
export interface ProbeSummary {
  type: "summary";
  host: string;
  address: string;
  /** Ports asked for. */
  ports: number;
  /** Ports with a result (fewer than `ports` when interrupted). */
  probed: number;
  open: number;
  closed: number;
  noAnswer: number;
  /** Why the unanswered ports gave no answer, with a count each: `{ "timed out": 3 }`. */
  noAnswerReasons: Record<string, number>;
  openPorts: number[];
  elapsedMs: number;
  interrupted: boolean;
}

/** What a probe reports, in this order: start, one `port` per port in port order, summary. */
export type ProbeEvent = ProbeStart | ({ type: "port" } & PortResult) | ProbeSummary;

/** What to probe. */
export interface ProbeOptions {
  /** A host name or an IP address (IPv6 without brackets, with a zone where link-local). */
  host: string;
  /** The ports, as `parsePortList` returns them (sorted, each once). */
  ports: ArrayLike<number>;
  /** Connects at once (default 100). */
  concurrency?: number;
  /** The limit for one connect, in milliseconds (default 2000). */
  timeoutMs?: number;
  /** Connect through this proxy (`--proxy`): the proxy resolves the host and reports each port. */
  proxy?: ProxySpec;
}

/** How a probe is stopped (Ctrl-C) and where its events go. */
export interface ProbeHooks {
  signal?: AbortSignal;
  onEvent?: EventSink<ProbeEvent>;
}

const PORT_LIST_FORM = "expected ports from 1 to 65535 and ranges, comma-separated, such as 22,80,8000-8100";

/** `22,80,…` for a list too long to quote whole in an error. */
function shortList(spec: string): string {
  return spec.length > 40 ? `${spec.slice(0, 40)}…` : spec;
}

function portNumber(digits: string, item: string): number {
  const port = digits.length <= 5 ? Number(digits) : Infinity;
  if (port < 1 || port > 65535) {
    const where = digits === item ? "in the port list" : `in the range '${item}'`;
    throw new UsageError(`invalid port '${digits}' ${where}: ports go from 1 to 65535`);
  }
  return port;
}

/**
 * Parses a port list: ports and ranges, comma-separated (`22,80,8000-8100`), into the ports it names,
 * sorted and each once. Anything malformed or out of range is a `UsageError` naming the bad part.
 *
 * @example
 * ```ts
 * parsePortList("80,22,8000-8002,22"); // Uint16Array [22, 80, 8000, 8001, 8002]
 * // parsePortList("8000-7000") throws UsageError: invalid port range '8000-7000': it ends before it starts …
 * ```
 */
export function parsePortList(spec: string): Uint16Array {
  const wanted = new Uint8Array(65536);
  const items = spec.split(",");
  let count = 0;
  for (let k = 0; k < items.length; k++) {
    const item = items[k].trim();
    if (item === "") {
      throw new UsageError(
        items.length === 1
          ? `invalid port list '${spec}': it is empty (${PORT_LIST_FORM})`
          : `invalid port list '${shortList(spec)}': item ${k + 1} is empty`,
      );
    }
    const m = /^(\d+)(?:\s*-\s*(\d+))?$/.exec(item);
    if (!m) throw new UsageError(`invalid port '${item}' in the port list: ${PORT_LIST_FORM}`);
    const low = portNumber(m[1], item);
    const high = m[2] === undefined ? low : portNumber(m[2], item);
    if (low > high) {
      throw new UsageError(
        `invalid port range '${item}': it ends before it starts (the low port comes first: ${high}-${low})`,
      );
    }
    for (let p = low; p <= high; p++) {
      if (!wanted[p]) count++;
      wanted[p] = 1;
    }
  }
  const ports = new Uint16Array(count);
  for (let p = 1, i = 0; p <= 65535; p++) if (wanted[p]) ports[i++] = p;
  return ports;
}

/**
 * The addresses to probe `host` at: the address itself, or every address its name resolves to (once, by the
 * system's resolver, in the order it prefers; the first is the one probed). Something that looks like an
 * address but is none (`1.2.3.999`, `::zz`) is a `UsageError`: it is never handed to the resolver as a name.
 */
export async function resolveProbeHost(host: string): Promise<string[]> {
  if (isIP(host)) return [host];
  if (host.includes(":") || /^[\d.]+$/.test(host)) {
    throw new UsageError(
      `invalid address '${host}': expected an IPv4 address such as 192.0.2.1, an IPv6 address such as ::1, ` +
        `or a host name`,
    );
  }
  let found: { address: string }[];
  try {
    found = await lookup(host, { all: true, verbatim: true });
  } catch (err) {
    const code = (err as { code?: string }).code;
    const reason = code === "ENOTFOUND" || code === "ENODATA"
      ? "name does not resolve (check the host name)"
      : code === "EAI_AGAIN"
      ? "the resolver did not answer (try again, or give an address)"
      : err instanceof Error
      ? err.message
      : String(err);
    throw new SockkitError(`cannot probe ${host}: ${reason}`, undefined, { cause: err });
  }
  const addresses = [...new Set(found.map((a) => a.address))];
  if (addresses.length === 0) throw new SockkitError(`cannot probe ${host}: name does not resolve`);
  return addresses;
}

const OPEN = 1, CLOSED = 2, NO_ANSWER = 3;
const STATES: Record<number, ProbeState> = { [OPEN]: "open", [CLOSED]: "closed", [NO_ANSWER]: "no-answer" };

/** One connect's outcome; `stopped` when the probe was interrupted first. */
type Outcome = { state: number; ms?: number; reason?: string } | "stopped";

/**
 * Errors that say nothing about the port but about this machine, or about the proxy it goes through: the
 * probe stops with them.
 */
function localFailure(
  err: unknown,
  hostname: string,
  concurrency: number,
  proxied: boolean,
): SockkitError | undefined {
  // the proxy itself unreachable, silent, not a proxy, or refusing the credentials: no port can be probed
  // through it (a proxy that could not reach the target says so per port: a ProxyRefusal)
  if (proxied && err instanceof SockkitError && !(err instanceof ProxyRefusal)) {
    return new SockkitError(`cannot probe through the proxy: ${err.message}`, undefined, { cause: err });
  }
  if (err instanceof Deno.errors.NotCapable) {
    return new SockkitError(`cannot probe: ${err.message}`, undefined, { cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  // The address was checked before; the system's resolver failing on it means a zone that is no interface.
  if (/failed to lookup address/i.test(message)) {
    return new SockkitError(
      `cannot probe ${hostname}: not an address to connect to (${message})`,
      undefined,
      {
        cause: err,
      },
    );
  }
  if (/too many open files|os error 2[34]\b/i.test(message)) {
    return new SockkitError(
      `cannot probe: too many open files with ${concurrency} connects at once (lower --concurrency)`,
      undefined,
      { cause: err },
    );
  }
  return undefined;
}

/**
 * Why a connect failed, as a port state: refused or reset is closed; anything else is no answer. Through a
 * proxy, its answer says which (SOCKS5 reply 5 is a refusal; an HTTP proxy's 5xx is no answer).
 */
function classify(err: unknown): { state: number; reason: string } {
  if (err instanceof ProxyRefusal) {
    return { state: err.refused ? CLOSED : NO_ANSWER, reason: `proxy: ${err.said}` };
  }
  if (err instanceof Deno.errors.ConnectionRefused) return { state: CLOSED, reason: "refused" };
  if (err instanceof Deno.errors.ConnectionReset) return { state: CLOSED, reason: "reset" };
  if (err instanceof Deno.errors.NetworkUnreachable) {
    return { state: NO_ANSWER, reason: "network unreachable" };
  }
  const message = err instanceof Error ? err.message : String(err);
  if (/no route to host|host is unreachable/i.test(message)) {
    return { state: NO_ANSWER, reason: "host unreachable" };
  }
  if (err instanceof Deno.errors.AddrNotAvailable) {
    return { state: NO_ANSWER, reason: "address not available" };
  }
  if (err instanceof Deno.errors.PermissionDenied) return { state: NO_ANSWER, reason: "permission denied" };
  return { state: NO_ANSWER, reason: message.replace(/\s*\(os error \d+\)$/, "").toLowerCase() };
}

/** Connects once to `hostname:port` and closes at once; gives up after `timeoutMs` or when `stop` aborts. */
async function probePort(
  hostname: string,
  port: number,
  timeoutMs: number,
  stop: AbortSignal,
  proxy: ProxySpec | undefined,
): Promise<Outcome> {
  const ac = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    ac.abort();
  }, timeoutMs);
  const onStop = () => ac.abort();
  stop.addEventListener("abort", onStop, { once: true });
  const started = performance.now();
  try {
    const conn = proxy
      ? await openVia(proxy, { hostname, port }, ac.signal)
      : await Deno.connect({ hostname, port, transport: "tcp", signal: ac.signal });
    const ms = Math.round((performance.now() - started) * 1000) / 1000;
    try {
      conn.close();
    } catch { /* already closed by the peer: the connect still succeeded */ }
    return { state: OPEN, ms };
  } catch (err) {
    if (stop.aborted) return "stopped";
    if (timedOut) return { state: NO_ANSWER, reason: "timed out" };
    throw err;
  } finally {
    clearTimeout(timer);
    stop.removeEventListener("abort", onStop);
  }
}

/**
 * Probes `opts.ports` of `opts.host`: resolves the host once, then connects to each port of its first
 * address, `concurrency` at a time, closing each connection as soon as it is made. Reports a `start` event,
 * a `port` event per port in port order (as soon as the ports before it are done), and the summary, which it
 * also resolves to. `signal` stops it: the ports done by then are reported and the summary says
 * `interrupted`. Throws a `SockkitError` when the name does not resolve or this machine runs out of sockets.
 */
export async function runProbe(opts: ProbeOptions, hooks: ProbeHooks = {}): Promise<ProbeSummary> {
  const ports = Uint16Array.from(opts.ports);
  const n = ports.length;
  const concurrency = Math.max(1, Math.min(opts.concurrency ?? DEFAULT_PROBE_CONCURRENCY, n));
  const timeoutMs = opts.timeoutMs ?? 2000;
  const emit = hooks.onEvent ?? (() => {});
  // through a proxy the name is the proxy's to resolve (it may be one only its network knows)
  const [address, ...others] = opts.proxy ? [opts.host] : await resolveProbeHost(opts.host);
  emit({ type: "start", host: opts.host, address, others, ports: n, concurrency, timeoutMs });

  const stop = new AbortController();
  const onAbort = () => stop.abort();
  hooks.signal?.addEventListener("abort", onAbort, { once: true });
  if (hooks.signal?.aborted) stop.abort();

  // One entry per port: its state (0 while not done), connect time, and reason (an index into `reasons`).
  const states = new Uint8Array(n);
  const times = new Float64Array(n);
  const reasonIndex = new Uint8Array(n);
  const reasons: string[] = [];
  const reasonOf = (text: string): number => {
    const i = reasons.indexOf(text);
    if (i >= 0) return i;
    if (reasons.length >= 254 && text !== "other error") return reasonOf("other error");
    return reasons.push(text) - 1;
  };
  const summary: ProbeSummary = {
    type: "summary",
    host: opts.host,
    address,
    ports: n,
    probed: 0,
    open: 0,
    closed: 0,
    noAnswer: 0,
    noAnswerReasons: {},
    openPorts: [],
    elapsedMs: 0,
    interrupted: false,
  };
  const report = (i: number) => {
    const state = states[i];
    const result: PortResult = { port: ports[i], state: STATES[state] };
    summary.probed++;
    if (state === OPEN) {
      result.connectMs = times[i];
      summary.open++;
      summary.openPorts.push(ports[i]);
    } else {
      result.reason = reasons[reasonIndex[i]];
      if (state === CLOSED) summary.closed++;
      else {
        summary.noAnswer++;
        summary.noAnswerReasons[result.reason] = (summary.noAnswerReasons[result.reason] ?? 0) + 1;
      }
    }
    emit({ type: "port", ...result });
  };

  const started = performance.now();
  let next = 0;
  let reported = 0;
  let failure: SockkitError | undefined;
  const worker = async () => {
    while (!stop.signal.aborted && next < n) {
      const i = next++;
      let outcome: Outcome;
      try {
        outcome = await probePort(address, ports[i], timeoutMs, stop.signal, opts.proxy);
      } catch (err) {
        const local = localFailure(err, address, concurrency, opts.proxy !== undefined);
        if (local) {
          failure ??= local;
          stop.abort();
          return;
        }
        outcome = classify(err);
      }
      if (outcome === "stopped") return;
      states[i] = outcome.state;
      times[i] = outcome.ms ?? 0;
      if (outcome.reason !== undefined) reasonIndex[i] = reasonOf(outcome.reason);
      while (reported < n && states[reported] !== 0) report(reported++);
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    hooks.signal?.removeEventListener("abort", onAbort);
  }
  if (failure) throw failure;
  // Interrupted: the ports that finished after one that did not are reported too, still in order.
  for (let i = reported; i < n; i++) if (states[i] !== 0) report(i);
  summary.elapsedMs = Math.round((performance.now() - started) * 1000) / 1000;
  summary.interrupted = summary.probed < n;
  emit(summary);
  return summary;
}

/** How `probeReporter` shows a probe. */
export interface ProbeReporterOptions {
  /** One JSON object per event (every port is listed). */
  json?: boolean;
  /** Nothing but errors: the exit code tells whether a port is open. */
  quiet?: boolean;
  /** List every port, also in lists longer than `PROBE_LIST_ALL_UP_TO`. */
  verbose?: boolean;
}

const STATE_LABELS: Record<ProbeState, string> = { open: "open", closed: "closed", "no-answer": "no answer" };

/** `1 open, 3 closed, 2 no answer (timed out)`: the counts of a summary. */
function formatCounts(s: ProbeSummary): string {
  const parts = [`${s.open} open`, `${s.closed} closed`];
  if (s.noAnswer > 0) {
    const why = Object.entries(s.noAnswerReasons);
    const detail = why.length === 1
      ? why[0][0]
      : why.map(([reason, count]) => `${count} ${reason}`).join(", ");
    parts.push(`${s.noAnswer} no answer (${detail})`);
  }
  return parts.join(", ");
}

/**
 * A sink that prints probe events as text (or JSON lines): a heading, a line per port (in a list longer than
 * `PROBE_LIST_ALL_UP_TO` ports only the open ones, unless verbose), and a summary line.
 */
export function probeReporter(opts: ProbeReporterOptions, out: ReporterOutput): EventSink<ProbeEvent> {
  let listAll = true;
  let width = 0;
  let address = "";
  let hidden = 0;
  return (event) => {
    if (opts.quiet) return;
    if (opts.json) return out.status(JSON.stringify({ time: new Date().toISOString(), ...event }));
    switch (event.type) {
      case "start": {
        address = event.address;
        listAll = opts.verbose || event.ports <= PROBE_LIST_ALL_UP_TO;
        width = formatHostPort(address, 65535).length + 2;
        const at = event.host === event.address ? event.host : `${event.host} at ${event.address}`;
        out.status(
          `Probing ${at}: ${plural(event.ports, "port")}, ${event.concurrency} at a time, timeout ${
            formatDuration(event.timeoutMs)
          }`,
        );
        if (event.others.length > 0) {
          out.status(
            `${event.host} also resolves to ${
              event.others.join(", ")
            }: not probed (give an address to probe it)`,
          );
        }
        return;
      }
      case "port": {
        if (!listAll && event.state !== "open") {
          hidden++;
          return;
        }
        const detail = event.state === "open" ? `${event.connectMs!.toFixed(3)} ms` : event.reason;
        out.status(
          `${formatHostPort(address, event.port).padEnd(width)}${
            STATE_LABELS[event.state].padEnd(11)
          }${detail}`,
        );
        return;
      }
      case "summary": {
        const what = event.interrupted
          ? `Interrupted after ${event.probed} of ${plural(event.ports, "port")}`
          : `Probed ${plural(event.ports, "port")}`;
        out.status(
          `${what} of ${event.address} in ${formatDuration(event.elapsedMs)}: ${formatCounts(event)}${
            hidden > 0 ? `; ${hidden} not listed (-v lists every port)` : ""
          }`,
        );
      }
    }
  };
}
