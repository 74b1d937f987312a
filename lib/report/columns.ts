/**
 * Socket calls as a two-column sequence: the client's calls on the left, the server's on the right, one row
 * per call with its time in microseconds, an arrow for which way what it moves goes (client to server points
 * right), and the line of sockkit that made it. `sockkit demo` draws a whole exchange this way;
 * `--trace=columns` draws one side of real traffic.
 * @module
 */
import type { TraceEvent } from "./events.ts";

/** Which column a call goes in. */
export type Side = "client" | "server";

const TIME_WIDTH = 9;
const CLIENT_WIDTH = 28;
const SERVER_WIDTH = 34;
const RIGHT = "─────────▶";
const LEFT = "◀─────────";
const BOTH = "◀────────▶";
const NONE = " ".repeat(RIGHT.length);

/** Which way what a call moves goes: toward the server (`right`), toward the client (`left`), both, or none. */
export function arrowOf(call: TraceEvent["call"], side: Side): "right" | "left" | "both" | undefined {
  switch (call) {
    case "bind":
    case "listen":
      return undefined;
    case "handshake":
      return "both";
    case "connect":
    case "accept":
      return "right";
    case "send":
    case "sendto":
    case "shutdown":
    case "close":
      return side === "client" ? "right" : "left";
    case "recv":
    case "recvfrom":
      return side === "client" ? "left" : "right";
  }
}

/**
 * A call as a column shows it: `send(5) = 5`, `accept() = 127.0.0.1:50112`; with `peers`, the peer is named
 * in each call (a server with several clients: `recv(127.0.0.1:50112, 512) = 5`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(callText({ type: "trace", call: "recv", elapsedMs: 1, peer: "x", size: 512, result: 0 }), "recv(512) = 0 (end)");
 * ```
 */
export function callText(e: TraceEvent, peers = false): string {
  const on = peers && e.peer ? `${e.peer}, ` : "";
  let text: string;
  switch (e.call) {
    case "bind":
    case "listen":
      text = `${e.call}(${e.address ?? ""})`;
      break;
    case "accept":
      text = `accept() = ${e.peer ?? "?"}`;
      break;
    case "connect":
      text = `connect(${e.peer ?? ""})`;
      break;
    case "handshake":
      text = `handshake(${peers ? e.peer ?? "" : ""})`;
      break;
    case "sendto":
    case "recvfrom":
      text = `${e.call}(${e.peer ?? ""}, ${e.size ?? ""})`;
      if (e.result !== undefined) text += ` = ${e.result}`;
      break;
    case "send":
    case "recv":
      text = `${e.call}(${on}${e.size ?? ""})`;
      if (e.result !== undefined) {
        text += ` = ${e.result}${e.call === "recv" && e.result === 0 ? " (end)" : ""}`;
      }
      break;
    case "shutdown":
      text = `shutdown(${peers ? e.peer ?? "" : ""}${peers ? ", " : ""}write)`;
      break;
    case "close":
      text = `close(${peers ? e.peer ?? "" : ""})`;
      break;
  }
  return e.error ? `${text} = error: ${e.error}` : text;
}

/** How wide each column is, and whether calls name their peer (a server with several clients). */
export interface ColumnLayout {
  client: number;
  server: number;
  peers: boolean;
}

/** The layout for live rows, whose widths cannot be known ahead: fixed, and a long call pushes its row out. */
export const LIVE_LAYOUT: ColumnLayout = { client: CLIENT_WIDTH, server: SERVER_WIDTH, peers: false };

/** The layout that fits every call of `calls` (a whole sequence, drawn at the end: `sockkit demo`). */
export function fittedLayout(calls: readonly (TraceEvent & { side: Side })[], peers = false): ColumnLayout {
  const width = (side: Side) =>
    Math.max(side.length, ...calls.filter((c) => c.side === side).map((c) => callText(c, peers).length));
  return { client: width("client"), server: width("server"), peers };
}

/** The heading row above the rows. */
export function columnHeader(layout: ColumnLayout = LIVE_LAYOUT): string {
  return `${"µs".padStart(TIME_WIDTH)}  ${"client".padEnd(layout.client)} ${NONE} ${
    "server".padEnd(layout.server)
  }  line`;
}

/**
 * One call as a row: its time (µs on the clock of `elapsedMs`), the call in its side's column, the arrow
 * between the columns (which way what it moves goes), and the line that made it.
 *
 * @example
 * ```ts
 * columnRow({ type: "trace", call: "send", elapsedMs: 1.5, size: 5, result: 5, site: "lib/core/io.ts:24" }, "client");
 * // "     1500  send(5) = 5                  ─────────▶                                     lib/core/io.ts:24"
 * ```
 */
export function columnRow(e: TraceEvent, side: Side, layout: ColumnLayout = LIVE_LAYOUT): string {
  const us = String(Math.round(e.elapsedMs * 1000)).padStart(TIME_WIDTH);
  const text = callText(e, layout.peers);
  const way = arrowOf(e.call, side);
  const arrow = way === "right" ? RIGHT : way === "left" ? LEFT : way === "both" ? BOTH : NONE;
  const left = side === "client" ? text.padEnd(layout.client) : " ".repeat(layout.client);
  const right = side === "server" ? text.padEnd(layout.server) : " ".repeat(layout.server);
  const loop = e.loop === undefined ? "" : ` [loop ${e.loop}]`;
  return `${us}  ${left} ${arrow} ${right}  ${e.site ?? ""}${loop}`.trimEnd();
}
