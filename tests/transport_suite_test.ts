/**
 * One list of behaviours, run against every registered transport (lib/transports/mod.ts): a round trip, a
 * large payload, half-close where the transport declares it, refusal by the guard rails, and a clean
 * shutdown. What a transport can do comes from its own declaration; a behaviour it cannot have is skipped
 * for it, with the reason in the test name. A transport registered without a case here fails the suite.
 */
import assert from "node:assert/strict";
import { parseCidr } from "../lib/endpoints/cidr.ts";
import { closeQuietly, writeAll } from "../lib/core/io.ts";
import { connect, type Connection, type Endpoint, type StreamEndpoint } from "../lib/transports/dispatch.ts";
import { readToEnd, roundTripOn, startServer, type TestServer } from "./_helpers.ts";
import type { ServerOptions } from "../server.ts";
import type { IoCore, TransportName } from "../lib/transports/types.ts";
import { type Capabilities, transportOf, TRANSPORTS } from "../lib/transports/mod.ts";

interface TransportCase {
  /** The registered transport this case drives. */
  transport: TransportName;
  name: string;
  /** Where the server listens (port 0 or a fresh path). */
  listen(dir: string): Endpoint;
  /** Where a client reaches the running server. */
  target(server: TestServer, dir: string): Endpoint;
  /** The largest payload one exchange carries. */
  large: number;
  /** Whether `--deny` applies (peers with an IP address). */
  ipPeers: boolean;
  /** Which API moves the bytes, server and client (`--io`; default deno). */
  io?: IoCore;
}

const CASES: (TransportCase & Capabilities)[] = ([
  {
    transport: "tcp",
    name: "TCP",
    listen: () => ({ transport: "tcp", hostname: "127.0.0.1", port: 0 }),
    target: (s) => ({ transport: "tcp", hostname: "127.0.0.1", port: s.port }),
    large: 8 << 20,
    ipPeers: true,
  },
  {
    transport: "tcp",
    name: "TCP (--io node)",
    io: "node",
    listen: () => ({ transport: "tcp", hostname: "127.0.0.1", port: 0 }),
    target: (s) => ({ transport: "tcp", hostname: "127.0.0.1", port: s.port }),
    large: 8 << 20,
    ipPeers: true,
  },
  {
    transport: "tls",
    name: "TLS",
    listen: () => ({ transport: "tls", hostname: "127.0.0.1", port: 0, tls: {} }),
    target: (s) => ({
      transport: "tls",
      hostname: "127.0.0.1",
      port: s.port,
      tls: { pins: [fingerprintOf(s)] },
    }),
    large: 8 << 20,
    ipPeers: true,
  },
  {
    transport: "unix",
    name: "Unix socket",
    listen: (dir) => ({ transport: "unix", path: `${dir}/s.sock` }),
    target: (_s, dir) => ({ transport: "unix", path: `${dir}/s.sock` }),
    large: 8 << 20,
    ipPeers: false,
  },
  {
    transport: "ws",
    name: "WebSocket",
    listen: () => ({ transport: "ws", hostname: "127.0.0.1", port: 0, path: "/", secure: false }),
    target: (s) => ({ transport: "ws", hostname: "127.0.0.1", port: s.port, path: "/", secure: false }),
    large: 512 * 1024, // one message, under the default --max-message (1 MiB)
    ipPeers: true,
  },
  {
    transport: "udp",
    name: "UDP",
    listen: () => ({ transport: "udp", hostname: "127.0.0.1", port: 0 }),
    target: (s) => ({ transport: "udp", hostname: "127.0.0.1", port: s.port }),
    large: 60_000,
    ipPeers: true,
  },
] as TransportCase[]).map((c) => ({ ...c, ...transportOf(c.transport).capabilities }));

Deno.test("transports: every registered transport has a case in this suite", () => {
  assert.deepEqual([...new Set(CASES.map((c) => c.transport))].sort(), TRANSPORTS.map((t) => t.name).sort());
  for (const c of CASES) assert.ok(c.name.startsWith(transportOf(c.transport).label), c.name);
  // every I/O core a transport offers has its case
  for (const t of TRANSPORTS) {
    for (const io of t.ioCores ?? ["deno"]) {
      assert.ok(CASES.some((c) => c.transport === t.name && (c.io ?? "deno") === io), `${t.name} --io ${io}`);
    }
  }
});

function fingerprintOf(server: TestServer): string {
  const cert = server.events.find((e) => e.type === "certificate");
  assert.ok(cert && cert.type === "certificate");
  return cert.fingerprint.replaceAll(":", "");
}

