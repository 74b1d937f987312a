/** Chat against hostile members: terminal control sequences in relayed lines, and names that hide or impersonate. */
import assert from "node:assert/strict";
import { nameKey, nameProblem, scriptsOf } from "../lib/modes/names.ts";
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

    await mallory.send("/\x1b[2J\n");
    assert.match(
      (await mallory.rawLine())!,
      /^\* unknown command \/\\x1b\[2J: /,
      "a command is quoted back escaped",
    );

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

Deno.test("chat: /nick refuses invisible, filler and mixed-script names with a notice naming the rule", async () => {
  const server = await startServer({ mode: "chat" });
  const alice = await join(server, /welcome user1/);
  const mallory = await join(server, /welcome user2/);
  try {
    assert.equal(await alice.line(), "* user2 joined");
    await alice.send("/nick alice\n");
    assert.equal(await alice.line(), "* user1 is now alice");
    assert.equal(await mallory.line(), "* user1 is now alice");

    const invisible = (shown: string, code: string, what = "an invisible character") =>
      `* '${shown}' is not a name: ${code} is ${what}; use visible letters, digits, '_', '-' or '.'`;
    const refused: [string, string][] = [
      ["\u3164", invisible("\\u3164", "U+3164")],
      ["\u1160", invisible("\\u1160", "U+1160")],
      ["\u115f\u115f", invisible("\\u115f\\u115f", "U+115F")],
      ["\uffa0", invisible("\\uffa0", "U+FFA0")],
      ["alice\u3164", invisible("alice\\u3164", "U+3164")],
      ["al\u200bice", invisible("al\\u200bice", "U+200B")],
      ["ali\u00adce", invisible("ali\\u00adce", "U+00AD")],
      ["bob\ufe0f", invisible("bob\\ufe0f", "U+FE0F")],
      ["bob\u034f", invisible("bob\\u034f", "U+034F")],
      ["\u17b4bob", invisible("\\u17b4bob", "U+17B4")],
      ["bob\u180b", invisible("bob\\u180b", "U+180B")],
      ["bob\u{e0041}", invisible("bob\\u{e0041}", "U+E0041")],
      ["\u202ebob", invisible("\\u202ebob", "U+202E")],
      ["bob\x1b[2J", invisible("bob\\x1b[2J", "U+001B", "a control character")],
      [
        "\u0430lice",
        "* '\u0430lice' is not a name: it mixes scripts (Cyrillic and Latin); use letters of one script",
      ],
      [
        "\u03b1lice",
        "* '\u03b1lice' is not a name: it mixes scripts (Greek and Latin); use letters of one script",
      ],
      ["ALICE", "* ALICE is taken: pick another name"],
      ["\uff41\uff4c\uff49\uff43\uff45", "* \uff41\uff4c\uff49\uff43\uff45 is taken: pick another name"],
    ];
    for (const [name, notice] of refused) {
      await mallory.send(`/nick ${name}\n`);
      assert.equal(await mallory.line(), notice, `/nick ${JSON.stringify(name)}`);
    }
    await mallory.send("/nick \u3000\u3000\n");
    assert.equal(await mallory.line(), "* usage: /nick NAME", "a whitespace-only name is no name");
    await mallory.send("/who\n");
    assert.equal(await mallory.line(), "* 2 here: alice, user2", "every refusal left the name as it was");

    // one script, with digits, '_', '-' and '.' (Common) is fine; so are Japanese kana with kanji
    for (const name of ["\u0410\u043b\u0438\u0441\u0430_2", "\u5c71\u7530\u305f\u308d\u3046", "m-4.x"]) {
      await mallory.send(`/nick ${name}\n`);
      assert.match(await mallory.line(), new RegExp(`is now ${name.replace(".", "\\.")}$`));
    }
    await mallory.send("/who\n");
    assert.equal(await mallory.line(), "* 2 here: alice, m-4.x");
    assert.deepEqual(
      transcript(server).filter((t) => t.includes(" is now ")),
      [
        "* user1 is now alice",
        "* user2 is now \u0410\u043b\u0438\u0441\u0430_2",
        "* \u0410\u043b\u0438\u0441\u0430_2 is now \u5c71\u7530\u305f\u308d\u3046",
        "* \u5c71\u7530\u305f\u308d\u3046 is now m-4.x",
      ],
      "no refused name was ever announced",
    );
    assert.equal(
      await alice.line(),
      "* user2 is now \u0410\u043b\u0438\u0441\u0430_2",
      "alice heard only real renames",
    );
  } finally {
    alice.close();
    mallory.close();
    await server.stop();
  }
});

Deno.test("chat: names are taken case-insensitively, with ß as ss and fullwidth letters as ASCII", async () => {
  const server = await startServer({ mode: "chat" });
  const a = await join(server, /welcome user1/);
  const b = await join(server, /welcome user2/);
  try {
    await a.send("/nick Stra\u00dfe\n");
    await a.until(/is now Stra\u00dfe$/);
    await b.until(/is now Stra\u00dfe$/);
    for (const name of ["STRASSE", "strasse", "\uff33\uff54\uff52\uff41\uff53\uff53\uff45"]) {
      await b.send(`/nick ${name}\n`);
      assert.equal(await b.until(/taken|is now/), `* ${name} is taken: pick another name`);
    }
    await b.send("/nick USER2\n");
    assert.equal(await b.line(), "* user2 is now USER2", "a member may change the case of its own name");
  } finally {
    a.close();
    b.close();
    await server.stop();
  }
});

Deno.test("chat names: one script each, with the scripts that are written together allowed together", () => {
  assert.equal(nameProblem("\uae40\ucca0\uc218"), undefined, "Korean (Hangul)");
  assert.equal(nameProblem("\u91d1\ucca0\uc218"), undefined, "Korean Hanja with Hangul");
  assert.equal(nameProblem("\u5c0f\u660e\u3105"), undefined, "Chinese with Bopomofo");
  assert.equal(nameProblem("\u05d3\u05e0\u05d4_7"), undefined, "Hebrew with a digit");
  assert.equal(
    nameProblem("bob\u5c71"),
    "'bob\u5c71' is not a name: it mixes scripts (Han and Latin); use letters of one script",
  );
  assert.equal(
    nameProblem("a\u0430\u03b1"),
    "'a\u0430\u03b1' is not a name: it mixes scripts (Cyrillic, Greek, Latin); use letters of one script",
  );
  assert.match(nameProblem("x".repeat(33))!, /is not a name: use 1 to 32 letters/);
  assert.deepEqual(scriptsOf("\u0430lice_1"), ["Cyrillic", "Latin"]);
  assert.equal(nameKey("\uff21lice"), nameKey("ALICE"));
});
