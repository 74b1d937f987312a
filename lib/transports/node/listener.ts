/**
 * The `node:net` I/O core's listener (`--io node`): a `node:net` TCP server whose connections are taken one
 * at a time with `accept()`, as from a `Deno.Listener`, and come as {@link NodeConn}s. Connections are
 * half-open capable (a peer's end of stream leaves the sending side open) and send without Nagle delay.
 * @module
 */
import net from "node:net";
import { denoError, NodeConn } from "./conn.ts";

/** Where a node listener binds: a host and port. */
export type NodeListenAddress = { hostname: string; port: number };

/** The kernel's queue of connections not yet accepted (as for `Deno.listen`: the system's maximum). */
const BACKLOG = 4096;

/**
 * A bound, listening node:net server as the accept loop sees a `Deno.Listener`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const listener = await listenNode({ hostname: "127.0.0.1", port: 0 });
 * const port = (listener.addr as Deno.NetAddr).port;
 * const client = await connectNode({ hostname: "127.0.0.1", port });
 * const conn = await listener.accept();
 * await client.write(new TextEncoder().encode("hi"));
 * const buf = new Uint8Array(2);
 * assert.equal(await conn.read(buf), 2);
 * client.close();
 * conn.close();
 * listener.close();
 * ```
 */
export class NodeListener {
  #waiting: net.Socket[] = [];
  #accepting: { resolve: (c: Deno.Conn) => void; reject: (e: unknown) => void } | undefined;
  #error: Error | undefined;
  #closed = false;

  constructor(
    private readonly server: net.Server,
    readonly addr: Deno.Addr,
  ) {
    server.on("connection", (socket: net.Socket) => {
      // A client that reset while it waited in the backlog arrives without an address: nobody to serve.
      if (socket.remoteAddress === undefined) return void socket.destroy();
      socket.setNoDelay(true);
      const taker = this.#accepting;
      if (taker) {
        this.#accepting = undefined;
        taker.resolve(this.#conn(socket));
        return;
      }
      this.#waiting.push(socket);
    });
    server.on("error", (err: Error) => {
      const taker = this.#accepting;
      this.#accepting = undefined;
      if (taker) taker.reject(denoError(err));
      else this.#error = denoError(err);
    });
  }

  #conn(socket: net.Socket): NodeConn {
    return new NodeConn(socket);
  }

  /** The next connection (step 3 of the socket formula); fails with `BadResource` once closed. */
  accept(): Promise<Deno.Conn> {
    if (this.#closed) return Promise.reject(new Deno.errors.BadResource("the listener is closed"));
    const error = this.#error;
    if (error) {
      this.#error = undefined;
      return Promise.reject(error);
    }
    const socket = this.#waiting.shift();
    if (socket) return Promise.resolve(this.#conn(socket));
    return new Promise((resolve, reject) => (this.#accepting = { resolve, reject }));
  }

  /** Stops listening; connections already accepted stay open. */
  close(): void {
    if (this.#closed) throw new Deno.errors.BadResource("the listener is closed");
    this.#closed = true;
    this.server.close();
    for (const socket of this.#waiting) socket.destroy();
    this.#waiting = [];
    const taker = this.#accepting;
    this.#accepting = undefined;
    taker?.reject(new Deno.errors.BadResource("the listener is closed"));
  }

  [Symbol.dispose](): void {
    if (!this.#closed) this.close();
  }
}

/**
 * Binds and listens (steps 1 and 2). Rejects with the `Deno.errors` class Deno's own `listen` raises
 * (`AddrInUse`, `PermissionDenied`, `NotFound`, …) so callers explain failures the same way.
 */
export async function listenNode(at: NodeListenAddress): Promise<NodeListener> {
  try {
    return await bind(at);
  } catch (err) {
    // node:net reports most bind failures as EINVAL; Deno's own listen names the cause (address not
    // available, name not resolved, …), so ask it, and close what it bound if it could.
    if (!(err instanceof Error && /EINVAL/.test(err.message))) throw err;
    const probe = Deno.listen({ hostname: at.hostname, port: at.port, transport: "tcp" });
    probe.close();
    throw err;
  }
}

function bind(at: NodeListenAddress): Promise<NodeListener> {
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: false });
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(denoError(err));
    server.once("error", onError);
    const ready = () => {
      server.off("error", onError);
      const a = server.address() as net.AddressInfo;
      resolve(new NodeListener(server, { transport: "tcp", hostname: a.address, port: a.port }));
    };
    const host = at.hostname.replace(/^\[|\]$/g, "");
    server.listen({ host, port: at.port, backlog: BACKLOG, ipv6Only: false }, ready);
  });
}

/**
 * Connects with `node:net` (the client side of `--io node`), giving up when `signal` aborts; rejects with the
 * `Deno.errors` class `Deno.connect` raises (`ConnectionRefused`, `NotFound`, …).
 *
 * @example
 * ```ts ignore
 * const conn = await connectNode({ hostname: "127.0.0.1", port: 1234 }); // then read and write as on any connection
 * ```
 */
export function connectNode(at: { hostname: string; port: number }, signal?: AbortSignal): Promise<NodeConn> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const socket = net.connect({
      host: at.hostname.replace(/^\[|\]$/g, ""),
      port: at.port,
      allowHalfOpen: true,
      noDelay: true,
    });
    const onAbort = () => {
      socket.destroy();
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    socket.once("connect", () => {
      signal?.removeEventListener("abort", onAbort);
      socket.off("error", onError);
      resolve(new NodeConn(socket));
    });
    const onError = (err: Error) => {
      signal?.removeEventListener("abort", onAbort);
      socket.destroy();
      reject(denoError(err));
    };
    socket.once("error", onError);
  });
}
