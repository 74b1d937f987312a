import assert from "node:assert/strict";
import { runClient } from "../client.ts";
import type { ClientEvent } from "../lib/report/events.ts";
import type { Endpoint } from "../lib/transports/dispatch.ts";
import { runCli, startServer } from "./_helpers.ts";

const FIXTURES = new URL("./fixtures/", import.meta.url).pathname;
const encoder = new TextEncoder();

async function exchange(endpoint: Endpoint, text: string): Promise<ClientEvent[]> {
  const events: ClientEvent[] = [];
  await runClient({ endpoint, message: encoder.encode(text) }, { onEvent: (e) => events.push(e) });
  return events;
}

function replyText(events: ClientEvent[]): string | undefined {
  const reply = events.find((e) => e.type === "reply");
  return reply?.type === "reply" ? reply.text : undefined;
}

/** A link-local IPv6 address of this machine with its zone (`fe80::1%eth0`), if it has one. */
async function linkLocalAddress(): Promise<string | undefined> {
  try {
    const out = await new Deno.Command("ip", { args: ["-6", "-o", "addr", "show", "scope", "link"] })
      .output();
    const match = /^\d+:\s+(\S+)\s+inet6\s+(fe80:[0-9a-f:]+)\//m.exec(new TextDecoder().decode(out.stdout));
    return match ? `${match[2]}%${match[1]}` : undefined;
  } catch {
    return undefined;
  }
}

const linkLocal = await linkLocalAddress();

Deno.test("ipv6: TCP over ::1, addresses printed as [::1]:port on both sides", async () => {
  const server = await startServer({ endpoint: { transport: "tcp", hostname: "::", port: 0 } });
  try {
    assert.match(server.address, /^\[::\]:\d+$/);
    const events = await exchange({ transport: "tcp", hostname: "::1", port: server.port }, "tcp6");
    assert.equal(replyText(events), "tcp6");
    const connected = events.find((e) => e.type === "connected");
    assert.ok(connected?.type === "connected" && connected.address === `[::1]:${server.port}`);
    const peer = await server.waitFor((e) => e.type === "connect");
    assert.ok(peer.type === "connect" && /^\[::1\]:\d+$/.test(peer.peer));
  } finally {
    await server.stop();
  }
});

Deno.test("ipv6: TLS over ::1, the certificate's IP address ::1 is verified", async () => {
  const server = await startServer({
    endpoint: {
      transport: "tls",
      hostname: "::1",
      port: 0,
      tls: { certFile: `${FIXTURES}server.pem`, keyFile: `${FIXTURES}server-key.pem` },
    },
  });
  try {
    assert.match(server.address, /^\[::1\]:\d+$/);
    const events = await exchange(
      { transport: "tls", hostname: "::1", port: server.port, tls: { caFile: `${FIXTURES}ca.pem` } },
      "tls6",
    );
    assert.equal(replyText(events), "tls6");
  } finally {
    await server.stop();
  }
});

Deno.test("ipv6: UDP over ::1", async () => {
  const server = await startServer({ endpoint: { transport: "udp", hostname: "::1", port: 0 } });
  try {
    const events = await exchange({ transport: "udp", hostname: "::1", port: server.port }, "udp6");
    assert.equal(replyText(events), "udp6");
    const sending = events.find((e) => e.type === "sending");
    assert.ok(sending?.type === "sending" && /^\[::\]:\d+$/.test(sending.local));
    const peer = await server.waitFor((e) => e.type === "connect");
    assert.ok(peer.type === "connect" && /^\[::1\]:\d+$/.test(peer.peer));
  } finally {
    await server.stop();
  }
});

Deno.test("ipv6 cli: a link-local address without its zone is a usage error", async () => {
  const out = await runCli(["client", "fe80::1", "1234"]);
  assert.equal(out.code, 2);
  assert.match(
    out.stderr,
    /^sockkit: invalid host 'fe80::1': a link-local IPv6 address needs its zone \(interface\), such as fe80::1%eth0/,
  );
});

Deno.test({
  name: `ipv6: a link-local address keeps its zone in the listening address, the client's and the peer's${
    linkLocal ? "" : " (ignored: this machine has no link-local IPv6 address)"
  }`,
  ignore: !linkLocal,
  fn: async () => {
    const bare = linkLocal!.replace(/%.*$/, "");
    const zone = linkLocal!.slice(bare.length);
    for (const transport of ["tcp", "udp"] as const) {
      const server = await startServer({ endpoint: { transport, hostname: linkLocal!, port: 0 } });
      try {
        assert.equal(server.address, `[${linkLocal}]:${server.port}`, transport);
        const events = await exchange({ transport, hostname: linkLocal!, port: server.port }, "zone");
        assert.equal(replyText(events), "zone", transport);
        if (transport === "tcp") {
          const connected = events.find((e) => e.type === "connected");
          assert.ok(connected?.type === "connected" && connected.remote === `[${linkLocal}]:${server.port}`);
        }
        const seen = await server.waitFor((e) => e.type === "connect");
        assert.ok(
          seen.type === "connect" && seen.peer.startsWith(`[${bare}${zone}]:`),
          `${transport}: ${seen.type === "connect" ? seen.peer : ""}`,
        );
      } finally {
        await server.stop();
      }
    }
  },
});
