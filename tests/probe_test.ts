/** `sockkit probe HOST PORTS`: port lists, open/closed/no-answer ports, output, exit codes, and real peers. */
import assert from "node:assert/strict";
import { parsePortList, type ProbeEvent, runProbe } from "../lib/probe.ts";

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
  const listener = Deno.listen({ hostname, port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
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
