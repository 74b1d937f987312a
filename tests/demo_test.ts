import assert from "node:assert/strict";
import { type DemoCall, runDemo } from "../demo.ts";
import { runCli } from "./_helpers.ts";

const ROOT = new URL("../", import.meta.url);

/** One side's calls, in time order, as `call` or `call=result`. */
function side(calls: DemoCall[], which: "client" | "server"): string[] {
  return calls.filter((c) => c.side === which).map((c) =>
    c.result === undefined ? c.call : `${c.call}=${c.result}`
  );
}

/** What the line each call names must do: the call is made there. */
const MADE_BY: Record<DemoCall["call"], RegExp> = {
  bind: /listen\(|openDatagram\(/,
  listen: /listen\(/,
  accept: /\.accept\(\)/,
  connect: /connect/i,
  handshake: /\.handshake\(\)/,
  recv: /\.read\(/,
  send: /\.write\(/,
  recvfrom: /\.receive\(/,
  sendto: /\.send\(/,
  shutdown: /closeWrite/,
  close: /close/i,
};

/** Every call names a line of sockkit (`file:line`) that makes that call. */
async function assertSites(calls: DemoCall[]): Promise<void> {
  for (const c of calls) {
    assert.match(c.site ?? "", /^[\w/.]+\.ts:\d+$/, `${c.side} ${c.call} names its line`);
    const [file, line] = c.site!.split(":");
    const text = (await Deno.readTextFile(new URL(file, ROOT))).split("\n")[Number(line) - 1];
    assert.match(text, MADE_BY[c.call], `${c.site} makes ${c.call}: ${text.trim()}`);
  }
}

/** Times only go forward, on the one clock both sides share. */
function assertOrdered(calls: DemoCall[]): void {
  const times = calls.map((c) => c.us);
  assert.deepEqual(times, [...times].sort((a, b) => a - b));
}

Deno.test("demo TCP: bind, listen, accept on the right; connect on the left; send and recv on both", async () => {
  const { calls, server, client } = await runDemo({ transport: "tcp" });
  assert.deepEqual(side(calls, "server"), [
    "bind",
    "listen",
    "accept",
    "recv=5",
    "send=5",
    "recv=0",
    "close",
  ]);
  assert.deepEqual(side(calls, "client"), ["connect", "send=5", "recv=5", "close"]);
  const at = (s: string, call: string) => calls.find((c) => c.side === s && c.call === call)!.us;
  assert.ok(
    at("server", "listen") < at("client", "connect"),
    "the server listens before the client connects",
  );
  assertOrdered(calls);
  await assertSites(calls);
  assert.equal(client.received, 1);
  assert.equal(server.bytes, 5);
});

Deno.test("demo UDP: no listen, no accept, no connection: bind, then sendto and recvfrom", async () => {
  const { calls } = await runDemo({ transport: "udp", message: new TextEncoder().encode("Hi") });
  assert.deepEqual(side(calls, "server"), ["bind", "recvfrom=2", "sendto=2"]);
  assert.deepEqual(side(calls, "client"), ["bind", "sendto=2", "recvfrom=2"]);
  for (const none of ["listen", "accept", "connect", "send", "recv"]) {
    assert.equal(calls.some((c) => c.call === none), false, `no ${none} over UDP`);
  }
  assertOrdered(calls);
  await assertSites(calls);
});

Deno.test("demo TLS: the handshake sits between connect and the first send, on both sides", async () => {
  const { calls } = await runDemo({ transport: "tls" });
  assert.deepEqual(side(calls, "client"), ["connect", "handshake", "send=5", "recv=5", "close"]);
  assert.deepEqual(side(calls, "server"), [
    "bind",
    "listen",
    "handshake",
    "accept",
    "recv=5",
    "send=5",
    "recv=0",
    "close",
  ]);
  const server = calls.filter((c) => c.side === "server");
  assert.ok(server.find((c) => c.call === "handshake")!.site!.startsWith("lib/transports/tls/"));
  assertOrdered(calls);
  await assertSites(calls);
});

Deno.test("demo Unix socket and --count: the same calls as TCP, one send and recv per message", async () => {
  const { calls } = await runDemo({ transport: "unix", count: 2 });
  assert.deepEqual(side(calls, "client"), ["connect", "send=5", "recv=5", "send=5", "recv=5", "close"]);
  assert.deepEqual(side(calls, "server").slice(0, 3), ["bind", "listen", "accept"]);
  assert.deepEqual(side(calls, "server").slice(-2), ["recv=0", "close"]);
  await assertSites(calls);
});

Deno.test("demo CLI: columns with arrows, --json lines, and a one-line usage error (exit 2)", async () => {
  const help = await runCli(["--help"]);
  assert.match(help.stdout, /^ {2}demo \[options\] \[message\]/m);

  const text = await runCli(["demo", "Hi"]);
  assert.equal(text.code, 0, text.stderr);
  const rows = text.stdout.split("\n");
  assert.match(rows[1], /^ +µs {2}client +server +line$/);
  const row = (re: RegExp) => rows.find((l) => re.test(l)) ?? assert.fail(`no row ${re}:\n${text.stdout}`);
  const serverColumn = rows[1].indexOf("server");
  assert.match(row(/connect\(/), /^ +\d+ {2}connect\(127\.0\.0\.1:\d+\) +─+▶ +client\.ts:\d+$/);
  assert.match(row(/accept\(\)/), /─+▶ accept\(\) = 127\.0\.0\.1:\d+ +lib\/server\/accept\.ts:\d+$/);
  assert.equal(row(/accept\(\)/).indexOf("accept"), serverColumn, "the server's calls in the right column");
  assert.match(row(/◀─+ send\(2\)/), /^ +\d+ +◀─+ send\(2\) = 2 /, "the server's echo points left");

  const json = await runCli(["demo", "--udp", "--json"]);
  assert.equal(json.code, 0, json.stderr);
  const events = json.stdout.trim().split("\n").map((l) => JSON.parse(l));
  const calls = (which: string) => events.filter((e) => e.side === which).map((e) => e.call);
  assert.deepEqual(calls("server"), ["bind", "recvfrom", "sendto"]);
  assert.deepEqual(calls("client"), ["bind", "sendto", "recvfrom"]);
  assert.ok(events.every((e) => e.type === "call" && Number.isInteger(e.us) && /\.ts:\d+$/.test(e.site)));

  const bad = await runCli(["demo", "--udp", "--mode", "chat"]);
  assert.equal(bad.code, 2);
  assert.equal(bad.stderr, "sockkit: --mode chat does not work over UDP: use echo or discard\n");
  const two = await runCli(["demo", "--udp", "--tls"]);
  assert.equal(two.code, 2);
  assert.match(two.stderr, /^sockkit: --tls and --udp pick different transports: give one of them\n$/);
});