/** Sends `data` and returns what comes back: over a stream, until the server's end of stream after ours. */
async function exchange(ep: Endpoint, data: Uint8Array, io?: IoCore): Promise<Uint8Array> {
  if (ep.transport === "udp") {
    const sock = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    try {
      await sock.send(data, { transport: "udp", hostname: ep.hostname, port: ep.port });
      const timer = setTimeout(() => closeQuietly(sock), 3000);
      const [reply] = await sock.receive();
      clearTimeout(timer);
      return reply;
    } finally {
      closeQuietly(sock);
    }
  }
  const conn = await connect(ep as StreamEndpoint, undefined, io);
  try {
    return await roundTripOn(conn, data);
  } finally {
    closeQuietly(conn);
  }
}

async function withServer(
  t: TransportCase,
  opts: Partial<ServerOptions>,
  fn: (server: TestServer, dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir();
  const server = await startServer({ endpoint: t.listen(dir), io: t.io, ...opts });
  try {
    await fn(server, dir);
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

function pattern(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + (i >> 8)) & 0xff;
  return out;
}

for (const t of CASES) {
  Deno.test(`transports (${t.name}): a round trip comes back exact`, async () => {
    await withServer(t, {}, async (server, dir) => {
      const back = await exchange(
        t.target(server, dir),
        new TextEncoder().encode(`hello over ${t.name}`),
        t.io,
      );
      assert.equal(new TextDecoder().decode(back), `hello over ${t.name}`);
    });
  });

  Deno.test(`transports (${t.name}): a large payload (${t.large} bytes) comes back exact`, async () => {
    await withServer(t, {}, async (server, dir) => {
      const data = pattern(t.large);
      const back = await exchange(t.target(server, dir), data, t.io);
      assert.equal(back.length, data.length);
      assert.ok(back.every((b, i) => b === data[i]), "every byte as sent");
    });
  });

  Deno.test({
    name: `transports (${t.name}): half-close: after the client's end of stream, its echo still arrives${
      t.halfClose ? "" : ` (ignored: ${t.name} has no streams to half-close)`
    }`,
    ignore: !t.halfClose,
    async fn() {
      await withServer(t, {}, async (server, dir) => {
        const conn = await connect(t.target(server, dir) as StreamEndpoint, undefined, t.io);
        try {
          await writeAll(conn, pattern(100_000));
          await conn.closeWrite();
          const back = await readToEnd(conn);
          assert.equal(back.length, 100_000);
        } finally {
          closeQuietly(conn);
        }
      });
    },
  });

  Deno.test(`transports (${t.name}): the guard rails refuse a peer, and it is logged`, async () => {
    const opts: Partial<ServerOptions> = t.ipPeers ? { deny: [parseCidr("127.0.0.0/8")] } : { maxConns: 1 };
    await withServer(t, opts, async (server, dir) => {
      const ep = t.target(server, dir);
      let held: Connection | undefined;
      if (!t.ipPeers) {
        held = await connect(ep as StreamEndpoint);
        await server.waitFor((e) => e.type === "connect");
      }
      try {
        if (t.framing === "message") {
          await assert.rejects(exchange(ep, new TextEncoder().encode("x")), "no reply to a denied source");
        } else {
          if (t.ipPeers) {
            const back = await exchange(ep, new TextEncoder().encode("x"), t.io).catch(() =>
              new Uint8Array()
            );
            assert.equal(back.length, 0, "closed at once, nothing echoed");
          } else {
            // the one more client is told so, then closed (it sends nothing, so closing cannot reset it)
            const extra = await connect(ep as StreamEndpoint);
            const notice = new TextDecoder().decode(await readToEnd(extra));
            closeQuietly(extra);
            assert.match(notice, /^server full \(1 client\)/);
          }
        }
        const refused = await server.waitFor((e) => e.type === "refused" || e.type === "warning");
        assert.match(JSON.stringify(refused), t.ipPeers ? /denied by --deny 127\.0\.0\.0\/8/ : /server full/);
      } finally {
        if (held) closeQuietly(held);
      }
    });
  });

  Deno.test(`transports (${t.name}): shutdown is clean: a summary, and no client left behind`, async () => {
    const dir = await Deno.makeTempDir();
    const server = await startServer({ endpoint: t.listen(dir), io: t.io, graceMs: 300 });
    try {
      await exchange(t.target(server, dir), new TextEncoder().encode("before shutdown"), t.io);
    } finally {
      const summary = await server.stop();
      await Deno.remove(dir, { recursive: true });
      assert.ok(summary.clients >= 1, `the client was counted: ${JSON.stringify(summary)}`);
      assert.ok(server.events.some((e) => e.type === "summary"));
    }
  });
}
