/**
 * `--proxy` for client, relay and probe, against real proxies the test starts: Debian's microsocks (SOCKS5,
 * with and without a user and password) and `ncat --proxy-type http` (HTTP CONNECT, with and without
 * `--proxy-auth`); TLS runs over the proxied stream, verified as usual.
 * @module
 */
import assert from "node:assert/strict";
import { hasCommand, runCli, startServer } from "./_helpers.ts";
import { withProxy } from "../lib/transports/dispatch.ts";
import { parseProxy } from "../lib/transports/proxy/mod.ts";

const FIXTURES = new URL("./fixtures/", import.meta.url).pathname;
const NO_MICROSOCKS = hasCommand("microsocks") ? undefined : "microsocks is not installed";
const NO_NCAT = hasCommand("ncat") ? undefined : "ncat is not installed";

/** A free port on 127.0.0.1 (bound and let go). */
function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Starts `cmd` as a proxy on a free port and waits until it accepts connections. */
async function startProxy(cmd: (port: number) => string[]): Promise<{ port: number; stop(): Promise<void> }> {
  const port = freePort();
  const [bin, ...args] = cmd(port);
  const child = new Deno.Command(bin, { args, stdout: "null", stderr: "null", stdin: "null" }).spawn();
  for (let i = 0; i < 100; i++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    port,
    async stop() {
      child.kill("SIGTERM");
      await child.status;
    },
  };
}

const microsocks = (auth?: string[]) => (port: number) => [
  "microsocks",
  "-i",
  "127.0.0.1",
  "-p",
  String(port),
  ...(auth ?? []),
];
const ncatHttp = (auth?: string) => (port: number) => [
  "ncat",
  "-l",
  "127.0.0.1",
  String(port),
  "--proxy-type",
  "http",
  "-k",
  ...(auth ? ["--proxy-auth", auth] : []),
];

Deno.test("proxy: --proxy URLs are parsed, their passwords never shown, and only TCP and TLS go through", () => {
  const p = parseProxy("socks5h://bob:p%40ss@[::1]");
  assert.deepEqual([p.hostname, p.port, p.auth], ["::1", 1080, { username: "bob", password: "p@ss" }]);
  assert.equal(p.shown, "socks5h://bob@[::1]:1080");
  assert.equal(parseProxy("http://127.0.0.1").port, 8080);
  assert.throws(
    () => parseProxy("127.0.0.1:1080"),
    /invalid --proxy '127\.0\.0\.1:1080'.*socks5:\/\/\[USER:PASS@\]HOST:PORT/,
  );
  assert.throws(() => parseProxy("https://127.0.0.1:3128"), /https is no proxy sockkit speaks/);
  assert.throws(() => parseProxy("http://127.0.0.1:3128/path"), /a proxy URL has no path/);
  const udp = { transport: "udp", hostname: "127.0.0.1", port: 7 } as const;
  assert.throws(
    () => withProxy(udp, p),
    /--proxy carries TCP and TLS connections; a UDP address cannot go through it/,
  );
  const tcp = { transport: "tcp", hostname: "127.0.0.1", port: 7 } as const;
  assert.throws(() => withProxy(tcp, p, "node"), /drop --io node/);
});

