import assert from "node:assert/strict";
import { runClient } from "../client.ts";
import type { ClientEvent } from "../lib/report/events.ts";
import { runCli, spawnCli, startServer } from "./_helpers.ts";
import { CapturedOutput, LinePeer, ScriptedInput } from "./_peer.ts";

const endpoint = (port: number) => ({ transport: "tcp" as const, hostname: "127.0.0.1", port });

Deno.test("interactive: piped lines go to the chat, and what arrives is printed line by line", async () => {
  const server = await startServer({ mode: "chat" });
  const input = new ScriptedInput();
  const out = new CapturedOutput();
  const events: ClientEvent[] = [];
  const running = runClient({ endpoint: endpoint(server.port), mode: "interactive" }, {
    stdin: input,
    stdout: out,
    onEvent: (e) => events.push(e),
  });
  const bob = await LinePeer.connect(server.port);
  try {
    await out.waitFor(/\* user2 joined\n$/);
    await bob.line();
    input.push("/nick ann\nhello bob\n");
    assert.equal(await bob.line(), "* user1 is now ann");
    assert.equal(await bob.line(), "<ann> hello bob");
    await bob.send("/nick bob\nhi ann\n");
    assert.equal(await bob.line(), "* user2 is now bob");
    await out.waitFor(/<bob> hi ann\n$/);
    input.end();
    const summary = await running;
    assert.equal(await bob.line(), "* ann left");
    assert.equal(
      out.text,
      [
        "* welcome user1, 0 others here (/nick NAME to rename, /who to list, /quit to leave)",
        "* user2 joined",
        "* user1 is now ann",
        "* user2 is now bob",
        "<bob> hi ann",
        "",
      ].join("\n"),
    );
    assert.equal(summary.bytesSent, "/nick ann\nhello bob\n".length);
    assert.equal(events.at(-2)?.type, "eof", "the end of the session is reported");
  } finally {
    bob.close();
    await server.stop();
  }
});

Deno.test("interactive: a line that arrives in pieces is printed whole", async () => {
  const server = await startServer({ mode: "broadcast" });
  const input = new ScriptedInput();
  const writes: string[] = [];
  const stdout = {
    write: (p: Uint8Array) => (writes.push(new TextDecoder().decode(p)), Promise.resolve(p.length)),
  };
  let firstPiece: () => void;
  const gotFirstPiece = new Promise<void>((r) => (firstPiece = r));
  const running = runClient({ endpoint: endpoint(server.port), mode: "interactive", hex: true }, {
    stdin: input,
    stdout,
    onEvent: (e) => e.type === "hex" && e.direction === "recv" && firstPiece(),
  });
  const sender = await LinePeer.connect(server.port);
  try {
    let connects = 0;
    await server.waitFor((e) => e.type === "connect" && ++connects === 2);
    await sender.send("par");
    await gotFirstPiece;
    assert.deepEqual(writes, [], "half a line is held back");
    await sender.send("tial\nlast without end");
    sender.close();
    await server.waitFor((e) => e.type === "disconnect");
    input.end();
    await running;
    assert.deepEqual(writes, ["partial\n", "last without end"]);
  } finally {
    sender.close();
    await server.stop();
  }
});

Deno.test("interactive on a terminal: keystrokes are edited locally; arriving lines print above the typing", async () => {
  const server = await startServer({ mode: "chat" });
  const keys = new ScriptedInput();
  const out = new CapturedOutput();
  const rawModes: boolean[] = [];
  const running = runClient({ endpoint: endpoint(server.port), mode: "interactive" }, {
    stdin: keys,
    stdout: out,
    terminal: { setRaw: (raw) => rawModes.push(raw) },
  });
  const bob = await LinePeer.connect(server.port);
  try {
    await out.waitForEnd("* user2 joined\r\n\r\x1b[K> ");
    await bob.line();
    keys.push("hi bpb");
    keys.push("\x7f\x7fob\r");
    assert.equal(await bob.line(), "<user1> hi bob");
    keys.push("draft");
    await out.waitFor(/> draft$/);
    await bob.send("yo \x1b[2Jthere\n");
    await out.waitForEnd("\r\x1b[K<user2> yo \\x1b[2Jthere\r\n\r\x1b[K> draft");
    keys.push("\x15\x04");
    await running;
    assert.deepEqual(rawModes, [true, false], "the terminal is put back as it was");
    assert.equal(await bob.line(), "* user1 left");
  } finally {
    bob.close();
    keys.end();
    await server.stop();
  }
});

