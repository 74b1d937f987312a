import assert from "node:assert/strict";
import { formatHostPort, parseHost, parsePort } from "../lib/endpoints/address.ts";
import { formatDuration, parseDuration } from "../lib/core/duration.ts";
import { networkReason, SockkitError, toNetworkError, UsageError } from "../lib/core/errors.ts";
import { escapeBytes, formatBytes, textForScreen } from "../lib/core/format.ts";
import { formatClientEvent, formatServerEvent } from "../lib/report/reporter.ts";
import { MAX_HELD_BYTES, ReplyTracker } from "../lib/client/replies.ts";
import { RttAccumulator } from "../lib/core/stats.ts";

const bytes = (s: string) => new TextEncoder().encode(s);

Deno.test("parsePort accepts 0–65535 and names what it expects otherwise", () => {
  assert.equal(parsePort("0"), 0);
  assert.equal(parsePort("65535"), 65535);
  for (const bad of ["", "-1", "65536", "12.5", "0x10", "http", "1e3"]) {
    assert.throws(() => parsePort(bad), (e) => e instanceof UsageError && e.message.includes(`'${bad}'`));
  }
  assert.throws(() => parsePort("0", { allowZero: false }), /from 1 to 65535/);
});

Deno.test("parseHost strips IPv6 brackets and refuses blanks", () => {
  assert.equal(parseHost("[::1]"), "::1");
  assert.equal(parseHost("example.org"), "example.org");
  assert.throws(() => parseHost(""), UsageError);
  assert.throws(() => parseHost("a b"), UsageError);
  assert.equal(formatHostPort("::1", 80), "[::1]:80");
  assert.equal(formatHostPort("10.1.2.3", 80), "10.1.2.3:80");
});

Deno.test("parseDuration reads ms, s, m, h and bare seconds", () => {
  assert.equal(parseDuration("500ms"), 500);
  assert.equal(parseDuration("5s"), 5000);
  assert.equal(parseDuration("2m"), 120_000);
  assert.equal(parseDuration("1.5"), 1500);
  assert.throws(() => parseDuration("soon", "--timeout"), /invalid --timeout 'soon'/);
  assert.equal(formatDuration(0.2134), "0.213 ms");
  assert.equal(formatDuration(65_000), "1m 05s");
});

Deno.test("escapeBytes keeps printable text and UTF-8, escapes the rest", () => {
  assert.equal(escapeBytes(bytes("héllo wörld ✓")), "héllo wörld ✓");
  assert.equal(escapeBytes(new Uint8Array([0x61, 0x0d, 0x0a, 0x09, 0x5c])), "a\\r\\n\\t\\\\");
  assert.equal(escapeBytes(new Uint8Array([0xc3])), "\\xc3", "a truncated UTF-8 sequence");
  assert.equal(escapeBytes(new Uint8Array([0xc2, 0x85])), "\\xc2\\x85", "a C1 control character");
  assert.equal(
    escapeBytes(bytes("\ufeffbom")),
    "\\xef\\xbb\\xbfbom",
    "a BOM at the start is shown, not dropped",
  );
  assert.equal(formatBytes(1536), "1.5 KiB");
});

Deno.test("textForScreen escapes what escapeBytes does, by code point, keeping TAB and backslash", () => {
  assert.equal(textForScreen(bytes("héllo\tC:\\dir ✓")), "héllo\tC:\\dir ✓");
  assert.equal(textForScreen(bytes("\x1b[2J\x08\x7f\u0085\r\n")), "\\x1b[2J\\x08\\x7f\\u0085\\r\\n");
  assert.equal(
    textForScreen(bytes("\u202e\u2066\u200b\u2060\ufeff\u00ad\u{e0041}")),
    "\\u202e\\u2066\\u200b\\u2060\\ufeff\\u00ad\\u{e0041}",
  );
  assert.equal(
    textForScreen(new Uint8Array([0x9b, 0x61, 0xe2, 0x80])),
    "\\x9ba\\xe2\\x80",
    "bytes that are not UTF-8",
  );
  assert.equal(textForScreen(new Uint8Array([0xff, 0xe2, 0x80, 0xae])), "\\xff\\u202e");
});

