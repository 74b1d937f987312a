import assert from "node:assert/strict";
import { LoopHub, LoopHubHost } from "../lib/hub/loops.ts";
import { type HeldName, type Hub, type HubListener, type HubVia, LocalHub } from "../lib/hub/hub.ts";

/** What one loop's listener heard: each message with how it came. */
interface Heard {
  text: string;
  instance: string;
  via?: HubVia;
}

/** A stand-in for the process's Redis hub: the test plays another instance by calling its listener. */
class FakeUpstream implements Hub {
  readonly instance = "f00d";
  readonly shared = true;
  readonly reachable = true;
  listener?: HubListener;
  published: string[] = [];
  readonly #names = new LocalHub();
  listen(listener: HubListener): void {
    this.listener = listener;
  }
  publish(data: Uint8Array): void {
    this.published.push(new TextDecoder().decode(data));
  }
  claim(): Promise<boolean> {
    return Promise.resolve(true);
  }
  release(): void {}
  nextNumber(): Promise<number> {
    return this.#names.nextNumber();
  }
  remoteNames(): Promise<HeldName[]> {
    return Promise.resolve([]);
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** A host and `loops` loop hubs wired as the server wires them, messages passed asynchronously. */
function wire(loops: number) {
  const upstream = new FakeUpstream();
  const hubs: LoopHub[] = [];
  const heard: Heard[][] = [];
  const host = new LoopHubHost({
    loops,
    send: (i, message) => queueMicrotask(() => hubs[i].receive(message)),
    emit: () => {},
    upstream,
  });
  for (let i = 0; i < loops; i++) {
    const hub = new LoopHub(i, (message) => queueMicrotask(() => host.receive(i, message)));
    const mine: Heard[] = [];
    heard.push(mine);
    hub.listen({
      message: (data, instance, via) => mine.push({ text: new TextDecoder().decode(data), instance, via }),
    });
    hubs.push(hub);
  }
  return { upstream, hubs, heard };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 10));

Deno.test("loop hub: a name claimed on one event loop is known on every loop before its holder can speak", async () => {
  const { hubs } = wire(3);
  assert.equal(await hubs[1].claim({ key: "alice", name: "Alice" }), true);
  // the claim's reply came after the news of it, on every loop
  for (const hub of hubs) assert.deepEqual([...hub.heldHere], ["alice"]);
  assert.equal(await hubs[2].claim({ key: "alice", name: "alice" }), false, "one holder on the whole server");
  hubs[1].release("alice");
  await settle();
  for (const hub of hubs) assert.deepEqual([...hub.heldHere], []);
});

Deno.test("loop hub: another instance's line reaches every loop with members once; only the first loop logs it", async () => {
  const { upstream, hubs, heard } = wire(3);
  hubs[2].members(1); // only loop 3 has members (loop 1 hears other instances anyway: it logs them)
  await settle();
  upstream.listener!.message(new TextEncoder().encode("<bob> hi"), "0badc0de");
  await settle();
  assert.deepEqual(heard[0], [{ text: "<bob> hi", instance: "0badc0de", via: undefined }]);
  assert.deepEqual(heard[1], [], "a loop without members is not brought the room's lines");
  assert.deepEqual(heard[2], [{ text: "<bob> hi", instance: "0badc0de", via: "logged" }]);
});

Deno.test("loop hub: one loop's line reaches the other loops as the server's own, and the other instances once", async () => {
  const { upstream, hubs, heard } = wire(2);
  hubs[0].members(1);
  hubs[1].members(1);
  await settle();
  hubs[0].publish(new TextEncoder().encode("<alice> hello"));
  await settle();
  assert.deepEqual(heard[0], [], "not back to the loop that said it");
  assert.deepEqual(heard[1], [{ text: "<alice> hello", instance: "loop 1", via: "loop" }]);
  assert.deepEqual(upstream.published, ["<alice> hello"]);
});
