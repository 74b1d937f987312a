import assert from "node:assert/strict";
import { runClient } from "../client.ts";
import { SockkitError } from "../lib/core/errors.ts";
import type { ClientEvent, ServerEvent } from "../lib/report/events.ts";
import { writeAll } from "../lib/core/io.ts";
import { certificateValidity, validityWarning } from "../lib/transports/tls/certinfo.ts";
import { certificateFingerprint } from "../lib/transports/tls/tls.ts";
import type { TlsEndpoint } from "../lib/transports/dispatch.ts";
import { connectTls } from "../lib/transports/tls/tls.ts";
import {
  hasCommand,
  portOf,
  readExactly,
  runCli,
  spawnCli,
  startServer,
  type TestServer,
} from "./_helpers.ts";

/** `sockkit server 0 --host 127.0.0.1 --tls --cert CERT --key KEY` as a child process. */
/** Runs `openssl s_server ARGS -accept 0` until `fn` is done, giving it the port openssl printed. */
async function withOpensslServer(args: string[], fn: (port: string) => Promise<void>): Promise<void> {
  const child = new Deno.Command("openssl", {
    args: ["s_server", "-accept", "0", ...args],
    stdout: "piped",
    stderr: "null",
    stdin: "piped",
  }).spawn();
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let out = "";
    while (!/^ACCEPT .*:\d+$/m.test(out)) out += (await reader.read()).value ?? "";
    reader.releaseLock();
    await fn(/^ACCEPT .*:(\d+)$/m.exec(out)![1]);
  } finally {
    child.kill();
    await child.status;
    await child.stdout.cancel().catch(() => {});
  }
}

function spawnTlsServer(cert: string, key: string) {
  return spawnCli(["server", "0", "--host", "127.0.0.1", "--tls", "--cert", cert, "--key", key]);
}
import { LinePeer } from "./_peer.ts";

const FIXTURES = new URL("./fixtures/", import.meta.url).pathname;
const fixture = (name: string) => FIXTURES + name;
const encoder = new TextEncoder();

/** A TLS server on 127.0.0.1 with a fixture certificate (`server` or `expired`), or an ephemeral one. */
function startTlsServer(cert?: "server" | "expired", extra: Partial<TlsEndpoint["tls"]> = {}) {
  const files = cert ? { certFile: fixture(`${cert}.pem`), keyFile: fixture(`${cert}-key.pem`) } : {};
  return startServer({
    endpoint: { transport: "tls", hostname: "127.0.0.1", port: 0, tls: { ...files, ...extra } },
  });
}

function tlsClient(server: TestServer, tls: TlsEndpoint["tls"], hostname = "127.0.0.1"): TlsEndpoint {
  return { transport: "tls", hostname, port: server.port, tls };
}

async function echoOverTls(
  ep: TlsEndpoint,
  text = "Hello TLS",
): Promise<{ reply?: string; detail?: string }> {
  const events: ClientEvent[] = [];
  await runClient({ endpoint: ep, message: encoder.encode(text), timeoutMs: 5000 }, {
    onEvent: (e) => events.push(e),
  });
  const reply = events.find((e) => e.type === "reply");
  const connected = events.find((e) => e.type === "connected");
  return {
    reply: reply?.type === "reply" ? reply.text : undefined,
    detail: connected?.type === "connected" ? connected.detail : undefined,
  };
}

function handshakeWarning(server: TestServer): Promise<ServerEvent> {
  return server.waitFor((e) => e.type === "warning" && e.message.startsWith("TLS handshake"));
}

async function rejectsWith(ep: TlsEndpoint, pattern: RegExp): Promise<void> {
  await assert.rejects(
    () => runClient({ endpoint: ep, timeoutMs: 5000 }),
    (err) => {
      assert.ok(err instanceof SockkitError, String(err));
      assert.equal(err.exitCode, 1);
      assert.match(err.message, pattern);
      assert.ok(!err.message.includes("\n"), "one line");
      return true;
    },
  );
}

