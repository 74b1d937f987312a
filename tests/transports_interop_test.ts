/**
 * Interoperability with real peers from Debian's packages: openssl (s_client, s_server, x509), socat and
 * netcat-openbsd. A test whose peer is not installed is ignored, and says so in its name.
 */
import assert from "node:assert/strict";
import { runClient } from "../client.ts";
import { SockkitError } from "../lib/core/errors.ts";
import type { ClientEvent } from "../lib/report/events.ts";
import type { Endpoint } from "../lib/transports/dispatch.ts";
import { runCli, spawnCli, startServer } from "./_helpers.ts";

const FIXTURES = new URL("./fixtures/", import.meta.url).pathname;
const encoder = new TextEncoder();

function installed(command: string): boolean {
  try {
    return new Deno.Command("sh", { args: ["-c", `command -v ${command}`], stdout: "null" }).outputSync()
      .success;
  } catch {
    return false;
  }
}

const HAVE = { openssl: installed("openssl"), socat: installed("socat"), nc: installed("nc") };

function needs(tool: keyof typeof HAVE, name: string): { name: string; ignore: boolean } {
  return { name: HAVE[tool] ? name : `${name} (ignored: ${tool} is not installed)`, ignore: !HAVE[tool] };
}

/** An external program with its stdin open (run s_server under `stdbuf -oL`: it buffers a piped stdout), and its stdout and stderr collected as text. */
class Peer {
  readonly child: Deno.ChildProcess;
  #text = { stdout: "", stderr: "" };
  #waiters: { stream: "stdout" | "stderr"; re: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #reading: Promise<void>;

  constructor(command: string, args: string[]) {
    this.child = new Deno.Command(command, { args, stdin: "piped", stdout: "piped", stderr: "piped" })
      .spawn();
    this.#writer = this.child.stdin.getWriter();
    this.#reading = Promise.all([this.#collect("stdout"), this.#collect("stderr")]).then(() => {});
  }

  async #collect(stream: "stdout" | "stderr"): Promise<void> {
    for await (const chunk of this.child[stream].pipeThrough(new TextDecoderStream())) {
      this.#text[stream] += chunk;
      for (const w of [...this.#waiters]) {
        const match = w.stream === stream ? this.#text[stream].match(w.re) : null;
        if (match) {
          this.#waiters.splice(this.#waiters.indexOf(w), 1);
          w.resolve(match);
        }
      }
    }
  }

  /** Resolves once the stream's text so far matches `re`; fails if the program ends first or after 10 s. */
  waitFor(stream: "stdout" | "stderr", re: RegExp): Promise<RegExpMatchArray> {
    const seen = this.#text[stream].match(re);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const fail = (why: string) => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`${stream} ${why} ${re}: ${JSON.stringify(this.#text)}`));
      };
      const timer = setTimeout(() => fail("did not match within 10 s"), 10_000);
      const waiter = {
        stream,
        re,
        resolve: (m: RegExpMatchArray) => (clearTimeout(timer), resolve(m)),
      };
      this.#waiters.push(waiter);
      this.#reading.then(() => {
        if (!this.#waiters.includes(waiter)) return;
        clearTimeout(timer);
        fail("never matched");
      });
    });
  }

  write(text: string): Promise<void> {
    return this.#writer.write(encoder.encode(text));
  }

  /** Closes stdin and waits for the program to end by itself. */
  async finish(): Promise<{ code: number; stdout: string; stderr: string }> {
    await this.#writer.close().catch(() => {});
    const status = await this.child.status;
    await this.#reading;
    return { code: status.code, ...this.#text };
  }

  /** Ends the program (SIGTERM) and waits for it. */
  async kill(): Promise<void> {
    try {
      this.child.kill("SIGTERM");
    } catch { /* already gone */ }
    await this.#writer.close().catch(() => {});
    await this.child.status;
    await this.#reading;
  }
}

async function reply(endpoint: Endpoint, text: string): Promise<string | undefined> {
  const events: ClientEvent[] = [];
  await runClient({ endpoint, message: encoder.encode(text) }, { onEvent: (e) => events.push(e) });
  const r = events.find((e) => e.type === "reply");
  return r?.type === "reply" ? r.text : undefined;
}

/** A port that was free a moment ago, for peers that cannot report the port they got. */
function freeUdpPort(): number {
  const probe = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  return port;
}

