/** A WebSocket test client for `--web`: sends text messages, waits for the next one, sees the close. */

const READ_LIMIT_MS = 10_000;

/** A browser-like WebSocket client of `/ws` that reads the server's messages one at a time. */
export class WsPeer {
  readonly messages: string[] = [];
  #next = 0;
  #waiter?: () => void;
  /** The close code and reason, once closed. */
  closed?: { code: number; reason: string };

  private constructor(readonly socket: WebSocket) {
    socket.onmessage = (e) => {
      this.messages.push(String(e.data));
      this.#waiter?.();
    };
    socket.onclose = (e) => {
      this.closed = { code: e.code, reason: e.reason };
      this.#waiter?.();
    };
  }

  /** Opens `url` (`ws://127.0.0.1:PORT/ws`) and resolves once it is open. */
  static async open(url: string, protocols?: string[]): Promise<WsPeer> {
    const peer = new WsPeer(new WebSocket(url, protocols));
    let timer: ReturnType<typeof setTimeout> | undefined;
    await new Promise<void>((resolve, reject) => {
      const fail = (why: string) => reject(new Error(`cannot open ${url}: ${why}`));
      timer = setTimeout(() => fail("not open within 10 s"), READ_LIMIT_MS);
      peer.socket.addEventListener("open", () => resolve(), { once: true });
      peer.socket.addEventListener("error", () => fail("error"), { once: true });
      peer.socket.addEventListener("close", () => fail("closed"), { once: true });
    }).finally(() => clearTimeout(timer));
    return peer;
  }

  /** Sends one text message. */
  send(text: string): void {
    this.socket.send(text);
  }

  /** The next message; throws if the socket closed first or nothing came for 10 s. */
  async line(): Promise<string> {
    const until = performance.now() + READ_LIMIT_MS;
    while (this.#next >= this.messages.length) {
      if (this.closed) {
        throw new Error(
          `closed (${this.closed.code} ${this.closed.reason}); got:\n${this.messages.join("\n")}`,
        );
      }
      const left = until - performance.now();
      if (left <= 0) throw new Error(`no message within 10 s; got:\n${this.messages.join("\n")}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return this.messages[this.#next++];
  }

  /** Skips messages until one matches, and returns it. */
  async until(re: RegExp): Promise<string> {
    for (;;) {
      const line = await this.line();
      if (re.test(line)) return line;
    }
  }

  /** Resolves with the close code and reason once the server closed it (within 10 s). */
  async whenClosed(): Promise<{ code: number; reason: string }> {
    const until = performance.now() + READ_LIMIT_MS;
    while (!this.closed && performance.now() < until) await new Promise((r) => setTimeout(r, 10));
    if (!this.closed) throw new Error("not closed within 10 s");
    return this.closed;
  }

  /** Closes it from this side. */
  close(): void {
    if (this.socket.readyState <= WebSocket.OPEN) this.socket.close();
  }
}

/**
 * Opens a WebSocket by hand over TCP with `headers` and returns the status line and the connection (left
 * open and never read after the response head: a peer that does not read what it is sent).
 */
export async function rawUpgrade(
  port: number,
  headers: Record<string, string> = {},
): Promise<{ status: string; conn: Deno.Conn }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const lines = [
    "GET /ws HTTP/1.1",
    `Host: 127.0.0.1:${port}`,
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version: 13",
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  await conn.write(new TextEncoder().encode(lines.join("\r\n") + "\r\n\r\n"));
  let head = "";
  const buf = new Uint8Array(1);
  while (!head.endsWith("\r\n\r\n")) {
    const n = await conn.read(buf);
    if (n === null) break;
    head += String.fromCharCode(buf[0]);
  }
  return { status: head.split("\r\n")[0], conn };
}

/**
 * Reads a server's WebSocket frames from `conn` (after `rawUpgrade`) until a close frame or the end of the
 * stream (bounded: 10 s), and returns the close frame's code and reason, or undefined when none came.
 */
export async function readUntilClose(conn: Deno.Conn): Promise<{ code: number; reason: string } | undefined> {
  const timer = setTimeout(() => conn.close(), READ_LIMIT_MS);
  let data = new Uint8Array(0);
  const buf = new Uint8Array(256 * 1024);
  const need = async (n: number) => {
    while (data.length < n) {
      const got = await conn.read(buf).catch(() => null);
      if (got === null) return false;
      const next = new Uint8Array(data.length + got);
      next.set(data);
      next.set(buf.subarray(0, got), data.length);
      data = next;
    }
    return true;
  };
  try {
    for (;;) {
      if (!await need(2)) return undefined;
      let len = data[1] & 0x7f;
      let head = 2;
      if (len === 126) {
        if (!await need(4)) return undefined;
        len = (data[2] << 8) | data[3];
        head = 4;
      } else if (len === 127) {
        if (!await need(10)) return undefined;
        len = Number(new DataView(data.buffer, data.byteOffset + 2, 8).getBigUint64(0));
        head = 10;
      }
      if (!await need(head + len)) return undefined;
      const payload = data.subarray(head, head + len);
      if ((data[0] & 0x0f) === 0x8) {
        return {
          code: payload.length >= 2 ? (payload[0] << 8) | payload[1] : 1005,
          reason: new TextDecoder().decode(payload.subarray(2)),
        };
      }
      data = data.slice(head + len);
    }
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Sends one upgrade request to `path` on `port` with the usual valid headers, each of which `headers`
 * replaces (a value of null leaves that header out), and returns the response head's status code and
 * headers (lower-case names), then closes the connection.
 */
export async function upgradeStatus(
  port: number,
  path: string,
  headers: Record<string, string | null> = {},
): Promise<{ status: number; headers: Record<string, string> }> {
  const all: Record<string, string | null> = {
    Host: `127.0.0.1:${port}`,
    Upgrade: "websocket",
    Connection: "Upgrade",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version": "13",
    ...headers,
  };
  const lines = Object.entries(all).filter(([, v]) => v !== null).map(([k, v]) => `${k}: ${v}`);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode([`GET ${path} HTTP/1.1`, ...lines].join("\r\n") + "\r\n\r\n"));
    let head = "";
    const buf = new Uint8Array(1);
    while (!head.endsWith("\r\n\r\n") && head.length < 16384) {
      if ((await conn.read(buf)) === null) break;
      head += String.fromCharCode(buf[0]);
    }
    const [statusLine, ...rest] = head.trim().split("\r\n");
    const fields = Object.fromEntries(
      rest.map((l) => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1).trim()]),
    );
    return { status: Number(statusLine?.split(" ")[1]), headers: fields };
  } finally {
    conn.close();
  }
}