Deno.test("tls: round trip with a certificate signed by a CA given with --ca", async () => {
  const server = await startTlsServer("server");
  try {
    const { reply, detail } = await echoOverTls(
      tlsClient(server, { caFile: fixture("ca.pem") }, "localhost"),
    );
    assert.equal(reply, "Hello TLS");
    assert.equal(detail, "TLS");
    const cert = server.events.find((e) => e.type === "certificate");
    assert.ok(cert?.type === "certificate" && !cert.ephemeral);
    assert.equal(
      cert.fingerprint,
      await certificateFingerprint(await Deno.readTextFile(fixture("server.pem"))),
    );
  } finally {
    await server.stop();
  }
});

Deno.test("tls: round trip with the ephemeral certificate, trusted through --write-cert", async () => {
  const dir = await Deno.makeTempDir();
  const server = await startTlsServer(undefined, { writeCertFile: `${dir}/server.pem` });
  try {
    const cert = server.events.find((e) => e.type === "certificate");
    assert.ok(cert?.type === "certificate" && cert.ephemeral);
    assert.deepEqual(cert.names, ["localhost", "127.0.0.1", "::1"]);
    const written = await Deno.readTextFile(`${dir}/server.pem`);
    assert.equal(cert.fingerprint, await certificateFingerprint(written));
    assert.match(cert.fingerprint, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    for (const host of ["127.0.0.1", "localhost"]) {
      const { reply } = await echoOverTls(tlsClient(server, { caFile: `${dir}/server.pem` }, host));
      assert.equal(reply, "Hello TLS", host);
    }
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tls: the client refuses a certificate from an unknown CA by default, and the server goes on", async () => {
  const server = await startTlsServer("server");
  try {
    await rejectsWith(
      tlsClient(server, {}),
      /^TLS handshake with 127\.0\.0\.1:\d+ failed: the server's certificate is signed by an unknown CA/,
    );
    const warning = await handshakeWarning(server);
    assert.ok(warning.type === "warning");
    assert.match(warning.message, /failed: the client does not trust this certificate \(unknown CA\)$/);
    await rejectsWith(tlsClient(server, { caFile: fixture("other-ca.pem") }), /signed by an unknown CA/);
    assert.equal((await echoOverTls(tlsClient(server, { caFile: fixture("ca.pem") }))).reply, "Hello TLS");
  } finally {
    await server.stop();
  }
});

Deno.test("tls: a wrong host name is refused, naming the names the certificate is for", async () => {
  const server = await startTlsServer("server");
  try {
    await rejectsWith(
      tlsClient(server, { caFile: fixture("ca.pem"), serverName: "example.com" }),
      /failed: the server's certificate is not valid for the name example\.com; it is for localhost, 127\.0\.0\.1, ::1 /,
    );
    const { reply } = await echoOverTls(
      tlsClient(server, { caFile: fixture("ca.pem"), serverName: "localhost" }),
    );
    assert.equal(reply, "Hello TLS", "--servername picks the name checked");
  } finally {
    await server.stop();
  }
});

Deno.test("tls: an expired certificate is refused with its expiry date", async () => {
  const server = await startTlsServer("expired");
  try {
    await rejectsWith(
      tlsClient(server, { caFile: fixture("ca.pem") }),
      /failed: the server's certificate has expired on 2020-01-02 /,
    );
    const warning = await handshakeWarning(server);
    assert.ok(warning.type === "warning" && /has expired/.test(warning.message));
  } finally {
    await server.stop();
  }
});

Deno.test("tls: a plain TCP server is named as such, and so is a plain TCP client", async () => {
  const plain = await startServer();
  try {
    await rejectsWith(
      tlsClient(plain, { caFile: fixture("ca.pem") }),
      /failed: the server does not speak TLS \(is it a plain TCP server\? then drop --tls\)$/,
    );
  } finally {
    await plain.stop();
  }
  const server = await startTlsServer("server");
  try {
    using conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    await writeAll(conn, encoder.encode("GET / HTTP/1.0\r\n\r\n"));
    const warning = await handshakeWarning(server);
    assert.ok(
      warning.type === "warning" && warning.message.endsWith("not a TLS client (it sent plain data)"),
    );
    assert.equal((await echoOverTls(tlsClient(server, { caFile: fixture("ca.pem") }))).reply, "Hello TLS");
  } finally {
    await server.stop();
  }
});

Deno.test("tls: a silent plain TCP server makes the handshake time out, with a hint", async () => {
  const silent = await startServer({ mode: "discard" });
  try {
    await assert.rejects(
      () => runClient({ endpoint: tlsClient(silent, {}), timeoutMs: 300 }),
      (err) =>
        err instanceof SockkitError &&
        /^TLS handshake with 127\.0\.0\.1:\d+ failed: no answer within the --timeout \(is it a TLS server\?/
          .test(
            err.message,
          ),
    );
  } finally {
    await silent.stop();
  }
});

Deno.test("tls: a client that never starts its handshake is given up after the handshake timeout", async () => {
  const server = await startTlsServer("server", { handshakeTimeoutMs: 200 });
  try {
    using silent = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    const warning = await handshakeWarning(server);
    assert.ok(warning.type === "warning" && /no complete handshake within 200 ms/.test(warning.message));
    assert.equal(server.events.filter((e) => e.type === "connect").length, 0, "never handed to the mode");
    assert.equal((await echoOverTls(tlsClient(server, { caFile: fixture("ca.pem") }))).reply, "Hello TLS");
    assert.ok(silent);
  } finally {
    await server.stop();
  }
});

Deno.test("tls: ALPN is negotiated and shown", async () => {
  const server = await startTlsServer("server", { alpn: ["h2", "sockkit"] });
  try {
    const { detail } = await echoOverTls(tlsClient(server, { caFile: fixture("ca.pem"), alpn: ["sockkit"] }));
    assert.equal(detail, "TLS, ALPN sockkit");
  } finally {
    await server.stop();
  }
});

Deno.test("tls: slow handshakes do not hold up other clients, and many clients are served at once", async () => {
  const server = await startTlsServer("server");
  try {
    using stalled = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    const replies = await Promise.all(
      Array.from(
        { length: 20 },
        (_, i) => echoOverTls(tlsClient(server, { caFile: fixture("ca.pem") }), `c${i}`),
      ),
    );
    assert.deepEqual(replies.map((r) => r.reply), Array.from({ length: 20 }, (_, i) => `c${i}`));
    assert.ok(stalled);
  } finally {
    await server.stop();
  }
});

Deno.test("tls: a big transfer comes back intact through TLS records", async () => {
  const server = await startTlsServer("server");
  try {
    const tcp = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    const conn = await Deno.startTls(tcp, {
      hostname: "localhost",
      caCerts: [await Deno.readTextFile(fixture("ca.pem"))],
    });
    try {
      const data = crypto.getRandomValues(new Uint8Array(60_000));
      const [reply] = await Promise.all([readExactly(conn, data.length), writeAll(conn, data)]);
      assert.deepEqual(reply, data);
    } finally {
      conn.close();
    }
  } finally {
    await server.stop();
  }
});

Deno.test("tls + chat: three clients over TLS get names, talk, and see each other leave", async () => {
  const server = await startServer({
    mode: "chat",
    endpoint: {
      transport: "tls",
      hostname: "127.0.0.1",
      port: 0,
      tls: { certFile: fixture("server.pem"), keyFile: fixture("server-key.pem") },
    },
  });
  const peers: LinePeer[] = [];
  const join = async () => {
    const conn = await connectTls(tlsClient(server, { caFile: fixture("ca.pem") }, "localhost"));
    const peer = LinePeer.over(conn);
    peers.push(peer);
    return peer;
  };
  try {
    const a = await join();
    assert.match(await a.line(), /^\* welcome user1, 0 others here/);
    const b = await join();
    assert.match(await b.line(), /^\* welcome user2, 1 other here/);
    assert.equal(await a.line(), "* user2 joined");
    const c = await join();
    assert.match(await c.line(), /^\* welcome user3, 2 others here/);
    for (const p of [a, b]) assert.equal(await p.line(), "* user3 joined");
    await a.send("/nick alice\n");
    for (const p of [a, b, c]) assert.equal(await p.line(), "* user1 is now alice");
    await b.send("secret over TLS\n");
    for (const p of [a, c]) assert.equal(await p.line(), "<user2> secret over TLS");
    await c.send("/who\n");
    assert.equal(await c.line(), "* 3 here: alice, user2, user3");
    c.close();
    for (const p of [a, b]) assert.equal(await p.line(), "* user3 left");
    const left = await server.waitFor((e) => e.type === "disconnect");
    assert.ok(
      left.type === "disconnect" && left.reason === undefined,
      "a TLS client that just closes leaves cleanly",
    );
  } finally {
    for (const p of peers) p.close();
    await server.stop();
  }
});

Deno.test("tls cli: ephemeral certificate, fingerprint printed, client trusts the written file", async () => {
  const dir = await Deno.makeTempDir();
  const server = spawnCli(["server", "0", "--host", "127.0.0.1", "--tls", "--write-cert", `${dir}/c.pem`]);
  try {
    const listening = await server.line(/^Listening on/);
    assert.match(listening, /^Listening on 127\.0\.0\.1:\d+ \(echo over TLS\); Ctrl-C to stop$/);
    const fingerprint = (await server.line(/^SHA-256 fingerprint /)).split(" ").pop()!;
    assert.equal(fingerprint, await certificateFingerprint(await Deno.readTextFile(`${dir}/c.pem`)));
    const port = listening.match(/:(\d+) /)![1];
    const ok = await runCli(["client", "localhost", port, "hi", "--tls", "--ca", `${dir}/c.pem`]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^Connected to localhost:\d+ \(127\.0\.0\.1:\d+, TLS\) in .*\nReceived: hi \(/);
    const refused = await runCli(["client", "127.0.0.1", port, "hi", "--tls"]);
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      /^sockkit: TLS handshake with 127\.0\.0\.1:\d+ failed: the server's certificate is signed by an unknown CA .*\n$/,
    );
  } finally {
    const out = await server.stop();
    assert.equal(out.code, 0, out.stderr);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tls cli: a PEM file whose base64 is damaged is a one-line error naming the file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const good = await Deno.readTextFile(`${FIXTURES}server.pem`);
    await Deno.writeTextFile(`${dir}/bad.pem`, good.replace(/\nMII/, "\nM!!"));
    const server = await runCli([
      "server",
      "0",
      "--tls",
      "--cert",
      `${dir}/bad.pem`,
      "--key",
      `${FIXTURES}server-key.pem`,
    ]);
    const client = await runCli(["client", "localhost", "1", "--tls", "--ca", `${dir}/bad.pem`]);
    for (const [flag, r] of [["--cert", server], ["--ca", client]] as const) {
      assert.equal(r.code, 1, flag);
      assert.equal(
        r.stderr,
        `sockkit: ${flag} ${dir}/bad.pem is not valid PEM: the CERTIFICATE block at line 1 is not base64 ` +
          "(the file is damaged: export it again)\n",
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tls cli: a server given an expired certificate says so at start", async () => {
  const server = spawnTlsServer(`${FIXTURES}expired.pem`, `${FIXTURES}expired-key.pem`);
  await server.line(/^Listening on/);
  const out = await server.stop();
  assert.equal(out.code, 0, out.stderr);
  assert.equal(
    out.stderr,
    `warning: the certificate ${FIXTURES}expired.pem expired on 2020-01-02: clients will refuse it (renew it)\n`,
  );
});

Deno.test("tls: the validity warning covers an expired and a not-yet-valid certificate, and only those", async () => {
  const v = { notBefore: new Date("2030-01-01T00:00:00Z"), notAfter: new Date("2031-01-01T00:00:00Z") };
  assert.equal(
    validityWarning("new.pem", v, new Date("2026-12-03T00:00:00Z")),
    "the certificate new.pem is not valid before 2030-01-01: clients will refuse it until then " +
      "(check this machine's clock, or the certificate's dates)",
  );
  assert.equal(validityWarning("new.pem", v, new Date("2030-06-01T00:00:00Z")), undefined);
  assert.match(
    validityWarning("new.pem", v, new Date("2031-02-01T00:00:00Z")) ?? "",
    /expired on 2031-01-01/,
  );
  const fromFile = certificateValidity(await Deno.readTextFile(`${FIXTURES}expired.pem`));
  assert.equal(fromFile.notAfter.toISOString(), "2020-01-02T00:00:00.000Z");
});

Deno.test("tls cli: with DENO_TLS_CA_STORE=system, as the tasks and binary set it, system roots need no --ca", async () => {
  const server = await startTlsServer("server");
  try {
    const env = { DENO_TLS_CA_STORE: "system", SSL_CERT_FILE: fixture("ca.pem") };
    const out = await runCli(["client", "localhost", String(server.port), "system", "--tls"], { env });
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /Received: system/);
  } finally {
    await server.stop();
  }
});

Deno.test("tls cli: misused TLS options are usage errors naming the fix", async () => {
  const cases: [string[], RegExp][] = [
    [["server", "--cert", "x.pem"], /--cert needs --tls/],
    [["server", "--tls", "--cert", "x.pem"], /--cert and --key go together/],
    [["server", "--tls", "--udp"], /--tls and --udp do not go together/],
    [
      ["server", "--tls", "--cert", "a", "--key", "b", "--write-cert", "c"],
      /with --cert there is none to write/,
    ],
    [["client", "localhost", "1", "--ca", "ca.pem"], /--ca needs --tls/],
    [["client", "localhost", "1", "--tls", "--alpn", "h2,,x"], /invalid --alpn 'h2,,x'/],
  ];
  for (const [args, pattern] of cases) {
    const out = await runCli(args);
    assert.equal(out.code, 2, args.join(" "));
    assert.match(out.stderr, pattern, args.join(" "));
  }
  const missing = await runCli([
    "server",
    "0",
    "--tls",
    "--cert",
    "/nonexistent.pem",
    "--key",
    "/nonexistent.pem",
  ]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^sockkit: cannot read --cert \/nonexistent\.pem: no such file\n$/);
});

Deno.test("tls cli: a CA-flagged server certificate (openssl req -x509): --ca says why, --pin and -k connect", async () => {
  // The test CA's own certificate, served as a server's: what 'openssl req -x509' makes by default.
  const server = spawnTlsServer(`${FIXTURES}ca.pem`, `${FIXTURES}ca-key.pem`);
  try {
    const port = await portOf(server);
    const fingerprint = await certificateFingerprint(await Deno.readTextFile(`${FIXTURES}ca.pem`));

    const byCa = await runCli(["client", "localhost", port, "--tls", "--ca", `${FIXTURES}ca.pem`]);
    assert.equal(byCa.code, 1);
    assert.match(
      byCa.stderr,
      /the server's certificate is marked as a CA .*basicConstraints=critical,CA:FALSE.*--pin/,
    );

    // --pin takes the fingerprint as printed, without colons, in any case; several may be given (rotation).
    const other = "00".repeat(32);
    for (const pin of [fingerprint, fingerprint.replaceAll(":", "").toLowerCase()]) {
      const pinned = await runCli(["client", "localhost", port, "hi", "--tls", "--pin", other, "--pin", pin]);
      assert.equal(pinned.code, 0, pinned.stderr);
      assert.match(
        pinned.stdout,
        /^Connected to localhost:\d+ \(127\.0\.0\.1:\d+, TLS, pinned\) in .*\nReceived: hi \(/,
      );
    }
    const wrong = await runCli(["client", "localhost", port, "hi", "--tls", "--pin", other]);
    assert.equal(wrong.code, 1);
    assert.equal(
      wrong.stderr,
      `sockkit: TLS handshake with localhost:${port} failed: the server's certificate has the fingerprint ` +
        `${fingerprint}, not the pinned ${other.replace(/(..)(?!$)/g, "$1:")} (if the server's certificate ` +
        "changed and you trust the new one, pin its fingerprint)\n",
    );

    const insecure = await runCli(["client", "127.0.0.1", port, "hi", "--tls", "-k", "--json"]);
    assert.equal(insecure.code, 0, insecure.stderr);
    assert.match(insecure.stderr, /^warning: the server's certificate was not verified \(--insecure\)/);
    assert.equal(JSON.parse(insecure.stdout.split("\n")[0]).verified, false);
    const quiet = await runCli(["client", "127.0.0.1", port, "hi", "--tls", "--insecure", "-q"]);
    assert.equal(quiet.code, 0);
    assert.match(quiet.stderr, /not verified \(--insecure\)/, "the warning is printed even with -q");

    const bench = await runCli([
      "bench",
      "127.0.0.1",
      port,
      "--tls",
      "--pin",
      fingerprint,
      "-c",
      "2",
      "-n",
      "50",
    ]);
    assert.equal(bench.code, 0, bench.stderr);
    assert.match(bench.stdout, /errors +0/);
    const benchWrong = await runCli([
      "bench",
      "127.0.0.1",
      port,
      "--tls",
      "--pin",
      other,
      "-c",
      "2",
      "-n",
      "50",
    ]);
    assert.equal(benchWrong.code, 1);
    assert.match(benchWrong.stderr, /^sockkit: TLS handshake with 127\.0\.0\.1:\d+ failed: .*not the pinned/);
  } finally {
    await server.stop();
  }
});

Deno.test("tls cli: --pin and --insecure usage errors name the fix", async () => {
  const cases: [string[], RegExp][] = [
    [["--tls", "--pin", "zz"], /^sockkit: invalid --pin 'zz': expected a SHA-256 fingerprint, 64 hex digits/],
    [["--pin", "AB".repeat(32)], /^sockkit: --pin needs --tls/],
    [["-k"], /^sockkit: --insecure needs --tls/],
    [["--tls", "-k", "--pin", "AB".repeat(32)], /^sockkit: --pin and --insecure exclude each other/],
    [["--tls", "-k", "--ca", "ca.pem"], /^sockkit: --ca and --insecure exclude each other/],
  ];
  for (const [args, expected] of cases) {
    const r = await runCli(["client", "127.0.0.1", "1", ...args]);
    assert.equal(r.code, 2, args.join(" "));
    assert.match(r.stderr, expected);
  }
});

const HAS_OPENSSL = hasCommand("openssl");

Deno.test({
  name: `tls cli: certificates openssl makes: each kind connects, or fails with its own line${
    HAS_OPENSSL ? "" : " (ignored: openssl is not installed)"
  }`,
  ignore: !HAS_OPENSSL,
  async fn() {
    const dir = await Deno.makeTempDir();
    const sh = async (script: string) => {
      const out = await new Deno.Command("sh", { args: ["-c", script], cwd: dir, stderr: "piped" }).output();
      assert.ok(out.success, new TextDecoder().decode(out.stderr));
    };
    const ext = (eku: string, ca = false) =>
      `basicConstraints=critical,CA:${ca ? "TRUE" : "FALSE"}\\n` +
      (ca
        ? "keyUsage=keyCertSign,cRLSign\\n"
        : `subjectAltName=DNS:localhost,IP:127.0.0.1\\nextendedKeyUsage=${eku}\\n`);
    const leaf = (name: string, alg: string, signer: string, eku = "serverAuth") =>
      `openssl req -newkey ${alg} -nodes -keyout ${name}.key -out ${name}.csr -subj /CN=localhost && ` +
      `printf '${ext(eku)}' > ${name}.ext && openssl x509 -req -in ${name}.csr -CA ${signer}.pem ` +
      `-CAkey ${signer}.key -CAcreateserial -out ${name}.pem -days 30 -extfile ${name}.ext`;
    try {
      await sh(
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem " +
          "-days 30 -subj /CN=ca && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes " +
          `-keyout int.key -out int.csr -subj /CN=int && printf '${ext("", true)}' > int.ext && ` +
          "openssl x509 -req -in int.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out int.pem -days 30 " +
          "-extfile int.ext",
      );
      for (
        const [name, alg] of [
          ["rsa", "rsa:2048"],
          ["p256", "ec -pkeyopt ec_paramgen_curve:P-256"],
          ["p384", "ec -pkeyopt ec_paramgen_curve:P-384"],
          ["ed", "ed25519"],
        ]
      ) {
        await sh(leaf(name, alg, "ca"));
      }
      await sh(
        leaf("viaint", "ec -pkeyopt ec_paramgen_curve:P-256", "int") +
          " && cat viaint.pem int.pem > chain.pem",
      );
      await sh(leaf("clientonly", "ec -pkeyopt ec_paramgen_curve:P-256", "ca", "clientAuth"));
      await sh(leaf("expired", "ec -pkeyopt ec_paramgen_curve:P-256", "ca").replace("-days 30", "-days -1"));
      await sh(
        leaf("othername", "ec -pkeyopt ec_paramgen_curve:P-256", "ca").replace(
          "DNS:localhost,IP:127.0.0.1",
          "DNS:other.example",
        ),
      );
      // [kind, certificate, key, chain openssl serves with -cert_chain, what the client prints]
      const cases: [string, string, string, string | undefined, RegExp][] = [
        ["RSA", "rsa.pem", "rsa.key", undefined, /^Received: /m],
        ["ECDSA P-256", "p256.pem", "p256.key", undefined, /^Received: /m],
        ["ECDSA P-384", "p384.pem", "p384.key", undefined, /^Received: /m],
        ["Ed25519", "ed.pem", "ed.key", undefined, /^Received: /m],
        ["an intermediate CA, chain served", "chain.pem", "viaint.key", "int.pem", /^Received: /m],
        [
          "an intermediate CA, chain not served",
          "viaint.pem",
          "viaint.key",
          undefined,
          /not sending the intermediate/,
        ],
        [
          "a client-only certificate",
          "clientonly.pem",
          "clientonly.key",
          undefined,
          /is not for TLS servers .*serverAuth/,
        ],
        [
          "an expired certificate",
          "expired.pem",
          "expired.key",
          undefined,
          /certificate has expired/,
        ],
        [
          "a wrong name",
          "othername.pem",
          "othername.key",
          undefined,
          /is not valid for the name localhost; it is for other\.example/,
        ],
      ];
      for (const [kind, cert, key, chain, expected] of cases) {
        const server = spawnTlsServer(`${dir}/${cert}`, `${dir}/${key}`);
        try {
          const port = await portOf(server);
          const r = await runCli(["client", "localhost", port, "hi", "--tls", "--ca", `${dir}/ca.pem`]);
          assert.match(r.stdout + r.stderr, expected, `${kind}, sockkit's server`);
          assert.doesNotMatch(r.stderr, /invalid peer certificate|internal error/, kind);
        } finally {
          await server.stop();
        }
        // The same certificate served by openssl s_server (-rev answers a line reversed).
        const leafOnly = cert === "chain.pem" ? "viaint.pem" : cert;
        const chainArgs = chain ? ["-cert_chain", `${dir}/${chain}`] : [];
        await withOpensslServer([
          "-rev",
          "-cert",
          `${dir}/${leafOnly}`,
          "-key",
          `${dir}/${key}`,
          ...chainArgs,
        ], async (port) => {
          const r = await runCli(["client", "localhost", port, "hi\n", "--tls", "--ca", `${dir}/ca.pem`]);
          assert.match(r.stdout + r.stderr, expected, `${kind}, openssl s_server`);
          assert.doesNotMatch(r.stderr, /invalid peer certificate|internal error/, kind);
        });
      }
      const mismatch = await runCli([
        "server",
        "0",
        "--tls",
        "--cert",
        `${dir}/rsa.pem`,
        "--key",
        `${dir}/ed.key`,
      ]);
      assert.equal(mismatch.code, 1);
      assert.equal(
        mismatch.stderr,
        `sockkit: --key ${dir}/ed.key is not the private key of --cert ${dir}/rsa.pem: give the key the ` +
          "certificate was made with\n",
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

const HAS_PYTHON = hasCommand("python3");

Deno.test("tls cli: a --ca file that holds no X.509 certificate is named, not blamed on the server", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/bad.pem`,
      "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    );
    const r = await runCli(["client", "localhost", "1", "--tls", "--ca", `${dir}/bad.pem`]);
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      `sockkit: --ca ${dir}/bad.pem is not valid PEM: the CERTIFICATE block at line 1 does not hold an X.509 ` +
        "certificate (the file is damaged, or is something else: export the certificate again)\n",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tls cli: no ALPN protocol in common is one clear line on both sides", async () => {
  const server = spawnCli(["server", "0", "--host", "127.0.0.1", "--tls", "--alpn", "h2"]);
  try {
    const port = await portOf(server);
    for (const trust of [["--insecure"], ["--pin", "AB".repeat(32)]]) {
      const r = await runCli(["client", "127.0.0.1", port, "--tls", "--alpn", "sockkit", ...trust]);
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        /failed: the server supports none of the ALPN protocols asked for \(--alpn\)\n$/,
      );
    }
  } finally {
    const out = await server.stop();
    assert.match(out.stderr, /failed: no ALPN protocol in common with the client \(see --alpn\)/);
  }
});

Deno.test({
  name: `tls cli: a TLS 1.2 server that requires a client certificate gets the --cert/--key hint${
    HAS_OPENSSL ? "" : " (ignored: openssl is not installed)"
  }`,
  ignore: !HAS_OPENSSL,
  async fn() {
    const files = [
      "-cert",
      `${FIXTURES}server.pem`,
      "-key",
      `${FIXTURES}server-key.pem`,
      "-CAfile",
      `${FIXTURES}ca.pem`,
    ];
    await withOpensslServer(
      ["-tls1_2", "-Verify", "1", "-rev", ...files],
      async (port) => {
        const r = await runCli(["client", "localhost", port, "--tls", "--ca", `${FIXTURES}ca.pem`]);
        assert.equal(r.code, 1);
        assert.match(
          r.stderr,
          /alert HandshakeFailure: a TLS 1\.2 server that requires a client certificate says this; give --cert FILE and --key FILE/,
        );
      },
    );
  },
});

Deno.test({
  name: `tls cli: a server that closes without close_notify ends the stream, as it does for sockkit's server${
    HAS_PYTHON ? "" : " (ignored: python3 is not installed)"
  }`,
  ignore: !HAS_PYTHON,
  async fn() {
    const script = `
import socket, ssl
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain("${FIXTURES}server.pem", "${FIXTURES}server-key.pem")
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(); print(s.getsockname()[1], flush=True)
c, _ = s.accept(); t = ctx.wrap_socket(c, server_side=True)
t.sendall(t.recv(100))
raw = socket.socket(fileno=t.detach())  # close the TCP connection without a TLS close_notify
raw.shutdown(socket.SHUT_RDWR); raw.close()
`;
    const child = new Deno.Command("python3", { args: ["-c", script], stdout: "piped", stderr: "null" })
      .spawn();
    try {
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let out = "";
      while (!out.includes("\n")) out += (await reader.read()).value ?? "";
      reader.releaseLock();
      const r = await runCli(["client", "localhost", out.trim(), "-", "--tls", "--ca", `${FIXTURES}ca.pem`], {
        stdin: new TextEncoder().encode("abc"),
      });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, "abc");
    } finally {
      await child.status;
      await child.stdout.cancel().catch(() => {});
    }
  },
});
