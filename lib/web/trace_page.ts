/**
 * The `/trace` page `--web` serves: every connection's socket calls drawn live as a sequence diagram, one
 * lifeline per client (named by its address) on the left and the server's on the right, one arrow per call
 * the way its bytes go, each with its time and the line of sockkit that made it. The calls come over
 * `/trace/ws` as the JSON of lib/web/traces.ts. Embedded like the chat page, drawn as SVG with every text
 * set as `textContent` (never as markup), under the same strict content security policy.
 * @module
 */

/** The page at `/trace`. */
export const TRACE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sockkit trace</title>
<link rel="stylesheet" href="/trace.css">
<script src="/trace.js" defer></script>
</head>
<body>
<header><h1>sockkit trace</h1><span id="status" class="connecting">connecting…</span>
<span id="note">each client's calls, as the server makes them: bind, listen, accept, recv, send, close</span></header>
<main><svg id="diagram" xmlns="http://www.w3.org/2000/svg" width="600" height="80" role="img"
aria-label="the server's socket calls, one lifeline per client"></svg></main>
</body>
</html>
`;

/** The page's style sheet (`/trace.css`). */
export const TRACE_CSS = `* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, sans-serif; background: #f6f7f9; color: #1d2330; }
header { display: flex; align-items: center; gap: 1em; padding: .5em 1em; background: #1d2330; color: #fff; }
h1 { font-size: 1.1em; margin: 0; }
#note { font-size: .85em; color: #c9ceda; }
#status { font-size: .85em; padding: .1em .6em; border-radius: 1em; background: #8a6d00; }
#status.connected { background: #1f7a3a; }
#status.disconnected { background: #a3262a; }
main { padding: 1em; overflow: auto; }
svg { background: #fff; border: 1px solid #d8dce3; }
svg text { font: 12px ui-monospace, monospace; fill: #1d2330; }
svg .lane { font-weight: 600; fill: #2456a6; }
svg .server-lane { font-weight: 600; fill: #6b2fa3; }
svg .lifeline { stroke: #b9bfca; stroke-dasharray: 4 3; }
svg .arrow { stroke: #1d2330; stroke-width: 1.3; }
svg .arrow.error { stroke: #a3262a; }
svg .time, svg .site { fill: #5b6270; }
svg .dot { fill: #6b2fa3; }
svg #head path { fill: #1d2330; }
`;

/** The page's script (`/trace.js`): the WebSocket, and the diagram redrawn as calls arrive. */
export const TRACE_JS = `"use strict";
(() => {
  const NS = "http://www.w3.org/2000/svg";
  const MAX_CALLS = 2000;
  const ROW = 22, TOP = 44, TIME = 96, LANE = 250, SITE = 300;
  const svg = document.getElementById("diagram");
  const status = document.getElementById("status");
  const calls = [];
  const peers = [];
  let drawing = false;
  let delay = 500;

  function setStatus(kind, text) {
    status.className = kind;
    status.textContent = text;
  }

  function el(name, attrs, text) {
    const e = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function laneX(i) { return TIME + 120 + i * LANE; }

  function draw() {
    drawing = false;
    const serverX = laneX(Math.max(peers.length, 1));
    const height = TOP + 20 + calls.length * ROW;
    const width = serverX + SITE;
    svg.setAttribute("width", width);
    svg.setAttribute("height", height);
    const parts = [];
    const defs = el("defs", {});
    const head = el("marker", { id: "head", markerWidth: 8, markerHeight: 8, refX: 7, refY: 4, orient: "auto-start-reverse" });
    head.append(el("path", { d: "M0,0 L8,4 L0,8 z" }));
    defs.append(head);
    parts.push(defs);
    peers.forEach((peer, i) => {
      const x = laneX(i);
      parts.push(el("text", { x, y: 20, "text-anchor": "middle", class: "lane peer", "data-peer": peer }, "client " + peer));
      parts.push(el("line", { x1: x, y1: 28, x2: x, y2: height, class: "lifeline" }));
    });
    parts.push(el("text", { x: serverX, y: 20, "text-anchor": "middle", class: "server-lane" }, "server"));
    parts.push(el("line", { x1: serverX, y1: 28, x2: serverX, y2: height, class: "lifeline" }));
    calls.forEach((c, row) => {
      const y = TOP + row * ROW;
      const g = el("g", { class: "call", "data-call": c.call, "data-peer": c.peer || "" });
      g.append(el("text", { x: 8, y: y + 4, class: "time" }, (c.elapsedMs * 1000).toFixed(0) + " µs"));
      const i = peers.indexOf(c.peer);
      if (c.arrow && i >= 0) {
        const px = laneX(i);
        const [x1, x2] = c.arrow === "left" ? [serverX, px] : [px, serverX];
        const line = { x1, y1: y, x2, y2: y, class: "arrow" + (c.error ? " error" : ""), "marker-end": "url(#head)" };
        if (c.arrow === "both") line["marker-start"] = "url(#head)";
        g.append(el("line", line));
        g.append(el("text", { x: (px + serverX) / 2, y: y - 4, "text-anchor": "middle" }, c.text));
      } else {
        g.append(el("circle", { cx: serverX, cy: y, r: 3.5, class: "dot" }));
        g.append(el("text", { x: serverX - 8, y: y + 4, "text-anchor": "end" }, c.text));
      }
      const where = (c.site || "") + (c.loop === undefined ? "" : " [loop " + c.loop + "]");
      g.append(el("text", { x: serverX + 12, y: y + 4, class: "site" }, where));
      parts.push(g);
    });
    svg.replaceChildren(...parts);
  }

  function add(call) {
    if (call.peer && call.call !== "bind" && call.call !== "listen" && !peers.includes(call.peer)) {
      peers.push(call.peer);
    }
    calls.push(call);
    if (calls.length > MAX_CALLS) calls.shift();
    if (!drawing) {
      drawing = true;
      requestAnimationFrame(draw);
    }
  }

  function connect() {
    setStatus("connecting", "connecting…");
    const socket = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/trace/ws");
    socket.onopen = () => {
      delay = 500;
      calls.length = 0;
      peers.length = 0;
    };
    socket.onmessage = (e) => {
      const m = JSON.parse(e.data);
      if (m.type === "tracing") {
        return setStatus(m.on ? "connected" : "disconnected", m.on ? "live" : "the server runs without --trace: no calls to show");
      }
      if (m.type === "trace") add(m);
    };
    socket.onclose = () => {
      setStatus("disconnected", "disconnected: reconnecting");
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 15000);
    };
  }

  connect();
})();
`;
