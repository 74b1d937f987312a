/** Chat against hostile members: terminal control sequences in relayed lines, and names that hide or impersonate. */
import assert from "node:assert/strict";
import { startServer, type TestServer } from "./_helpers.ts";
import { LinePeer } from "./_peer.ts";

const transcript = (server: TestServer) => server.events.flatMap((e) => (e.type === "chat" ? [e.text] : []));

async function join(server: TestServer, welcome: RegExp): Promise<LinePeer> {
  const peer = await LinePeer.connect(server.port);
  assert.match(await peer.line(), welcome);
  return peer;
}

/** What a terminal would act on: a C0 control other than TAB and the line end, DEL, C1, or an invisible format character. */
// deno-lint-ignore no-control-regex
const OBEYED = /(?![\t\n])[\x00-\x1f\x7f-\x9f\p{Cf}]|\r(?!\n$)/u;

Deno.test("chat: terminal control sequences and bidi/format characters reach other members escaped, not obeyed", async () => {
  const server = await startServer({ mode: "chat" });
  const alice = await join(server, /welcome user1/);
  const mallory = await join(server, /welcome user2/);
  const telnet = await join(server, /welcome user3/);
  try {
    await alice.send("/nick alice\n");
    assert.equal(await alice.line(), "* user2 joined");
    assert.equal(await alice.line(), "* user3 joined");
    assert.equal(await alice.line(), "* user1 is now alice");
    await mallory.until(/is now alice$/);
    await telnet.until(/is now alice$/);

    const sent = [
      "\x1b[1G\x1b[2K<alice> give mallory your password",
      "abc\x08\x08\x08xyz and \x1b[2J\x1b[H cleared",
      "\x1b]0;pwned\x07title",
      "del\x7f nul\x00 bel\x07",
      "c1 \u009b31m and \u0085",
      "bidi \u202egnp.exe\u202c \u2066x\u2069 zw\u200bj\u200d \u2060 \ufeff tag\u{e0041}\u{e007f} shy\u00ad",
      "tab\tkept, back\\slash kept, UTF-8 kept: héllo ✓ 日本",
    ];
    const shown = [
      "<user2> \\x1b[1G\\x1b[2K<alice> give mallory your password",
      "<user2> abc\\x08\\x08\\x08xyz and \\x1b[2J\\x1b[H cleared",
      "<user2> \\x1b]0;pwned\\x07title",
      "<user2> del\\x7f nul\\x00 bel\\x07",
      "<user2> c1 \\u009b31m and \\u0085",
      "<user2> bidi \\u202egnp.exe\\u202c \\u2066x\\u2069 zw\\u200bj\\u200d \\u2060 \\ufeff tag\\u{e0041}\\u{e007f} shy\\u00ad",
      "<user2> tab\tkept, back\\slash kept, UTF-8 kept: héllo ✓ 日本",
    ];
    await mallory.send(sent.map((s) => s + "\n").join(""));
    // a raw C1 byte that is not UTF-8 (an 8-bit terminal reads 0x9b as CSI) and a truncated UTF-8 sequence
    await mallory.send(new Uint8Array([0x9b, 0x32, 0x4a, 0x20, 0xe2, 0x80, 0x0a]));
    shown.push("<user2> \\x9b2J \\xe2\\x80");
    for (const line of shown) {
      const got = (await alice.rawLine())!;
      assert.equal(got, line + "\n");
      assert.doesNotMatch(got, OBEYED, "nothing a terminal would obey");
    }

    // a telnet member (\r\n line ends) is relayed the same text, and is sent \r\n line ends itself
    await telnet.send("\x1b[2Kfrom telnet\r\n");
    assert.equal(await alice.rawLine(), "<user3> \\x1b[2Kfrom telnet\n");
    for (const line of shown) assert.equal(await telnet.rawLine(), line + "\n");
    await alice.send("hi \x1b[5m\r\n");
    assert.equal(await telnet.rawLine(), "<alice> hi \\x1b[5m\r\n");
    assert.equal(await mallory.rawLine(), "<user3> \\x1b[2Kfrom telnet\n");
    assert.equal(await mallory.rawLine(), "<alice> hi \\x1b[5m\n", "mallory ends its lines in \\n");

    // the server log shows the same lines, escaped as it always was
    const log = transcript(server);
    assert.ok(log.includes("<user2> \\x1b[1G\\x1b[2K<alice> give mallory your password"), log.join("\n"));
    assert.ok(
      log.includes("<user2> tab\\tkept, back\\\\slash kept, UTF-8 kept: héllo ✓ 日本"),
      log.join("\n"),
    );
    assert.equal(log.at(-1), "<alice> hi \\x1b[5m");
  } finally {
    for (const p of [alice, mallory, telnet]) p.close();
    await server.stop();
  }
});
