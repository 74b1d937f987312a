/** `sockkit probe HOST PORTS`: port lists, open/closed/no-answer ports, output, exit codes, and real peers. */
import assert from "node:assert/strict";
import { lookup } from "node:dns/promises";
import { parsePortList, type ProbeEvent, runProbe } from "../lib/probe/probe.ts";
import { CLI_PERMISSIONS, hasCommand, runCli, spawnCli } from "./_helpers.ts";

const HOST = "127.0.0.1";

/** A port with a listener on it; `accepted` collects what each connection sent before it ended. */
function openPort(hostname = HOST) {
  const listener = Deno.listen({ hostname, port: 0 });
  const accepted: Promise<number>[] = [];
  const serving = (async () => {
    for await (const conn of listener) {
      accepted.push((async () => {
        let bytes = 0;
        const buf = new Uint8Array(64);
        try {
          for (let n; (n = await conn.read(buf)) !== null;) bytes += n;
        } finally {
          conn.close();
        }
        return bytes;
      })());
    }
  })();
  return {
    port: listener.addr.port,
    accepted,
    async close() {
      listener.close();
      await serving.catch(() => {});
      await Promise.allSettled(accepted);
    },
  };
}

/** A port nothing listens on: bound by this test, then closed again. */
function closedPort(hostname = HOST): number {
  return closedPorts(1, hostname)[0];
}

/** `n` different ports nothing listens on: all bound at once (so the system picks each once), then closed. */
function closedPorts(n: number, hostname = HOST): number[] {
  const listeners = Array.from({ length: n }, () => Deno.listen({ hostname, port: 0 }));
  for (const l of listeners) l.close();
  return listeners.map((l) => l.addr.port);
}

/**
 * A port that gives no answer without leaving the machine: a listener that never accepts, whose accept
 * queue is filled, so that the kernel drops the SYN of every further connect (it would retransmit, then
 * time out). No route to a blackhole address is needed.
 */
async function unansweredPort(hostname = HOST) {
  const listener = Deno.listen({ hostname, port: 0 });
  const port = listener.addr.port;
  const queued: Deno.Conn[] = [];
  const attempt = (ms: number) => Deno.connect({ hostname, port, signal: AbortSignal.timeout(ms) });
  try {
    for (let round = 0; round < 40; round++) {
      const results = await Promise.allSettled(Array.from({ length: 256 }, () => attempt(1000)));
      for (const r of results) if (r.status === "fulfilled") queued.push(r.value);
      if (results.every((r) => r.status === "fulfilled")) continue;
      // One connect gave up: the queue is full, unless it was only slow. Check with one more.
      const check = await attempt(500).catch(() => undefined);
      if (!check) {
        return {
          port,
          close() {
            for (const c of queued) c.close();
            listener.close();
          },
        };
      }
      queued.push(check);
    }
  } catch (err) {
    for (const c of queued) c.close();
    listener.close();
    throw err;
  }
  for (const c of queued) c.close();
  listener.close();
  throw new Error(`the accept queue of port ${port} did not fill up after ${queued.length} connections`);
}

async function probeEvents(
  host: string,
  ports: string,
  opts: { concurrency?: number; timeoutMs?: number } = {},
) {
  const events: ProbeEvent[] = [];
  const summary = await runProbe({ host, ports: parsePortList(ports), ...opts }, {
    onEvent: (e) => events.push(e),
  });
  const results = events.flatMap((e) => e.type === "port" ? [e] : []);
  return { events, results, summary };
}

Deno.test("probe: a port list names ports and ranges, sorted and each once", () => {
  assert.deepEqual([...parsePortList("22")], [22]);
  assert.deepEqual([...parsePortList("80,22,8000-8003,22,8001")], [22, 80, 8000, 8001, 8002, 8003]);
  assert.deepEqual([...parsePortList(" 443 , 1-2,65535")], [1, 2, 443, 65535]);
  assert.deepEqual([...parsePortList("7-7")], [7]);
  assert.equal(parsePortList("1-65535").length, 65535);
  assert.equal(parsePortList("1-65535,1-65535,80").length, 65535, "at most every port once");
});

