import assert from "node:assert/strict";
import { writeAll } from "../lib/io.ts";
import { randomBytes } from "./_helpers.ts";
import { LinePeer } from "./_peer.ts";
import { IS_LINUX, rssKiB, spawnServer, within } from "./_proc.ts";

const MAX_LINE = 64 * 1024;
const ENDLESS = 64 * 1024 * 1024;
/** The stated bound: a 64 MiB line without an end may grow the server's RSS by less than this. */
const RSS_GROWTH_BOUND_KIB = 32 * 1024;

const text = (s: string) => new TextEncoder().encode(s);

Deno.test({
  name: "hostile input: chat: random bytes, NULs, invalid UTF-8, \\r-only lines, a 64 MiB endless line",
  ignore: !IS_LINUX,
  async fn() {
    const server = await spawnServer({
      args: ["--mode", "chat"],
      keep: (e) => e.type === "chat" || e.type === "note",
    });
    const peers: LinePeer[] = [];
    let sampling: ReturnType<typeof setInterval> | undefined;
    try {
      for (let i = 1; i <= 3; i++) {
        const peer = await LinePeer.connect(server.port);
        peers.push(peer);
        await peer.until(new RegExp(`^\\* welcome user${i},`));
      }
      const [observer, hostile, friend] = peers;
      const hostileHears = hostile.until(/^\* line too long/);

      await hostile.send(randomBytes(256 * 1024));
      await hostile.send("\nnul\0in\0the\0middle\n");
      await hostile.send(
        new Uint8Array([0x62, 0x61, 0x64, 0x20, 0xff, 0xfe, 0xc0, 0xaf, 0xed, 0xa0, 0x80, 0x0a]),
      );
      await hostile.send("one\rtwo\rthree\r");

      const baseline = await rssKiB(server.pid);
      let peak = baseline;
      sampling = setInterval(() => rssKiB(server.pid).then((r) => (peak = Math.max(peak, r)), () => {}), 50);
      const block = text("A".repeat(64 * 1024));
      for (let sent = 0; sent < ENDLESS; sent += block.length) await writeAll(hostile.conn, block);
      await hostile.send("\nnormal after all\n");
      await within(hostileHears, 20_000, "the too-long notice");
      clearInterval(sampling);
      peak = Math.max(peak, await rssKiB(server.pid));

      await friend.send("hello from friend\n");
      await within(observer.until(/^<user3> hello from friend$/), 20_000, "the friend's line");
      const heard = observer.lines.map((l) => l.replace(/\r?\n$/, ""));
      for (const line of ["<user2> nul\0in\0the\0middle", "<user2> one", "<user2> two", "<user2> three"]) {
        assert.ok(heard.includes(line), `the observer heard ${JSON.stringify(line)}`);
      }
      assert.ok(
        heard.some((l) => l.startsWith("<user2> bad \ufffd")),
        "the invalid UTF-8 line was passed on",
      );
      assert.ok(heard.includes("<user2> normal after all"), "the line after the endless one went through");
      assert.ok(
        heard.every((l) => l.length <= MAX_LINE + 20),
        "no line longer than --max-line was passed on",
      );
      assert.ok(!heard.some((l) => l.includes("AAAA")), "nothing of the endless line was passed on");

      const log = server.events.map((e) => String(e.text));
      assert.ok(
        log.every((l) => !/\p{Cc}/u.test(l)),
        "the server's transcript shows no raw control characters",
      );
      assert.ok(log.includes("<user2> nul\\x00in\\x00the\\x00middle"), "NULs are escaped in the transcript");
      assert.ok(log.includes("line over 65536 bytes refused (--max-line)"), "the refusal is logged");
      assert.ok(
        peak - baseline < RSS_GROWTH_BOUND_KIB,
        `server RSS went from ${baseline} KiB to ${peak} KiB during the endless line`,
      );
      for (const p of peers.splice(0)) p.close();
      const exit = await server.stop("SIGTERM");
      assert.equal(exit.code, 0, server.otherLines.join("\n"));
    } finally {
      clearInterval(sampling);
      for (const p of peers) p.close();
      await server.stop("SIGKILL");
    }
  },
});
