import assert from "node:assert/strict";
import { OutboundQueue } from "../lib/server/queue.ts";

/** A writer the test releases write by write, recording what it was given. */
function gatedWriter() {
  const written: Uint8Array[] = [];
  let release: (() => void) | undefined;
  return {
    written,
    write(data: Uint8Array): Promise<void> {
      written.push(data);
      return new Promise<void>((resolve) => (release = resolve));
    },
    releaseOne() {
      const r = release;
      release = undefined;
      r?.();
    },
  };
}

const bytes = (n: number, fill = 1) => new Uint8Array(n).fill(fill);

Deno.test("queue: refuses what would put a client more than the cap behind, counting the write in flight", async () => {
  const w = gatedWriter();
  const queue = new OutboundQueue((d) => w.write(d), 100);
  assert.equal(queue.push(bytes(60)), true);
  assert.equal(queue.push(bytes(40)), true);
  assert.equal(queue.bytes, 100);
  assert.equal(queue.push(bytes(1)), false, "one byte over the cap");
  assert.equal(queue.bytes, 100, "a refused push queues nothing");
  w.releaseOne();
  await Promise.resolve();
  await Promise.resolve();
  assert.equal(queue.bytes, 40);
  assert.equal(queue.push(bytes(60)), true);
  queue.close();
  w.releaseOne();
  await queue.flush();
});

Deno.test("queue: an empty queue takes one chunk larger than the cap", async () => {
  const w = gatedWriter();
  const queue = new OutboundQueue((d) => w.write(d), 10);
  assert.equal(queue.push(bytes(50)), true);
  assert.equal(queue.push(bytes(1)), false);
  w.releaseOne();
  await queue.flush();
  assert.equal(queue.bytes, 0);
});

Deno.test("queue: writes everything in order, joining small chunks into fewer writes", async () => {
  const written: number[] = [];
  let writes = 0;
  const queue = new OutboundQueue(async (d) => {
    writes++;
    await Promise.resolve();
    written.push(...d);
  }, 1 << 20);
  for (let i = 0; i < 1000; i++) queue.push(new Uint8Array([i & 0xff, (i >> 8) & 0xff]));
  await queue.flush();
  assert.equal(written.length, 2000);
  for (let i = 0; i < 1000; i++) assert.equal(written[2 * i] | (written[2 * i + 1] << 8), i);
  assert.ok(writes < 10, `1000 small chunks took ${writes} writes`);
  assert.equal(queue.bytes, 0);
});

Deno.test("queue: a failed write stops the writer and drops the rest; flush still resolves", async () => {
  let calls = 0;
  const queue = new OutboundQueue(() => {
    calls++;
    return Promise.reject(new Deno.errors.BrokenPipe("gone"));
  }, 1000);
  queue.push(bytes(10));
  await queue.flush();
  queue.push(bytes(10));
  await queue.flush();
  assert.equal(calls, 1);
  assert.equal(queue.bytes, 0);
});