Deno.test("probe: a malformed or out-of-range port list is a usage error naming the bad part", async () => {
  const cases: [string, RegExp][] = [
    ["8000-7000", /^sockkit: invalid port range '8000-7000': it ends before it starts .*7000-8000/],
    ["0", /^sockkit: invalid port '0' in the port list: ports go from 1 to 65535$/],
    ["22,70000", /^sockkit: invalid port '70000' in the port list: ports go from 1 to 65535$/],
    ["1-70000", /^sockkit: invalid port '70000' in the range '1-70000': ports go from 1 to 65535$/],
    ["22,a", /^sockkit: invalid port 'a' in the port list: expected ports from 1 to 65535 and ranges/],
    ["1-2-3", /^sockkit: invalid port '1-2-3' in the port list/],
    ["22,,80", /^sockkit: invalid port list '22,,80': item 2 is empty$/],
    ["22,", /^sockkit: invalid port list '22,': item 2 is empty$/],
    ["", /^sockkit: invalid port list '': it is empty/],
    ["99999999999999999999", /^sockkit: invalid port '99999999999999999999' in the port list: ports go/],
  ];
  for (const [ports, expected] of cases) {
    const r = await runCli(["probe", HOST, ports]);
    assert.equal(r.code, 2, `exit code for '${ports}'`);
    assert.match(r.stderr.trim(), expected, `message for '${ports}'`);
    assert.equal(r.stderr.trim().split("\n").length, 1, `one line for '${ports}'`);
    assert.equal(r.stdout, "", `nothing probed for '${ports}'`);
  }
  const options: [string[], RegExp][] = [
    [["probe", HOST], /^sockkit: missing required argument 'ports' \(see 'sockkit probe --help'\)$/],
    [["probe", HOST, "80", "-c", "0"], /^sockkit: invalid --concurrency '0': expected a whole number from 1/],
    [["probe", HOST, "80", "--timeout", "soon"], /^sockkit: invalid --timeout 'soon': expected a number/],
    [["probe", HOST, "80", "--timeout", "0"], /^sockkit: invalid --timeout '0': /],
    [["probe", "a b", "80"], /^sockkit: invalid host 'a b'/],
    // Not addresses, and never looked up as names either.
    [["probe", "1.2.3.999", "80"], /^sockkit: invalid address '1\.2\.3\.999': expected an IPv4 address/],
    [["probe", "[::1", "80"], /^sockkit: invalid address '\[::1': expected an IPv4 address/],
    [["probe", "::zz", "80"], /^sockkit: invalid address '::zz': /],
    [["probe", HOST, "--port", "80"], /^sockkit: unknown option '--port': the port is an argument, as in/],
  ];
  for (const [args, expected] of options) {
    const r = await runCli(args);
    assert.equal(r.code, 2, `exit code for ${args.join(" ")}`);
    assert.match(r.stderr.trim(), expected, `message for ${args.join(" ")}`);
    assert.equal(r.stderr.trim().split("\n").length, 1, `one line for ${args.join(" ")}`);
  }
});

