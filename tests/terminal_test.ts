import assert from "node:assert/strict";
import { LineEditor, textForTerminal, WholeLines } from "../lib/client/terminal.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

Deno.test("line editor: typing, backspace over UTF-8, Enter sends the line with \\n", () => {
  const editor = new LineEditor();
  const typed = editor.feed(enc("hé\x7fey\r"));
  assert.deepEqual(typed.send.map(dec), ["hey\n"]);
  assert.equal(typed.eof, false);
  assert.ok(typed.echo.endsWith("\r\x1b[K> "), "a fresh prompt after the line is sent");
  assert.ok(typed.echo.includes("> hey\r\n"), "the sent line stays on screen");
});

Deno.test("line editor: \\r\\n is one Enter; arrow keys are ignored; Ctrl-U erases the line", () => {
  const editor = new LineEditor();
  assert.deepEqual(editor.feed(enc("a\r\nb\n")).send.map(dec), ["a\n", "b\n"]);
  assert.deepEqual(editor.feed(enc("x\x1b[Dy\x1bOA\x15z\r")).send.map(dec), ["z\n"]);
});

Deno.test("line editor: Ctrl-D ends input only on an empty line", () => {
  const editor = new LineEditor();
  assert.equal(editor.feed(enc("abc\x04")).eof, false);
  assert.equal(editor.render(), "\r\x1b[K> abc");
  assert.equal(editor.feed(enc("\x15\x04")).eof, true);
});

Deno.test("line editor: text that arrives is printed above the line being typed", () => {
  const editor = new LineEditor();
  editor.feed(enc("half"));
  assert.equal(editor.showAbove("<bob> hi\r\n"), "\r\x1b[K<bob> hi\r\n\r\x1b[K> half");
});

Deno.test("terminal text: control characters are shown, not obeyed; line ends become \\r\\n", () => {
  assert.equal(textForTerminal(enc("a\x1b[31mred\r\nb\n")), "a\\x1b[31mred\r\nb\r\n");
  assert.equal(
    textForTerminal(new Uint8Array([0xff, 0x0a])),
    "\\xff\r\n",
    "a byte that is not UTF-8 is shown",
  );
});

Deno.test("terminal text: bidi overrides, zero-width and tag characters are shown as escapes, tabs kept", () => {
  assert.equal(
    textForTerminal(enc("\u202egnp.exe \u200bzw\u2060j \ufeffbom tag\u{e0041}\u{e007f}\tx\\y\r\n")),
    "\\u202egnp.exe \\u200bzw\\u2060j \\ufeffbom tag\\u{e0041}\\u{e007f}\tx\\y\r\n",
  );
  assert.equal(textForTerminal(enc("\ufeffstart\n\u2066\n")), "\\ufeffstart\r\n\\u2066\r\n");
  assert.equal(textForTerminal(enc("c1 \u009b2J \u0085 del\x7f\n")), "c1 \\u009b2J \\u0085 del\\x7f\r\n");
  assert.equal(
    textForTerminal(enc("lone\rcr\n")),
    "lone\\rcr\r\n",
    "a \\r that ends no line cannot overwrite it",
  );
});

Deno.test("whole lines: partial lines wait for their end; an endless line is released in pieces", () => {
  const lines = new WholeLines(8);
  assert.equal(dec(lines.push(enc("one\ntw"))), "one\n");
  assert.equal(dec(lines.push(enc("o"))), "");
  assert.equal(dec(lines.push(enc("\nthree"))), "two\n");
  assert.equal(dec(lines.rest()), "three");
  assert.equal(dec(lines.push(enc("0123456789"))), "0123456789", "over 8 bytes without a line end");
  assert.equal(dec(lines.rest()), "");
});
