import type { ClientEvent, ServerEvent } from "./events.ts";
import { formatDuration } from "../core/duration.ts";
import { formatBytes, plural } from "../core/format.ts";
import { formatHex, formatTrace } from "../server/wire.ts";
import { columnHeader, columnRow, LIVE_LAYOUT } from "./columns.ts";

/** How events are shown. */
export interface ReporterOptions {
  /** One JSON object per line instead of text. */
  json?: boolean;
  /** Only warnings and errors. */
  quiet?: boolean;
  /** With `quiet`, still say where the server listens (on stderr): the port was picked by the system. */
  announce?: boolean;
  /** Also a line per message received. */
  verbose?: boolean;
  /** The client numbers each reply (repeat mode). */
  numbered?: boolean;
  /** The client is interactive: say how to use it, and when the server closes. */
  interactive?: boolean;
  /** `--trace=columns`: calls drawn as a sequence (the client's column on the left, the server's on the right). */
  trace?: boolean | string;
}

/** Where a reporter writes: status lines and warnings. */
export interface ReporterOutput {
  status(line: string): void;
  warn(line: string): void;
}

/** The text a server event is shown as (lines joined by `\n`), or undefined when it is not shown at this verbosity. */
export function formatServerEvent(event: ServerEvent, opts: ReporterOptions = {}): string | undefined {
  switch (event.type) {
    case "listening":
      return `Listening on ${event.address} (${event.mode}${
        event.transport ? ` over ${event.transport}` : ""
      }); Ctrl-C to stop`;
    case "certificate":
      return formatCertificate(event);
    case "http":
      return event.serves === "web"
        ? `Chat page on ${event.url} (its WebSocket at /ws, metrics at /metrics)`
        : `Metrics on ${event.url}`;
    case "connect":
      return `${event.peer} connected (${event.active} online)`;
    case "message":
      return opts.verbose ? `${event.peer} ${event.count} (${plural(event.bytes, "byte")})` : undefined;
    case "disconnect":
      return `${event.peer} left${event.reason ? ` (${event.reason})` : ""}: ${
        plural(event.messages, "message")
      }, ${plural(event.bytes, "byte")} in ${formatDuration(event.durationMs)} (${event.active} online)`;
    case "warning":
      return `warning: ${event.message}`;
    case "stopping":
      return event.active > 0 ? `Stopping: closing ${plural(event.active, "client")}` : undefined;
    case "summary":
      if (event.relayed) {
        return `Stopped after ${formatDuration(event.uptimeMs)}: ${
          plural(event.clients, "client")
        } relayed, ${formatBytes(event.relayed.up)} up, ${formatBytes(event.relayed.down)} down${
          event.refused ? `, ${event.refused} refused` : ""
        }`;
      }
      return `Stopped after ${formatDuration(event.uptimeMs)}: ${plural(event.clients, "client")} served, ${
        plural(event.messages, "message")
      }, ${formatBytes(event.bytes)} received${event.refused ? `, ${event.refused} refused` : ""}${
        event.dropped
          ? `, ${event.dropped} ${event.dropped === 1 ? "reply" : "replies"} dropped by the rate limit`
          : ""
      }`;
    case "refused":
      return `${event.peer} refused: ${event.reason}`;
    case "target":
      return opts.verbose
        ? `${event.peer} => ${event.target} connected in ${formatRtt(event.connectMs)}`
        : undefined;
    case "pair":
      return `${event.peer} => ${event.target} done${event.reason ? ` (${event.reason})` : ""}: ${
        formatBytes(event.up)
      } up, ${formatBytes(event.down)} down in ${formatDuration(event.durationMs)} (${event.active} online)`;
    case "chat":
      return event.text;
    case "hub":
      return event.state === "down" ? `warning: hub: ${event.message}` : `hub: ${event.message}`;
    case "note":
      return `${event.peer} ${event.text}`;
    case "trace":
      return opts.trace === "columns" ? columnRow(event, "server", SERVER_LAYOUT) : formatTrace(event);
    case "hex":
      return formatHex(event).join("\n");
  }
}

function formatCertificate(event: Extract<ServerEvent, { type: "certificate" }>): string {
  const what = event.ephemeral
    ? `ephemeral self-signed certificate for ${event.names?.join(", ")}${
      event.notAfter ? ` (valid until ${event.notAfter.slice(0, 10)})` : ""
    }`
    : `certificate ${event.file}`;
  const lines = [`TLS ${what}`, `SHA-256 fingerprint ${event.fingerprint}`];
  if (event.writtenTo) {
    lines.push(
      `Certificate written to ${event.writtenTo}: clients trust it with ${
        event.trustWith ?? `--tls --ca ${event.writtenTo}`
      }`,
    );
  }
  return lines.join("\n");
}

const INTERACTIVE_HINT = "; Enter sends a line, Ctrl-D leaves";

/** ` (127.0.0.1:1234, TLS)`: the address connected to when the name was not one, and the transport. */
function connectedDetail(event: Extract<ClientEvent, { type: "connected" }>): string {
  const trust = event.verified === false ? "not verified" : event.pinned ? "pinned" : undefined;
  const parts = [event.remote === event.address ? undefined : event.remote, event.detail, trust].filter(
    Boolean,
  );
  return parts.length > 0 ? ` (${parts.join(", ")})` : "";
}