Deno.test("interactive on a terminal: bidi overrides and zero-width characters from the server are escaped", async () => {
  // broadcast relays bytes untouched, so what reaches the client is exactly what the sender sent
  const server = await startServer({ mode: "broadcast" });
  const keys = new ScriptedInput();
  const out = new CapturedOutput();
  const running = runClient({ endpoint: endpoint(server.port), mode: "interactive" }, {
    stdin: keys,
    stdout: out,
    terminal: { setRaw: () => {} },
  });
  const sender = await LinePeer.connect(server.port);
  try {
    let connects = 0;
    await server.waitFor((e) => e.type === "connect" && ++connects === 2);
    await sender.send(
      "<alice> \u202etxt.exe\u202c zero\u200bwidth\u2060join \ufeffbom tag\u{e0041}\u{e007f}\r\n",
    );
    await sender.send("\x1b]0;title\x07\x1b[1G\x08 \u2067rtl\u2069\n");
    await sender.send("end\n");
    await out.waitForEnd("end\r\n\r\x1b[K> ");
    const shown = out.text.replaceAll("\r\x1b[K> ", "").replaceAll("\r\x1b[K", "");
    assert.ok(
      shown.endsWith(
        "<alice> \\u202etxt.exe\\u202c zero\\u200bwidth\\u2060join \\ufeffbom tag\\u{e0041}\\u{e007f}\r\n" +
          "\\x1b]0;title\\x07\\x1b[1G\\x08 \\u2067rtl\\u2069\r\nend\r\n",
      ),
      JSON.stringify(shown),
    );
    // deno-lint-ignore no-control-regex
    assert.doesNotMatch(out.text, /[\u202e\u202c\u200b\u2060\ufeff\u2067\u2069\u{e0041}\x07\x08]|\x1b\]/u);
    keys.push("\x04");
    await running;
  } finally {
    sender.close();
    keys.end();
    await server.stop();
  }
});

Deno.test("CLI: sockkit client -I against sockkit server --mode chat", async () => {
  const server = spawnCli(["server", "0", "--host", "127.0.0.1", "--mode", "chat"]);
  try {
    const port = (await server.line(/^Listening on/)).match(/:(\d+) /)![1];
    const client = await runCli(["client", "127.0.0.1", port, "-I"], {
      stdin: new TextEncoder().encode("/nick zed\r\n/who\r\n"),
    });
    assert.equal(client.code, 0, client.stderr);
    assert.equal(
      client.stdout,
      "* welcome user1, 0 others here (/nick NAME to rename, /who to list, /quit to leave)\n" +
        "* user1 is now zed\r\n* 1 here: zed\r\n",
    );
    assert.match(
      client.stderr,
      /^Connected to 127\.0\.0\.1:\d+ in .*; Enter sends a line, Ctrl-D leaves$/m,
    );
    assert.match(client.stderr, /Server closed the connection\n$/);
    await server.line(/^\* zed left$/);
    assert.ok(server.lines.includes("* user1 is now zed"));
  } finally {
    const stopped = await server.stop();
    assert.equal(stopped.code, 0, stopped.stderr);
  }
});

Deno.test("CLI: --interactive with a message or --repeat is a usage error", async () => {
  const r = await runCli(["client", "127.0.0.1", "1234", "hello", "-I"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^sockkit: --interactive takes no message, --repeat or --count/);
});