Deno.test("probe: open and closed ports, in port order with connect times; exit 0 when one is open", async () => {
  const a = openPort();
  const b = openPort();
  const closed = closedPort();
  try {
    const [low, high] = [a.port, b.port].sort((x, y) => x - y);
    const r = await runCli(["probe", HOST, `${high},${closed},${low}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "");
    const lines = r.stdout.trimEnd().split("\n");
    assert.equal(lines[0], `Probing ${HOST}: 3 ports, 3 at a time, timeout 2.0s`);
    const order = [low, high, closed].sort((x, y) => x - y);
    assert.deepEqual(lines.slice(1, 4).map((l) => Number(l.split(/[: ]+/)[1])), order, "sorted by port");
    for (const port of [low, high]) {
      assert.match(lineOf(lines, port), /^127\.0\.0\.1:\d+ +open +\d+\.\d{3} ms$/);
    }
    // In columns: the state after the widest address (127.0.0.1:65535) and two spaces, then the detail.
    for (const line of lines.slice(1, 4)) assert.match(line.slice(17), /^(open {7}\d|closed {5}r)/, line);
    assert.match(lineOf(lines, closed), /^127\.0\.0\.1:\d+ +closed +refused$/);
    assert.match(lines[4], /^Probed 3 ports of 127\.0\.0\.1 in [\d.]+ (ms|s): 2 open, 1 closed$/);
    // The listeners saw one connection each, closed at once without a byte.
    assert.equal(a.accepted.length, 1);
    assert.equal(b.accepted.length, 1);
    assert.deepEqual(await Promise.all([...a.accepted, ...b.accepted]), [0, 0]);
  } finally {
    await a.close();
    await b.close();
  }
});

function lineOf(lines: string[], port: number): string {
  return lines.find((l) => l.startsWith(`${HOST}:${port} `)) ?? "";
}

Deno.test("probe: no open port exits 1", async () => {
  const closed = closedPort();
  const r = await runCli(["probe", HOST, String(closed)]);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /^127\.0\.0\.1:\d+ +closed +refused$/m);
  assert.match(r.stdout, /: 0 open, 1 closed$/m);
});

Deno.test("probe: a port whose SYN is dropped is 'no answer' after --timeout", async () => {
  const silent = await unansweredPort();
  const open = openPort();
  try {
    const started = performance.now();
    const r = await runCli(["probe", HOST, `${silent.port},${open.port}`, "--timeout", "400ms"]);
    const elapsed = performance.now() - started;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /timeout 400 ms$/m);
    assert.match(lineOf(r.stdout.split("\n"), silent.port), /^127\.0\.0\.1:\d+ +no answer +timed out$/);
    assert.match(lineOf(r.stdout.split("\n"), open.port), / open /);
    assert.match(r.stdout, /: 1 open, 0 closed, 1 no answer \(timed out\)$/m);
    assert.ok(elapsed >= 400, `it waited the timeout (${elapsed} ms)`);

    const alone = await runCli(["probe", HOST, String(silent.port), "-t", "300ms"]);
    assert.equal(alone.code, 1, "no answer is not open");
  } finally {
    silent.close();
    await open.close();
  }
});

Deno.test("probe: --concurrency bounds the connects in flight", async () => {
  const one = await unansweredPort();
  const two = await unansweredPort();
  try {
    const ports = `${one.port},${two.port}`;
    const serial = await probeEvents(HOST, ports, { concurrency: 1, timeoutMs: 1000 });
    assert.equal(serial.summary.noAnswer, 2);
    assert.ok(serial.summary.elapsedMs >= 2000, `one after the other: ${serial.summary.elapsedMs} ms`);
    assert.equal((serial.events[0] as { concurrency: number }).concurrency, 1);
    const parallel = await probeEvents(HOST, ports, { concurrency: 2, timeoutMs: 1000 });
    assert.equal(parallel.summary.noAnswer, 2);
    assert.ok(parallel.summary.elapsedMs < 1900, `both at once: ${parallel.summary.elapsedMs} ms`);
  } finally {
    one.close();
    two.close();
  }
});

Deno.test("probe: runProbe reports an open port with its connect time and a closed one as refused", async () => {
  const open = openPort();
  const closed = closedPort();
  try {
    const { events, results, summary } = await probeEvents(HOST, `${open.port},${closed}`);
    assert.equal(events[0].type, "start");
    assert.equal(events.at(-1), summary);
    const byPort = new Map(results.map((r) => [r.port, r]));
    assert.equal(byPort.get(open.port)?.state, "open");
    assert.ok((byPort.get(open.port)?.connectMs ?? -1) >= 0);
    assert.deepEqual(byPort.get(closed), { type: "port", port: closed, state: "closed", reason: "refused" });
    assert.deepEqual([summary.open, summary.closed, summary.noAnswer, summary.probed], [1, 1, 0, 2]);
    assert.deepEqual(summary.openPorts, [open.port]);
  } finally {
    await open.close();
  }
});

Deno.test("probe: a range reports every port once, in order, the open one open", async () => {
  const open = openPort();
  try {
    const low = Math.max(1, open.port - 3);
    const { results, summary } = await probeEvents(HOST, `${low}-${open.port + 3}`);
    assert.deepEqual(
      results.map((r) => r.port),
      Array.from({ length: open.port + 4 - low }, (_, i) => low + i),
    );
    assert.equal(results.find((r) => r.port === open.port)?.state, "open");
    assert.ok(summary.openPorts.includes(open.port));
    assert.equal(summary.probed, results.length);
    assert.equal(summary.open + summary.closed + summary.noAnswer, results.length);
  } finally {
    await open.close();
  }
});

Deno.test("probe: every port of 1-65535, once each and in order, at the default concurrency of 100", async () => {
  const open = openPort();
  try {
    let count = 0;
    let last = 0;
    let seenOpen = false;
    const summary = await runProbe({ host: HOST, ports: parsePortList("1-65535") }, {
      onEvent: (e) => {
        if (e.type === "start") assert.equal(e.concurrency, 100, "the default");
        if (e.type !== "port") return;
        assert.ok(e.port > last, `${e.port} after ${last}`);
        last = e.port;
        count++;
        if (e.port === open.port) seenOpen = e.state === "open";
      },
    });
    assert.equal(count, 65535);
    assert.equal(summary.probed, 65535);
    assert.ok(seenOpen, "the listener's port is open");
  } finally {
    await open.close();
  }
});

Deno.test("probe: a long list shows only the open ports unless -v, and the summary counts the rest", async () => {
  const open = openPort();
  const closed = closedPorts(25);
  try {
    const ports = [...closed, open.port].join(",");
    const r = await runCli(["probe", HOST, ports]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split("\n");
    const listed = lines.filter((l) => l.startsWith(`${HOST}:`));
    assert.ok(listed.every((l) => / open /.test(l)), `only open ports:\n${r.stdout}`);
    assert.ok(listed.some((l) => l.startsWith(`${HOST}:${open.port} `)));
    assert.match(
      lines.at(-1)!,
      new RegExp(`^Probed 26 ports .*; ${26 - listed.length} not listed \\(-v lists every port\\)$`),
    );

    const verbose = await runCli(["probe", HOST, ports, "-v"]);
    assert.equal(verbose.stdout.split("\n").filter((l) => l.startsWith(`${HOST}:`)).length, 26);
    assert.doesNotMatch(verbose.stdout, /not listed/);

    const short = await runCli(["probe", HOST, closed.slice(0, 20).join(",")]);
    assert.equal(
      short.stdout.split("\n").filter((l) => l.startsWith(`${HOST}:`)).length,
      20,
      "20 are all shown",
    );
  } finally {
    await open.close();
  }
});

Deno.test("probe: --json prints a start, every port in order and a summary; -q prints nothing", async () => {
  const open = openPort();
  const closed = closedPort();
  try {
    const r = await runCli(["probe", HOST, `${open.port},${closed}`, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const events = r.stdout.trimEnd().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(events.map((e) => e.type), ["start", "port", "port", "summary"]);
    for (const e of events) assert.match(e.time, /^\d{4}-\d\d-\d\dT/);
    assert.deepEqual(
      { ...events[0], time: 0 },
      {
        time: 0,
        type: "start",
        host: HOST,
        address: HOST,
        others: [],
        ports: 2,
        concurrency: 2,
        timeoutMs: 2000,
      },
    );
    const ports = events.slice(1, 3);
    assert.deepEqual(ports.map((e) => e.port), [open.port, closed].sort((x, y) => x - y));
    const openEvent = ports.find((e) => e.port === open.port);
    assert.equal(openEvent.state, "open");
    assert.equal(typeof openEvent.connectMs, "number");
    assert.deepEqual(
      { ...ports.find((e) => e.port === closed), time: 0 },
      { time: 0, type: "port", port: closed, state: "closed", reason: "refused" },
    );
    const summary = events[3];
    assert.equal(summary.open, 1);
    assert.equal(summary.closed, 1);
    assert.equal(summary.noAnswer, 0);
    assert.deepEqual(summary.openPorts, [open.port]);
    assert.equal(summary.interrupted, false);

    // Long lists are listed whole in JSON.
    const many = closedPorts(24);
    const long = await runCli(["probe", HOST, [...many, open.port].join(","), "--json"]);
    assert.equal(long.stdout.trimEnd().split("\n").filter((l) => l.includes('"type":"port"')).length, 25);

    for (const args of [[String(open.port)], [String(closed)], [String(open.port), "--json"]]) {
      const quiet = await runCli(["probe", HOST, ...args, "-q"]);
      assert.equal(quiet.stdout + quiet.stderr, "", `-q ${args.join(" ")}`);
      assert.equal(quiet.code, args[0] === String(open.port) ? 0 : 1);
    }
  } finally {
    await open.close();
  }
});

Deno.test("probe: IPv6 literals, with or without brackets", async () => {
  const open = openPort("::1");
  const closed = closedPort("::1");
  try {
    for (const host of ["::1", "[::1]"]) {
      const r = await runCli(["probe", host, `${open.port},${closed}`]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^Probing ::1: 2 ports/);
      assert.match(r.stdout, new RegExp(`^\\[::1\\]:${open.port} +open +[\\d.]+ ms$`, "m"));
      assert.match(r.stdout, new RegExp(`^\\[::1\\]:${closed} +closed +refused$`, "m"));
    }
  } finally {
    await open.close();
  }
});

Deno.test("probe: a name is resolved once and only its first address is probed", async () => {
  const addresses = (await lookup("localhost", { all: true, verbatim: true })).map((a) => a.address);
  const first = addresses[0];
  const open = openPort(first);
  try {
    const r = await runCli(["probe", "localhost", String(open.port), "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const [start, port] = r.stdout.trimEnd().split("\n").map((l) => JSON.parse(l));
    assert.equal(start.host, "localhost");
    assert.equal(start.address, first);
    assert.deepEqual(start.others, [...new Set(addresses.slice(1))].filter((a) => a !== first));
    assert.equal(port.state, "open");
    assert.equal(open.accepted.length, 1, "one connect reached the listener");
    const text = await runCli(["probe", "localhost", String(open.port)]);
    assert.match(text.stdout, new RegExp(`^Probing localhost at ${first.replaceAll(".", "\\.")}: 1 port,`));
  } finally {
    await open.close();
  }
  const none = await runCli(["probe", "no-such-host.invalid", "80"]);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /^sockkit: cannot probe no-such-host\.invalid: /);
  assert.equal(none.stderr.trim().split("\n").length, 1);
  assert.equal(none.stdout, "");
});

Deno.test("probe: Ctrl-C stops it and the summary says how far it got", async () => {
  const silent = await unansweredPort();
  const probe = spawnCli(["probe", HOST, String(silent.port), "--timeout", "30s"]);
  let result;
  try {
    await probe.line(/^Probing /);
    await new Promise((r) => setTimeout(r, 200));
  } finally {
    result = await probe.stop("SIGINT");
    silent.close();
  }
  assert.equal(result.code, 1, result.stderr);
  assert.match(
    result.stdout,
    /^Interrupted after 0 of 1 port of 127\.0\.0\.1 in [\d.]+ (ms|s): 0 open, 0 closed$/m,
  );
});

Deno.test({
  name: "probe: running out of file descriptors is one line that says to lower --concurrency",
  ignore: !hasCommand("bash"),
  fn: async () => {
    const main = new URL("../main.ts", import.meta.url).pathname;
    const command = [Deno.execPath(), "run", "--quiet", ...CLI_PERMISSIONS, main, "probe", HOST, "1-5000"]
      .map((a) => `'${a}'`).join(" ");
    const out = await new Deno.Command("bash", {
      args: ["-c", `ulimit -n 200 && exec ${command} -c 1000`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 1, stderr);
    assert.equal(
      stderr,
      "sockkit: cannot probe: too many open files with 1000 connects at once (lower --concurrency)\n",
    );
  },
});

/** Reads a child's output until it matches `re` (bounded), returning everything read so far. */
async function readUntil(reader: ReadableStreamDefaultReader<string>, re: RegExp, ms = 10_000) {
  let text = "";
  const deadline = Date.now() + ms;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), ms)));
  try {
    while (!re.test(text) && Date.now() < deadline) {
      const chunk = await Promise.race([reader.read(), late]);
      if (!chunk || chunk.done) break;
      text += chunk.value;
    }
  } finally {
    clearTimeout(timer);
  }
  return text;
}

/** Probes until the port answers open (the peer may need a moment to listen): a refusal reaches nobody. */
async function probeUntilOpen(host: string, port: number) {
  for (let attempt = 0; attempt < 50; attempt++) {
    const r = await runCli(["probe", host, String(port)]);
    if (r.code === 0) return r;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`${host}:${port} never probed open`);
}

Deno.test({
  name: "probe interop: a port opened by nc -l is open, and nc sees the connect",
  ignore: !hasCommand("nc"),
  fn: async () => {
    const port = closedPort();
    const nc = new Deno.Command("nc", {
      args: ["-v", "-l", HOST, String(port)],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const stderr = nc.stderr.pipeThrough(new TextDecoderStream()).getReader();
    try {
      const r = await probeUntilOpen(HOST, port);
      assert.match(r.stdout, new RegExp(`^127\\.0\\.0\\.1:${port} +open +[\\d.]+ ms$`, "m"));
      const said = await readUntil(stderr, /Connection (received|from)/i);
      assert.match(said, /Connection (received|from)/i, `nc said: ${said}`);
      // The probe closed at once, so nc's one connection is over and nc ends by itself.
      const status = await Promise.race([
        nc.status,
        new Promise((r) => setTimeout(() => r("running"), 5000)),
      ]);
      assert.notEqual(status, "running", "nc ended once the probe closed");
    } finally {
      try {
        nc.kill();
      } catch { /* already ended */ }
      await nc.status;
      await stderr.cancel();
    }
  },
});

Deno.test({
  name: "probe interop: a port opened by socat on ::1 is open, and socat accepts the connect",
  ignore: !hasCommand("socat"),
  fn: async () => {
    const port = closedPort("::1");
    const socat = new Deno.Command("socat", {
      args: ["-d", "-d", `TCP6-LISTEN:${port},bind=[::1],reuseaddr`, "PIPE"],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const stderr = socat.stderr.pipeThrough(new TextDecoderStream()).getReader();
    try {
      const r = await probeUntilOpen("[::1]", port);
      assert.match(r.stdout, new RegExp(`^\\[::1\\]:${port} +open +[\\d.]+ ms$`, "m"));
      const said = await readUntil(stderr, /accepting connection from/);
      assert.match(said, /accepting connection from AF=10 \[[0:]*1\]:\d+ on /, `socat said: ${said}`);
    } finally {
      try {
        socat.kill();
      } catch { /* already ended */ }
      await socat.status;
      await stderr.cancel();
    }
  },
});
