import assert from "node:assert/strict";
import { type DemoCall, runDemo } from "../lib/demo/run.ts";
import { hasCommand, runCli } from "./_helpers.ts";

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
  assert.match(row(/connect\(/), /^ +\d+ {2}connect\(127\.0\.0\.1:\d+\) +─+▶ +lib\/client\/run\.ts:\d+$/);
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

const STRACE = hasCommand("strace") && hasCommand("python3");
const PEERS = new URL("./peers/", import.meta.url).pathname;

/** The AF_INET socket calls `strace -f -e trace=network` saw in `file`, by name and result. */
async function straced(file: string): Promise<string[]> {
  const calls: string[] = [];
  for (const line of (await Deno.readTextFile(file)).split("\n")) {
    const m = /^(?:\d+ +)?(bind|listen|accept4?|connect|sendto|recvfrom)\((\d+), (.*)\) += (-?\d+)/.exec(
      line,
    );
    if (!m || /AF_UNIX|AF_NETLINK|AF_INET6/.test(m[3])) continue;
    calls.push(["sendto", "recvfrom"].includes(m[1]) ? `${m[1]}=${m[4]}` : m[1].replace("accept4", "accept"));
  }
  return calls;
}

/** What sockkit calls each system call of the Python lesson (a stream socket's sendto is send, recvfrom recv). */
const AS_SOCKKIT: Record<string, string> = { sendto: "send", recvfrom: "recv" };

/** Reads `reader` until what it gave so far matches `re`; throws if it ends first. */
async function readUntil(
  reader: ReadableStreamDefaultReader<string>,
  re: RegExp,
  seen = "",
): Promise<string> {
  while (!re.test(seen)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`ended before ${re}: ${seen}`);
    seen += value;
  }
  return seen;
}

Deno.test({
  name:
    "demo and the lesson: the classic Python server and client (under strace) make sockkit's calls, call for call" +
    (STRACE ? "" : " (ignored: needs strace and python3)"),
  ignore: !STRACE,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "sockkit-strace-" });
    const trace = (file: string, script: string, arg: string) =>
      new Deno.Command("strace", {
        args: ["-f", "-e", "trace=network", "-o", `${dir}/${file}`, "python3", `${PEERS}${script}`, arg],
        stdout: "piped",
        stderr: "null",
      });
    const server = trace("server.txt", "classic_server.py", "0").spawn();
    const lines = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
    try {
      const out = await readUntil(lines, /listening on \d+\n/);
      const port = /listening on (\d+)/.exec(out)![1];
      const client = await trace("client.txt", "classic_client.py", port).output();
      assert.equal(new TextDecoder().decode(client.stdout), "Received: b'Hello, Kael2'\n");
      await readUntil(lines, / 1\n/, out); // the server's line for the message it received
      const { calls } = await runDemo({ message: new TextEncoder().encode("Hello, Kael2") });
      const ours = (which: "client" | "server") => side(calls, which).filter((c) => c !== "close");
      const theirs = async (file: string) =>
        (await straced(`${dir}/${file}`)).map((c) => c.replace(/^(sendto|recvfrom)/, (n) => AS_SOCKKIT[n]));
      assert.deepEqual(await theirs("client.txt"), ours("client"));
      // the Python server reads the end of the stream just after its client has closed: wait for that call
      let python = await theirs("server.txt");
      for (let i = 0; i < 100 && !python.includes("recv=0"); i++) {
        await new Promise((r) => setTimeout(r, 20));
        python = await theirs("server.txt");
      }
      assert.deepEqual(python, ours("server"));
    } finally {
      // strace outlives a SIGTERM while its tracee waits in accept: stop the Python server itself (the
      // process strace started, named by the pid on its bind line)
      const bind = /^(\d+) +bind\(/m.exec(await Deno.readTextFile(`${dir}/server.txt`).catch(() => ""));
      if (bind) Deno.kill(Number(bind[1]), "SIGTERM");
      else server.kill("SIGKILL");
      await server.status;
      await lines.cancel();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
