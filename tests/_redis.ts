/**
 * A real redis-server for the hub tests and the hub bench: started on a free loopback port in a temp
 * directory, with nothing persisted (`--save '' --appendonly no`), and killed or restarted on the same port.
 * @module
 */
import { freePort, hasCommand } from "./_helpers.ts";

/** Why the Redis tests are ignored on this machine, or undefined when redis-server is installed. */
export const NO_REDIS: string | undefined = hasCommand("redis-server")
  ? undefined
  : "redis-server is not installed (Debian: apt-get install redis-server; .ci/run installs it)";

/** A redis-server this process started. */
export interface RedisServer {
  port: number;
  /** `redis://127.0.0.1:PORT`. */
  url: string;
  /** Kills it at once (SIGKILL: a crash, no goodbye to its clients). */
  kill(): Promise<void>;
  /** Starts it again on the same port (empty: nothing was saved). */
  restart(): Promise<void>;
  /** Kills it and removes its directory. */
  stop(): Promise<void>;
}

/**
 * Starts redis-server and resolves once it answers PING. With `tlsDir`, it serves only TLS, with a
 * self-signed certificate for localhost made there by openssl (and is not PINGed).
 */
export async function startRedis(opts: { tlsDir?: string } = {}): Promise<RedisServer> {
  const dir = await Deno.makeTempDir({ prefix: "sockkit-redis-" });
  const port = freePort();
  const tls = opts.tlsDir ? await selfSignedTls(opts.tlsDir, port) : [];
  let child: Deno.ChildProcess | undefined;
  const spawn = async () => {
    child = new Deno.Command("redis-server", {
      args: [
        ...(tls.length ? tls : ["--port", String(port)]),
        ...["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir],
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    if (tls.length) await waitForListening(port);
    else await waitForPing(port);
  };
  const kill = async () => {
    if (!child) return;
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await child.status;
    child = undefined;
  };
  await spawn();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill,
    restart: spawn,
    stop: async () => {
      await kill();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** The redis-server arguments for TLS only on `port`, with a new self-signed certificate in `dir`. */
async function selfSignedTls(dir: string, port: number): Promise<string[]> {
  const [cert, key] = [`${dir}/cert.pem`, `${dir}/key.pem`];
  const made = await new Deno.Command("openssl", {
    args: ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1"]
      .concat(["-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"]),
    stdout: "null",
    stderr: "null",
  }).output();
  if (!made.success) throw new Error("openssl could not make a certificate");
  return ["--port", "0", "--tls-port", String(port), "--tls-cert-file", cert, "--tls-key-file", key]
    .concat(["--tls-ca-cert-file", cert, "--tls-auth-clients", "no"]);
}

async function waitForListening(port: number): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`redis-server on port ${port} did not listen within 5 s`);
}

async function waitForPing(port: number): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      try {
        await conn.write(new TextEncoder().encode("PING\r\n"));
        const buf = new Uint8Array(16);
        const n = await conn.read(buf);
        if (n && new TextDecoder().decode(buf.subarray(0, n)).startsWith("+PONG")) return;
      } finally {
        conn.close();
      }
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`redis-server on port ${port} did not answer PING within 5 s`);
}
