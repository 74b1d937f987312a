/**
 * Exact reads for the proxy handshakes: a hop must read the proxy's answer and not one byte more, since what
 * follows is the target's (a TLS handshake, a server's greeting).
 * @module
 */
import { SockkitError } from "../../core/errors.ts";
import type { Connection } from "../types.ts";

/**
 * Reads exactly `n` bytes from `conn`; throws a `SockkitError` saying `where` closed the connection early.
 *
 * @example
 * ```ts ignore
 * const [version, method] = await readExactly(conn, 2, "the SOCKS5 proxy 127.0.0.1:1080");
 * ```
 */
export async function readExactly(conn: Connection, n: number, where: string): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const read = await conn.read(out.subarray(got));
    if (read === null) throw new SockkitError(`${where} closed the connection in the middle of its answer`);
    got += read;
  }
  return out;
}

/**
 * Reads an HTTP response head (up to the blank line, at most `max` bytes) one byte at a time, so that
 * nothing past it is taken from the connection.
 */
export async function readHead(conn: Connection, where: string, max = 8192): Promise<string> {
  const bytes: number[] = [];
  const one = new Uint8Array(1);
  while (bytes.length < max) {
    const read = await conn.read(one);
    if (read === null) throw new SockkitError(`${where} closed the connection in the middle of its answer`);
    bytes.push(one[0]);
    const n = bytes.length;
    if (n >= 4 && bytes[n - 4] === 13 && bytes[n - 3] === 10 && bytes[n - 2] === 13 && bytes[n - 1] === 10) {
      return new TextDecoder().decode(new Uint8Array(bytes));
    }
  }
  throw new SockkitError(`${where} sent an answer head over ${max} bytes: is it an HTTP proxy?`);
}

/**
 * A proxy that was reached and answered, but could not reach the target: `said` is its answer in words
 * (`connection refused (SOCKS5 reply 5)`, `it answered 504 Gateway Timeout`), `refused` whether the target
 * refused the connection. Any other error of a hop is the proxy's own (unreachable, silent, credentials).
 */
export class ProxyRefusal extends SockkitError {
  constructor(message: string, readonly said: string, readonly refused: boolean) {
    super(message);
  }
}