Deno.test("network errors become one-line messages with advice", () => {
  const inUse = toNetworkError(new Deno.errors.AddrInUse("x"), "listen", "0.0.0.0:1234");
  assert.equal(
    inUse.message,
    "cannot listen on 0.0.0.0:1234: address already in use (try another port, or stop the process using it)",
  );
  const denied = toNetworkError(new Deno.errors.PermissionDenied("x"), "listen", "0.0.0.0:80");
  assert.match(denied.message, /^cannot listen on 0\.0\.0\.0:80: permission denied \(ports below 1024/);
  assert.equal(denied.exitCode, 1);
  assert.equal(networkReason(new Deno.errors.ConnectionReset("x")), "connection reset by peer");
  const already = new SockkitError("kept");
  assert.equal(toNetworkError(already, "connect", "x"), already);
});

Deno.test("ReplyTracker matches replies by stream offset and skips late bytes of a lost one", async () => {
  const t = new ReplyTracker();
  const first = t.expect(0, 5, 50);
  await assert.rejects(first, /no complete reply within 50 ms \(got 0 of 5 bytes\)/);
  const second = t.expect(5, 10, 1000);
  t.push(bytes("Hel"));
  t.push(bytes("loWor")); // the late end of reply 1, then the start of reply 2
  t.push(bytes("ld"));
  assert.equal(new TextDecoder().decode(await second), "World");
  const third = t.expect(10, 15, 1000);
  t.end();
  await assert.rejects(third, /closed the connection before the full reply \(got 0 of 5 bytes\)/);
});

Deno.test("ReplyTracker keeps bytes that arrive before their message is expected, and counts them honestly", async () => {
  const text = (p: Promise<Uint8Array>) => p.then((b) => new TextDecoder().decode(b));
  const t = new ReplyTracker();
  const first = t.expect(0, 5, 1000);
  t.push(bytes("BANNER-Hel")); // a banner, then the start of the echo, all while only reply 1 is expected
  assert.equal(await text(first), "BANNE");
  t.push(bytes("lo"));
  assert.equal(await text(t.expect(5, 10, 1000)), "R-Hel", "bytes held from before the message was sent");
  await assert.rejects(t.expect(10, 15, 50), /no complete reply within 50 ms \(got 2 of 5 bytes\)/);
  // A server that sent everything and closed: what it sent is still handed out, then the end is reported.
  const closed = new ReplyTracker();
  closed.push(bytes("BANNER"));
  closed.end();
  assert.equal(await text(closed.expect(0, 5, 1000)), "BANNE");
  await assert.rejects(
    closed.expect(5, 10, 1000),
    /closed the connection before the full reply \(got 1 of 5 bytes\)/,
  );
  // Bytes no message asked for are held up to a limit; a reply whose bytes were dropped says so.
  const flood = new ReplyTracker();
  flood.push(new Uint8Array(MAX_HELD_BYTES + 10));
  await assert.rejects(
    flood.expect(0, 5, 1000),
    /reply not kept: the server sent over 1 MiB ahead of the messages/,
  );
  flood.push(bytes("Hello"));
  assert.equal(await text(flood.expect(MAX_HELD_BYTES + 10, MAX_HELD_BYTES + 15, 1000)), "Hello");
});

Deno.test("RttAccumulator gives ping's min/avg/max/mdev", () => {
  const r = new RttAccumulator();
  assert.equal(r.stats(), undefined);
  [1, 2, 3].forEach((v) => r.add(v));
  const s = r.stats()!;
  assert.deepEqual([s.min, s.avg, s.max], [1, 2, 3]);
  assert.ok(Math.abs(s.mdev - Math.sqrt(2 / 3)) < 1e-9);
});

Deno.test("reporter lines read like the classic server's log", () => {
  assert.equal(
    formatServerEvent({ type: "message", id: 1, peer: "127.0.0.1:5000", count: 3, bytes: 5 }, {
      verbose: true,
    }),
    "127.0.0.1:5000 3 (5 bytes)",
  );
  assert.equal(formatServerEvent({ type: "message", id: 1, peer: "p", count: 3, bytes: 5 }), undefined);
  assert.deepEqual(
    formatClientEvent({ type: "reply", seq: 2, bytes: 5, rttMs: 12.5, text: "Hello" }, { numbered: true }),
    ["2: Received: Hello (12.500 ms)"],
  );
  assert.deepEqual(
    formatClientEvent({ type: "reply", seq: 2, bytes: 5, rttMs: 350, text: "Hello", late: true }, {
      numbered: true,
    }),
    ["2: Received: Hello (350.000 ms) [late: came after it was counted lost; not counted]"],
  );
});