Deno.test({
  name: "proxy: client through SOCKS5 (microsocks, with and without a password) and HTTP CONNECT (ncat)",
  ignore: NO_MICROSOCKS !== undefined || NO_NCAT !== undefined,
  async fn() {
    const server = await startServer();
    const proxies = [
      await startProxy(microsocks()),
      await startProxy(microsocks(["-u", "alice", "-P", "secret"])),
      await startProxy(ncatHttp()),
      await startProxy(ncatHttp("alice:secret")),
    ];
    const [socks, socksAuth, http, httpAuth] = proxies.map((p) => p.port);
    try {
      const via = async (proxy: string, host = "localhost", port = server.port) =>
        await runCli(["client", host, String(port), "through", "--proxy", proxy]);
      for (const url of [`socks5://127.0.0.1:${socks}`, `socks5://alice:secret@127.0.0.1:${socksAuth}`]) {
        const r = await via(url);
        assert.equal(r.code, 0, r.stderr);
        assert.match(
          r.stdout,
          /^Connected to localhost:\d+ \(through socks5:\/\/(alice@)?127\.0\.0\.1:\d+\) in /,
        );
        assert.match(r.stdout, /Received: through \(/);
        assert.doesNotMatch(r.stdout + r.stderr, /secret/, "the password is never printed");
      }
      for (const url of [`http://127.0.0.1:${http}`, `http://alice:secret@127.0.0.1:${httpAuth}`]) {
        const r = await via(url);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /Received: through \(/);
      }
      const cases: [string, RegExp][] = [
        [
          `socks5://alice:wrong@127.0.0.1:${socksAuth}`,
          /^sockkit: the SOCKS5 proxy 127\.0\.0\.1:\d+ refused the user name and password \(authentication failed\)$/,
        ],
        [
          `socks5://127.0.0.1:${socksAuth}`,
          /^sockkit: the SOCKS5 proxy 127\.0\.0\.1:\d+ wants a user name and password: give them in the URL/,
        ],
        [
          `http://alice:wrong@127.0.0.1:${httpAuth}`,
          /^sockkit: the HTTP proxy 127\.0\.0\.1:\d+ refused the user name and password \(authentication failed: 407/,
        ],
        [
          `http://127.0.0.1:${httpAuth}`,
          /^sockkit: the HTTP proxy 127\.0\.0\.1:\d+ wants a user name and password \(407 Proxy Authentication Required\)/,
        ],
      ];
      for (const [url, message] of cases) {
        const r = await via(url);
        assert.equal(r.code, 1, `${url}: exit 1`);
        assert.match(r.stderr.trim(), message);
      }
      const closed = freePort();
      const refusedSocks = await via(`socks5://127.0.0.1:${socks}`, "127.0.0.1", closed);
      assert.match(
        refusedSocks.stderr.trim(),
        new RegExp(
          `could not connect to 127\\.0\\.0\\.1:${closed}: connection refused \\(SOCKS5 reply 5\\)$`,
        ),
      );
      const refusedHttp = await via(`http://127.0.0.1:${http}`, "127.0.0.1", closed);
      assert.match(
        refusedHttp.stderr.trim(),
        new RegExp(`would not connect to 127\\.0\\.0\\.1:${closed}: it answered 5\\d\\d`),
      );
      const noProxy = await via(`socks5://127.0.0.1:${closed}`);
      assert.match(
        noProxy.stderr.trim(),
        /^sockkit: cannot connect to 127\.0\.0\.1:\d+ \(--proxy socks5:\/\/127\.0\.0\.1:\d+\): connection refused/,
      );
    } finally {
      for (const p of proxies) await p.stop();
      await server.stop();
    }
  },
});

Deno.test({
  name: "proxy: a proxy that accepts and never answers is given up at --timeout, in one line",
  async fn() {
    const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const held: Deno.Conn[] = [];
    const accepting = (async () => {
      for await (const conn of silent) held.push(conn);
    })();
    try {
      const port = (silent.addr as Deno.NetAddr).port;
      for (const scheme of ["socks5", "http"]) {
        const started = performance.now();
        const r = await runCli([
          "client",
          "localhost",
          "9",
          "-t",
          "500ms",
          "--proxy",
          `${scheme}://127.0.0.1:${port}`,
        ]);
        assert.equal(r.code, 1);
        const label = scheme === "socks5" ? "SOCKS5" : "HTTP CONNECT";
        assert.equal(
          r.stderr.trim(),
          `sockkit: the ${label} proxy 127.0.0.1:${port} did not answer within the --timeout (--proxy ${scheme}://127.0.0.1:${port})`,
        );
        assert.ok(performance.now() - started < 5000);
      }
    } finally {
      silent.close();
      for (const c of held) c.close();
      await accepting.catch(() => {});
    }
  },
});

Deno.test({
  name:
    "proxy: TLS over a proxied stream is verified as usual; relay and probe reach their targets through it",
  ignore: NO_MICROSOCKS !== undefined || NO_NCAT !== undefined,
  async fn() {
    const tls = await startServer({
      endpoint: {
        transport: "tls",
        hostname: "127.0.0.1",
        port: 0,
        tls: { certFile: `${FIXTURES}server.pem`, keyFile: `${FIXTURES}server-key.pem` },
      },
    });
    const echo = await startServer();
    const socks = await startProxy(microsocks());
    const http = await startProxy(ncatHttp());
    try {
      for (const proxy of [`socks5://127.0.0.1:${socks.port}`, `http://127.0.0.1:${http.port}`]) {
        const trusted = await runCli([
          "client",
          "--tls",
          "localhost",
          String(tls.port),
          "over TLS",
          "--ca",
          `${FIXTURES}ca.pem`,
          "--proxy",
          proxy,
        ]);
        assert.equal(trusted.code, 0, trusted.stderr);
        assert.match(trusted.stdout, /\(through (socks5|http):\/\/127\.0\.0\.1:\d+, TLS\)/);
        assert.match(trusted.stdout, /Received: over TLS/);
        const untrusted = await runCli([
          "client",
          "--tls",
          "localhost",
          String(tls.port),
          "x",
          "--proxy",
          proxy,
        ]);
        assert.equal(untrusted.code, 1);
        assert.match(
          untrusted.stderr,
          /TLS handshake with localhost:\d+ failed: the server's certificate is signed by an unknown CA/,
        );
      }
      const insecure = await runCli([
        "client",
        "--tls",
        "localhost",
        String(tls.port),
        "--insecure",
        "--proxy",
        `http://127.0.0.1:${http.port}`,
      ]);
      assert.equal(insecure.code, 2);
      assert.match(insecure.stderr, /--insecure cannot go through --proxy/);

      // the relay's target side through the SOCKS5 proxy
      const relayPort = freePort();
      const relay = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-net",
          "--allow-read",
          "--unstable-net",
          new URL("../main.ts", import.meta.url).pathname,
          "relay",
          `127.0.0.1:${relayPort}`,
          `localhost:${echo.port}`,
          "--proxy",
          `socks5://127.0.0.1:${socks.port}`,
        ],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      try {
        const through = await runCli(["client", "127.0.0.1", String(relayPort), "via the relay"], {
          retryRefused: 50,
        });
        assert.equal(through.code, 0, through.stderr);
        assert.match(through.stdout, /Received: via the relay/);
      } finally {
        relay.kill("SIGINT");
        const out = await relay.output();
        const log = new TextDecoder().decode(out.stdout);
        assert.match(
          log,
          new RegExp(`relay to localhost:${echo.port} through socks5://127\\.0\\.0\\.1:${socks.port}`),
        );
      }

      // probe through each: the proxy resolves the name; its answer says open or closed
      const closed = freePort();
      const probed = await runCli([
        "probe",
        "localhost",
        `${echo.port},${closed}`,
        "-v",
        "--proxy",
        `socks5://127.0.0.1:${socks.port}`,
      ]);
      assert.equal(probed.code, 0, probed.stderr);
      assert.match(probed.stdout, new RegExp(`localhost:${echo.port} +open`));
      assert.match(
        probed.stdout,
        new RegExp(`localhost:${closed} +closed +proxy: connection refused \\(SOCKS5 reply 5\\)`),
      );
      const viaHttp = await runCli([
        "probe",
        "localhost",
        String(echo.port),
        "--proxy",
        `http://127.0.0.1:${http.port}`,
      ]);
      assert.equal(viaHttp.code, 0, viaHttp.stderr);
      const noProxy = await runCli(["probe", "localhost", "80", "--proxy", `http://127.0.0.1:${closed}`]);
      assert.equal(noProxy.code, 1);
      assert.match(
        noProxy.stderr,
        /^sockkit: cannot probe through the proxy: cannot connect to 127\.0\.0\.1:\d+ \(--proxy/m,
      );
    } finally {
      await socks.stop();
      await http.stop();
      await echo.stop();
      await tls.stop();
    }
  },
});
