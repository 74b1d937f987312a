import assert from "node:assert/strict";
import { LineReader, type LineResult } from "../lib/core/framing.ts";

/** A reader that returns the given chunks one read at a time (each cut to the buffer offered). */
function chunks(...parts: (string | Uint8Array)[]) {
  const queue = parts.map((p) => (typeof p === "string" ? new TextEncoder().encode(p) : p));
  return {
    reads: 0,
    read(buf: Uint8Array): Promise<number | null> {
      this.reads++;
      const next = queue.shift();
      if (!next) return Promise.resolve(null);
      const n = Math.min(buf.length, next.length);
      buf.set(next.subarray(0, n));
      if (n < next.length) queue.unshift(next.subarray(n));
      return Promise.resolve(n);
    },
  };
}

async function all(reader: LineReader): Promise<(string | LineResult)[]> {
  const out: (string | LineResult)[] = [];
  for (let r = await reader.next(); r; r = await reader.next()) {
    out.push(r.kind === "line" ? `${new TextDecoder().decode(r.line)}|${JSON.stringify(r.eol)}` : r);
  }
  return out;
}

Deno.test("framing: \\n, \\r\\n and a lone \\r all end a line, and the end is reported", async () => {
  const lines = await all(new LineReader(chunks("one\ntwo\r\nthree\rfour"), 100));
  assert.deepEqual(lines, ['one|"\\n"', 'two|"\\r\\n"', 'three|"\\r"', 'four|""']);
});

Deno.test("framing: a \\r\\n split across reads is one line end, and telnet's \\r NUL too", async () => {
  const lines = await all(new LineReader(chunks("a\r", "\nb\r", "\0c\r\0", "d\n"), 100));
  assert.deepEqual(lines, ['a|"\\r"', 'b|"\\r"', 'c|"\\r"', 'd|"\\n"']);
});

Deno.test("framing: empty lines are lines", async () => {
  assert.deepEqual(await all(new LineReader(chunks("\n\r\n\n"), 100)), ['|"\\n"', '|"\\r\\n"', '|"\\n"']);
});

Deno.test("framing: a line of exactly --max-line bytes passes; one byte more is refused, then reading goes on", async () => {
  const max = 10;
  const source = chunks("x".repeat(10) + "\n", "y".repeat(6), "y".repeat(6), "yyyy\r\nok\n");
  const lines = await all(new LineReader(source, max));
  assert.deepEqual(lines, [`${"x".repeat(10)}|"\\n"`, { kind: "tooLong", maxLine: 10 }, 'ok|"\\n"']);
});

Deno.test("framing: an endless line is refused once and never held whole", async () => {
  const max = 1024;
  let served = 0;
  const endless = {
    read(buf: Uint8Array): Promise<number | null> {
      if (served >= 10 * 1024 * 1024) return Promise.resolve(null);
      assert.ok(buf.length <= max + 1, `read buffer of ${buf.length} bytes exceeds the cap`);
      buf.fill(0x61);
      served += buf.length;
      return Promise.resolve(buf.length);
    },
  };
  const results = await all(new LineReader(endless, max));
  assert.deepEqual(results, [{ kind: "tooLong", maxLine: max }]);
  assert.ok(served >= 10 * 1024 * 1024);
});

Deno.test("framing: a long line that fits is assembled from many small reads", async () => {
  const long = "z".repeat(50_000);
  const parts = long.match(/.{1,700}/g)!;
  const lines = await all(new LineReader(chunks(...parts, "\n", "next\n"), 64 * 1024));
  assert.deepEqual(lines, [`${long}|"\\n"`, 'next|"\\n"']);
});
