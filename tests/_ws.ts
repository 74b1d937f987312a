/**
 * WebSocket test helpers: a sockkit WebSocket server in this process, a real client (the npm `ws` package),
 * and a raw TCP peer that completes the upgrade by hand and then misbehaves (goes silent, or sends without
 * ever reading), which no well-behaved client library can be made to do.
 * @module
 */
import WebSocket from "ws";
import { startServer, type TestServer } from "./_helpers.ts";
import type { ServerOptions } from "../server.ts";
import type { WsEndpoint, WsSettings } from "../lib/transports/types.ts";

export { WebSocket };

/** A sockkit server on ws://127.0.0.1:PORT/PATH, with its port and URL. */
export interface WsTestServer extends TestServer {
  url: string;
}

/** Starts `runServer` on a WebSocket endpoint (port 0) in this process. */
export async function startWsServer(
  opts: Partial<ServerOptions> & {
    path?: string;
    ws?: WsSettings;
    secure?: boolean;
    tls?: WsEndpoint["tls"];
  } = {},
): Promise<WsTestServer> {
  const { path = "/", ws, secure = false, tls, ...rest } = opts;
  const endpoint: WsEndpoint = { transport: "ws", hostname: "127.0.0.1", port: 0, path, secure, ws, tls };
  const server = await startServer({ endpoint, ...rest });
  const port = Number(/:(\d+)\//.exec(server.address)![1]);
  return { ...server, port, url: `${secure ? "wss" : "ws"}://127.0.0.1:${port}${path}` };
}

/** One message as the npm `ws` client got it. */
export interface Got {
  data: Uint8Array;
  binary: boolean;
}

/** A connected npm `ws` client that keeps every message and the close it got. */
export interface WsPeer {
  ws: WebSocket;
  messages: Got[];
  /** Resolves with the `n`th message (1-based), or rejects after `timeoutMs`. */
  nth(n: number, timeoutMs?: number): Promise<Got>;
  closed: Promise<{ code: number; reason: string }>;
}

/** Connects the npm `ws` client (options as `ws` takes them) and resolves once it is open. */
export async function openWs(url: string, options: Record<string, unknown> = {}, protocols: string[] = []) {
  const ws = new WebSocket(url, protocols, options);
  const messages: Got[] = [];
  const waiters = new Set<() => void>();
  ws.on("message", (data: Uint8Array | ArrayBuffer, binary: boolean) => {
    messages.push({ data: new Uint8Array(data as ArrayBuffer), binary });
    for (const w of [...waiters]) w();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on(
      "close",
      (code: number, reason: Uint8Array) => resolve({ code, reason: new TextDecoder().decode(reason) }),
    )
  );
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", (err: Error) => reject(err));
  });
  const nth = (n: number, timeoutMs = 5000) =>
    new Promise<Got>((resolve, reject) => {
      const check = () => {
        if (messages.length >= n) {
          waiters.delete(check);
          clearTimeout(timer);
          resolve(messages[n - 1]);
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`message ${n} did not come within ${timeoutMs} ms (got ${messages.length})`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });
  return { ws, messages, nth, closed } satisfies WsPeer;
}

/** Why a `ws` client could not connect: the error message (e.g. `Unexpected server response: 403`). */
export async function refusedWith(url: string, options: Record<string, unknown> = {}): Promise<string> {
  try {
    const peer = await openWs(url, options);
    peer.ws.close();
    return "connected";
  } catch (err) {
    return (err as Error).message;
  }
}

/** A raw TCP connection that has completed the WebSocket upgrade by hand (and read the 101 response). */
export async function rawUpgrade(port: number, path?: string): Promise<Deno.TcpConn>;
export async function rawUpgrade(port: number, path: string, ca: string | undefined): Promise<Deno.Conn>;
/** (`ca`: over TLS, trusting that PEM certificate) */
export async function rawUpgrade(port: number, path = "/", ca?: string): Promise<Deno.Conn> {
  const conn = ca
    ? await Deno.connectTls({ hostname: "127.0.0.1", port, caCerts: [ca] })
    : await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(
    new TextEncoder().encode(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    ),
  );
  let head = "";
  const buf = new Uint8Array(1);
  while (!head.endsWith("\r\n\r\n")) {
    if ((await conn.read(buf)) === null) throw new Error(`closed during the upgrade: ${head}`);
    head += String.fromCharCode(buf[0]);
  }
  if (!head.startsWith("HTTP/1.1 101")) throw new Error(`no upgrade: ${head}`);
  return conn;
}

/** A masked client frame (binary, final) carrying `payload`, for a raw peer that floods the server. */
export function clientFrame(payload: Uint8Array): Uint8Array {
  const n = payload.length;
  const head = n < 126 ? [0x82, 0x80 | n] : n < 65536 ? [0x82, 0x80 | 126, n >> 8, n & 255] : (() => {
    throw new Error("test frames stay under 64 KiB");
  })();
  const mask = [1, 2, 3, 4];
  const out = new Uint8Array(head.length + 4 + n);
  out.set(head);
  out.set(mask, head.length);
  for (let i = 0; i < n; i++) out[head.length + 4 + i] = payload[i] ^ mask[i & 3];
  return out;
}