Deno.test({
  ...needs(
    "openssl",
    "interop tls: openssl s_client verifies sockkit's ephemeral certificate and gets its echo",
  ),
  fn: async () => {
    const dir = await Deno.makeTempDir();
    const cert = `${dir}/ephemeral.pem`;
    const server = spawnCli(["server", "0", "--host", "127.0.0.1", "--tls", "--write-cert", cert]);
    try {
      const port = (await server.line(/^Listening/)).match(/:(\d+) /)![1];
      const printed = (await server.line(/^SHA-256 fingerprint /)).split(" ").pop();
      const x509 = await new Deno.Command("openssl", {
        args: ["x509", "-in", cert, "-noout", "-fingerprint", "-sha256"],
      }).output();
      assert.equal(new TextDecoder().decode(x509.stdout).trim(), `sha256 Fingerprint=${printed}`);

      const client = new Peer("openssl", [
        "s_client",
        "-connect",
        `127.0.0.1:${port}`,
        "-CAfile",
        cert,
        "-verify_return_error",
        "-verify_hostname",
        "localhost",
        "-quiet",
        "-no_ign_eof",
      ]);
      await client.write("hello from openssl\n");
      await client.waitFor("stdout", /hello from openssl\n/);
      const done = await client.finish();
      assert.equal(done.code, 0, done.stderr);
      assert.match(done.stderr, /verify return:1/);
    } finally {
      await server.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  ...needs(
    "openssl",
    "interop tls: sockkit client certificate accepted by openssl s_server -Verify, refused without",
  ),
  fn: async () => {
    const server = new Peer("stdbuf", [
      "-oL",
      "openssl",
      "s_server",
      "-accept",
      "127.0.0.1:0",
      "-cert",
      `${FIXTURES}server.pem`,
      "-key",
      `${FIXTURES}server-key.pem`,
      "-CAfile",
      `${FIXTURES}ca.pem`,
      "-Verify",
      "1",
      "-verify_return_error",
      "-rev",
    ]);
    try {
      const port = Number((await server.waitFor("stdout", /ACCEPT 127\.0\.0\.1:(\d+)/))[1]);
      const tls = {
        caFile: `${FIXTURES}ca.pem`,
        certFile: `${FIXTURES}client.pem`,
        keyFile: `${FIXTURES}client-key.pem`,
      };
      assert.equal(
        await reply({ transport: "tls", hostname: "localhost", port, tls }, "hello\n"),
        "olleh\\n",
      );
      await server.waitFor("stderr", /Peer certificate: CN = sockkit test client/);
      await assert.rejects(
        () =>
          reply(
            { transport: "tls", hostname: "localhost", port, tls: { caFile: `${FIXTURES}ca.pem` } },
            "hi\n",
          ),
        (err) =>
          err instanceof SockkitError &&
          /^the server requires a client certificate \(give --cert FILE and --key FILE\)/.test(err.message),
      );
    } finally {
      await server.kill();
    }
  },
});

Deno.test({
  ...needs("openssl", "interop tls: sockkit client refuses openssl s_server's expired certificate"),
  fn: async () => {
    const server = new Peer("stdbuf", [
      "-oL",
      "openssl",
      "s_server",
      "-accept",
      "127.0.0.1:0",
      "-cert",
      `${FIXTURES}expired.pem`,
      "-key",
      `${FIXTURES}expired-key.pem`,
    ]);
    try {
      const port = (await server.waitFor("stdout", /ACCEPT 127\.0\.0\.1:(\d+)/))[1];
      const out = await runCli(["client", "localhost", port, "--tls", "--ca", `${FIXTURES}ca.pem`]);
      assert.equal(out.code, 1);
      assert.match(
        out.stderr,
        /^sockkit: TLS handshake with localhost:\d+ failed: the server's certificate has expired on 2020-01-02 \(the server must renew it\)\n$/,
      );
    } finally {
      await server.kill();
    }
  },
});

Deno.test({
  ...needs("nc", "interop unix: nc -U talks to sockkit's Unix socket server"),
  ignore: !HAVE.nc || Deno.build.os === "windows",
  fn: async () => {
    const dir = await Deno.makeTempDir();
    const path = `${dir}/nc.sock`;
    const server = await startServer({ endpoint: { transport: "unix", path } });
    try {
      const nc = new Peer("nc", ["-U", "-N", path]);
      await nc.write("hello from nc\n");
      await nc.waitFor("stdout", /hello from nc\n/);
      const done = await nc.finish();
      assert.equal(done.code, 0, done.stderr);
      assert.equal(done.stdout, "hello from nc\n");
    } finally {
      await server.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  ...needs("socat", "interop unix: sockkit client talks to a socat Unix socket echo server"),
  ignore: !HAVE.socat || Deno.build.os === "windows",
  fn: async () => {
    const dir = await Deno.makeTempDir();
    const path = `${dir}/socat.sock`;
    const socat = new Peer("socat", ["-d", "-d", `UNIX-LISTEN:${path},fork`, "PIPE"]);
    try {
      await socat.waitFor("stderr", /listening on/);
      assert.equal(await reply({ transport: "unix", path }, "hello socat"), "hello socat");
    } finally {
      await socat.kill();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  ...needs("nc", "interop udp: nc -u gets its datagram echoed by sockkit's UDP server"),
  fn: async () => {
    const server = await startServer({ endpoint: { transport: "udp", hostname: "127.0.0.1", port: 0 } });
    try {
      const nc = new Peer("nc", ["-u", "-q", "0", "127.0.0.1", String(server.port)]);
      await nc.write("hello udp\n");
      await nc.waitFor("stdout", /hello udp\n/);
      await nc.kill();
      const peer = await server.waitFor((e) => e.type === "message");
      assert.ok(peer.type === "message" && peer.bytes === 10);
    } finally {
      await server.stop();
    }
  },
});

Deno.test({
  ...needs("socat", "interop udp: sockkit client gets its echo from a socat UDP server"),
  fn: async () => {
    const port = freeUdpPort();
    const socat = new Peer("socat", ["-d", "-d", `UDP-LISTEN:${port},bind=127.0.0.1`, "PIPE"]);
    try {
      await socat.waitFor("stderr", /listening on/);
      assert.equal(
        await reply({ transport: "udp", hostname: "127.0.0.1", port }, "hello socat udp"),
        "hello socat udp",
      );
    } finally {
      await socat.kill();
    }
  },
});
