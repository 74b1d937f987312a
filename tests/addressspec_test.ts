/** Address specs (`tcp://`, `tls://`, `udp://`, `unix:`, `HOST:PORT`, `PORT`) for every command that takes an address. */
import assert from "node:assert/strict";
import { parseAddressSpec } from "../lib/endpoints/addressspec.ts";
import { looksLikeSpec } from "../lib/endpoints/flags.ts";
import { runCli, spawnCli } from "./_helpers.ts";

Deno.test("address specs: every form parses to its endpoint, and a bad one names its problem", () => {
  assert.deepEqual(parseAddressSpec("8080", "listen"), { transport: "tcp", hostname: "0.0.0.0", port: 8080 });
  assert.deepEqual(parseAddressSpec("tcp://127.0.0.1:80", "connect"), {
    transport: "tcp",
    hostname: "127.0.0.1",
    port: 80,
  });
  assert.deepEqual(parseAddressSpec("tls://[::1]:8443", "listen"), {
    transport: "tls",
    hostname: "::1",
    port: 8443,
  });
  assert.deepEqual(parseAddressSpec("udp://localhost:53", "connect"), {
    transport: "udp",
    hostname: "localhost",
    port: 53,
  });
  assert.deepEqual(parseAddressSpec("unix:/tmp/s.sock", "connect"), {
    transport: "unix",
    path: "/tmp/s.sock",
  });
  assert.deepEqual(parseAddressSpec("example.com:443", "connect"), {
    transport: "tcp",
    hostname: "example.com",
    port: 443,
  });
  assert.throws(
    () => parseAddressSpec("80", "connect"),
    /a port alone says where to listen, not where to connect/,
  );
  assert.throws(() => parseAddressSpec("host:0", "connect"), /invalid port '0'/);
  assert.throws(() => parseAddressSpec("sctp://h:1", "connect"), /unknown scheme 'sctp:\/\/'/);
  assert.throws(() => parseAddressSpec("::1:80", "connect"), /put an IPv6 address in brackets/);
  assert.throws(() => parseAddressSpec("unix:", "connect"), /no socket path after unix:/);
  assert.throws(() => parseAddressSpec(":80", "connect"), /no host before the port/);
  for (const spec of ["tls://h:1", "unix:/x", "host:80", "[::1]:80"]) assert.ok(looksLikeSpec(spec), spec);
  for (const host of ["::1", "localhost", "fe80::1%eth0", "127.0.0.1", "[::1]"]) {
    assert.ok(!looksLikeSpec(host), host);
  }
});

Deno.test("address specs: server, client and bench take them as they take --tls, --udp and --unix", async () => {
  const dir = await Deno.makeTempDir();
  const tcp = spawnCli(["server", "tcp://127.0.0.1:0"]);
  const udp = spawnCli(["server", "udp://127.0.0.1:0"]);
  const unix = spawnCli(["server", `unix:${dir}/s.sock`]);
  const tls = spawnCli(["server", "tls://127.0.0.1:0", "--write-cert", `${dir}/cert.pem`]);
  try {
    const port = (l: string) => l.match(/:(\d+) \(/)![1];
    const tcpPort = port(await tcp.line(/^Listening on 127\.0\.0\.1:\d+ \(echo\)/));
    const udpPort = port(await udp.line(/^Listening on 127\.0\.0\.1:\d+ \(echo over UDP\)/));
    await unix.line(/^Listening on unix:/);
    const tlsPort = port(await tls.line(/^Listening on 127\.0\.0\.1:\d+ \(echo over TLS\)/));
    const cases: [string[], RegExp][] = [
      [["client", `127.0.0.1:${tcpPort}`, "bare"], /^Received: bare /m],
      [["client", `tcp://127.0.0.1:${tcpPort}`, "tcp"], /^Received: tcp /m],
      [["client", `udp://127.0.0.1:${udpPort}`, "udp"], /^Received: udp /m],
      [["client", `unix:${dir}/s.sock`, "unix"], /^Received: unix /m],
      [["client", `tls://localhost:${tlsPort}`, "tls", "--ca", `${dir}/cert.pem`], /^Received: tls /m],
      [["bench", `tcp://127.0.0.1:${tcpPort}`, "-c", "2", "-n", "20"], /errors\s+0/],
    ];
    for (const [args, re] of cases) {
      const out = await runCli(args);
      assert.equal(out.code, 0, `${args.join(" ")}: ${out.stderr}`);
      assert.match(out.stdout, re);
    }
    const usage: [string[], RegExp][] = [
      [
        ["server", "tls://127.0.0.1:0", "--udp"],
        /--udp and the address 'tls:\/\/127\.0\.0\.1:0' say different things/,
      ],
      [["server", "tcp://127.0.0.1:0", "--host", "::1"], /--host and the address .* both name the host/],
      [["client", `127.0.0.1:${tcpPort}`, "two", "words"], /the message is the one argument after it/],
      [["bench", `127.0.0.1:${tcpPort}`, "99"], /already names the port: give no port after it/],
      [["server", "http"], /invalid port 'http'/],
    ];
    for (const [args, re] of usage) {
      const out = await runCli(args);
      assert.equal(out.code, 2, `${args.join(" ")}: ${out.stderr}`);
      assert.match(out.stderr, re);
    }
  } finally {
    await Promise.all([tcp.stop(), udp.stop(), unix.stop(), tls.stop()]);
    await Deno.remove(dir, { recursive: true });
  }
});
