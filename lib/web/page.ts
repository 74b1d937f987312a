/**
 * The chat page `--web` serves: HTML, CSS and script embedded in the program as strings (a server gives up
 * file access once it listens, so nothing is read from disk). No framework, no build step, nothing fetched
 * from elsewhere: it works offline. Every name and line is rendered with `textContent`, never as HTML.
 * @module
 */

/** The page at `/`; `{{MODE}}` is replaced by the server's mode (chat or broadcast). */
const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sockkit {{MODE}}</title>
<link rel="stylesheet" href="/chat.css">
<script src="/chat.js" defer></script>
</head>
<body data-mode="{{MODE}}">
<header><h1>sockkit {{MODE}}</h1><span id="status" class="connecting">connecting…</span></header>
<main>
<ul id="messages" aria-live="polite"></ul>
<aside id="people"><h2>Online</h2><ul id="online"></ul></aside>
</main>
<form id="send" autocomplete="off">
<input id="text" maxlength="65536" placeholder="Type a line, Enter sends (/nick NAME, /who, /quit)" autofocus>
</form>
</body>
</html>
`;

/** The page's style sheet (`/chat.css`). */
export const CHAT_CSS = `* { box-sizing: border-box; }
body { margin: 0; height: 100vh; display: flex; flex-direction: column; font: 15px/1.4 system-ui, sans-serif;
  background: #f6f7f9; color: #1d2330; }
header { display: flex; align-items: center; gap: 1em; padding: .5em 1em; background: #1d2330; color: #fff; }
h1 { font-size: 1.1em; margin: 0; }
#status { font-size: .85em; padding: .1em .6em; border-radius: 1em; background: #8a6d00; }
#status.connected { background: #1f7a3a; }
#status.disconnected { background: #a3262a; }
main { flex: 1; display: flex; min-height: 0; }
#messages { flex: 1; margin: 0; padding: .5em 1em; list-style: none; overflow-y: auto; }
#messages li { padding: .1em 0; white-space: pre-wrap; overflow-wrap: anywhere; }
#messages .name { font-weight: 600; color: #2456a6; margin-right: .4em; }
#messages .me .name { color: #6b2fa3; }
#messages .notice { color: #5b6270; font-style: italic; }
#messages .problem { color: #a3262a; font-style: normal; font-weight: 600; }
#people { width: 12em; padding: .5em 1em; border-left: 1px solid #d8dce3; overflow-y: auto; }
body[data-mode="broadcast"] #people { display: none; }
#people h2 { font-size: .9em; margin: 0 0 .4em; color: #5b6270; }
#online { margin: 0; padding: 0; list-style: none; }
#online li { overflow-wrap: anywhere; }
#online .me { font-weight: 600; }
form { padding: .5em 1em; border-top: 1px solid #d8dce3; background: #fff; }
#text { width: 100%; padding: .5em; font: inherit; border: 1px solid #b9bfca; border-radius: .3em; }
`;

/** The page's script (`/chat.js`): the WebSocket, the message list, who is online, reconnecting. */
export const CHAT_JS = `"use strict";
(() => {
  const chat = document.body.dataset.mode === "chat";
  const list = document.getElementById("messages");
  const online = document.getElementById("online");
  const status = document.getElementById("status");
  const input = document.getElementById("text");
  const people = new Set();
  let me = "";
  let socket;
  let delay = 500;
  let quietWho = false;
  let leaving = false;

  function setStatus(kind, text) {
    status.className = kind;
    status.textContent = text;
  }

  function show(kind, name, text) {
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    const li = document.createElement("li");
    li.className = kind;
    if (name !== undefined) {
      const who = document.createElement("span");
      who.className = "name";
      who.textContent = name;
      li.append(who);
    }
    li.append(document.createTextNode(text));
    list.append(li);
    while (list.childElementCount > 2000) list.firstElementChild.remove();
    if (atBottom) list.scrollTop = list.scrollHeight;
  }

  function drawPeople() {
    online.replaceChildren(...[...people].map((name) => {
      const li = document.createElement("li");
      li.textContent = name;
      if (name === me) li.className = "me";
      return li;
    }));
  }

  /** Follows who is here from the room's notices; true when the line is the answer to our own /who. */
  function follow(text) {
    let m;
    if ((m = /^\\* welcome (\\S+), /.exec(text))) {
      me = m[1];
      people.clear();
      people.add(me);
      quietWho = true;
      socket.send("/who");
    } else if ((m = /^\\* \\d+ here: (.*?)( \\(other servers unreachable\\))?$/.exec(text))) {
      people.clear();
      for (const name of m[1].split(", ")) if (name) people.add(name);
      if (quietWho) {
        quietWho = false;
        drawPeople();
        return true;
      }
    } else if ((m = /^\\* (\\S+) joined$/.exec(text))) {
      people.add(m[1]);
    } else if ((m = /^\\* (\\S+) left( \\(.*\\))?$/.exec(text))) {
      people.delete(m[1]);
    } else if ((m = /^\\* (\\S+) is now (\\S+)$/.exec(text))) {
      people.delete(m[1]);
      people.add(m[2]);
      if (m[1] === me) me = m[2];
    }
    drawPeople();
    return false;
  }

  function receive(line) {
    if (!chat) return show("line", undefined, line);
    const m = /^<([^>]*)> ([\\s\\S]*)$/.exec(line);
    if (m) return show("line", m[1], m[2]);
    if (line.startsWith("* ")) {
      if (follow(line)) return;
      return show("notice", undefined, line.slice(2));
    }
    show("notice problem", undefined, line);
  }

  function connect() {
    setStatus("connecting", "connecting…");
    const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
    socket = new WebSocket(url);
    let opened = false;
    socket.onopen = () => {
      opened = true;
      delay = 500;
      setStatus("connected", "connected");
    };
    socket.onmessage = (e) => receive(typeof e.data === "string" ? e.data : "(binary message)");
    socket.onclose = (e) => {
      people.clear();
      me = "";
      drawPeople();
      if (leaving) return setStatus("disconnected", "left: reload the page to join again");
      const why = e.reason || (opened ? "connection lost" : "server unreachable");
      const wait = Math.round(delay * (0.75 + Math.random() / 2));
      show("notice problem", undefined, "disconnected: " + why + "; reconnecting in " + (wait / 1000).toFixed(1) + " s");
      setStatus("disconnected", "disconnected: " + why);
      setTimeout(connect, wait);
      delay = Math.min(delay * 2, 15000);
    };
  }

  document.getElementById("send").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = input.value;
    if (text === "") return;
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      show("notice problem", undefined, "not connected: not sent");
      return;
    }
    socket.send(text);
    input.value = "";
    const command = chat && text.startsWith("/") && !text.startsWith("//");
    if (command && /^\\/quit\\b/.test(text)) leaving = true;
    if (!command) show("line me", chat ? me : undefined, chat && text.startsWith("//") ? text.slice(1) : text);
  });

  connect();
})();
`;

/** The chat page for `mode` (the mode's name is the only thing put in, and it is one of sockkit's own). */
export function chatPage(mode: "chat" | "broadcast"): string {
  return PAGE_HTML.replaceAll("{{MODE}}", mode);
}