/** A server's columns name the peer in each call: it has several clients. */
const SERVER_LAYOUT = { ...LIVE_LAYOUT, server: LIVE_LAYOUT.server + 12, peers: true };

/** With `--trace=columns`, the heading row, printed once before the first call. */
function columnHeading(opts: ReporterOptions, layout = LIVE_LAYOUT): (event: { type: string }) => string[] {
  let shown = opts.trace !== "columns" || opts.json;
  return (event) => {
    if (shown || event.type !== "trace") return [];
    shown = true;
    return [columnHeader(layout)];
  };
}

/** Events asked for by name (`--trace`, `--hex`) are shown even with `--quiet`. */
function isWireEvent(event: { type: string }): boolean {
  return event.type === "trace" || event.type === "hex";
}

/** The text lines a client event is shown as (none when it is not shown at this verbosity). */
export function formatClientEvent(event: ClientEvent, opts: ReporterOptions = {}): string[] {
  switch (event.type) {
    case "connected":
      return [
        `Connected to ${event.address}${connectedDetail(event)} in ${formatRtt(event.connectMs)}${
          opts.interactive ? INTERACTIVE_HINT : ""
        }`,
      ];
    case "sending":
      return [`Sending to ${event.address} over ${event.transport} from ${event.local}`];
    case "reply":
      return [
        `${opts.numbered ? `${event.seq}: ` : ""}Received: ${event.text} (${formatRtt(event.rttMs)})${
          event.truncated ? " [truncated: the reply was larger than the receive buffer]" : ""
        }${event.differs ? " [not an echo: differs from what was sent]" : ""}${
          event.late ? " [late: came after it was counted lost; not counted]" : ""
        }${event.duplicate ? " [duplicate: the echo came again; not counted]" : ""}${
          event.hint ? ` [${event.hint}]` : ""
        }`,
      ];
    case "lost":
      return [`${opts.numbered ? `${event.seq}: ` : ""}no reply: ${event.reason}`];
    case "eof":
      return opts.verbose || opts.interactive ? [`Server closed the connection`] : [];
    case "trace":
      return [opts.trace === "columns" ? columnRow(event, "client") : formatTrace(event)];
    case "hex":
      return formatHex(event);
    case "summary": {
      if (!opts.numbered) {
        return opts.verbose || (event.sent === 0 && !opts.interactive)
          ? [
            `Sent ${formatBytes(event.bytesSent)}, received ${formatBytes(event.bytesReceived)} in ${
              formatDuration(event.elapsedMs)
            }`,
          ]
          : [];
      }
      const lossPct = event.sent === 0 ? 0 : (100 * event.lost) / event.sent;
      const lines = [
        `--- ${event.address} echo statistics ---`,
        `${event.sent} sent, ${event.received} received, ${lossPct.toFixed(0)}% lost, time ${
          formatDuration(event.elapsedMs)
        }`,
      ];
      const r = event.rtt;
      if (r) {
        lines.push(
          `rtt min/avg/max/mdev = ${[r.min, r.avg, r.max, r.mdev].map((v) => v.toFixed(3)).join("/")} ms`,
        );
      }
      return lines;
    }
  }
}

/** Round-trip times as ping shows them: `0.213 ms`. */
function formatRtt(ms: number): string {
  return `${ms.toFixed(3)} ms`;
}

function jsonLine(event: { type: string }): string {
  return JSON.stringify({ time: new Date().toISOString(), ...event });
}

/** A sink for server events that prints them as text or JSON lines. */
export function serverReporter(opts: ReporterOptions, out: ReporterOutput): (event: ServerEvent) => void {
  const heading = columnHeading(opts, SERVER_LAYOUT);
  return (event) => {
    heading(event).forEach(out.status);
    if (event.type === "warning" || (event.type === "hub" && event.state === "down")) {
      return out.warn(opts.json ? jsonLine(event) : formatServerEvent(event)!);
    }
    if (opts.quiet && !isWireEvent(event)) {
      if ((event.type === "listening" || event.type === "http") && opts.announce) {
        out.warn(opts.json ? jsonLine(event) : formatServerEvent(event)!);
      }
      return;
    }
    if (opts.json) {
      if (event.type !== "message" || opts.verbose) out.status(jsonLine(event));
      return;
    }
    const line = formatServerEvent(event, opts);
    if (line !== undefined) out.status(line);
  };
}

/** What every `--insecure` run says (on stderr), also with `--quiet`. */
export const INSECURE_WARNING =
  "warning: the server's certificate was not verified (--insecure): anyone on the way could read or change " +
  "this connection";

/** A sink for client events that prints them as text or JSON lines. */
export function clientReporter(opts: ReporterOptions, out: ReporterOutput): (event: ClientEvent) => void {
  const heading = columnHeading(opts);
  return (event) => {
    heading(event).forEach(out.status);
    // What makes the exit code non-zero is said even with --quiet: a lost reply, or one that is not an echo.
    const failing = event.type === "lost" || (event.type === "reply" && event.differs === true);
    if (event.type === "connected" && event.verified === false) out.warn(INSECURE_WARNING);
    if (opts.quiet && !failing && !isWireEvent(event)) return;
    if (opts.json) return out.status(jsonLine(event));
    const emit = event.type === "lost" || (opts.quiet && failing) ? out.warn : out.status;
    for (const line of formatClientEvent(event, opts)) emit(line);
  };
}
