/**
 * IP addresses and networks: parsing `--allow`/`--deny` networks, matching peers against them, and the
 * network a UDP source is rate-limited as. An IPv4-mapped IPv6 address counts as its IPv4 address throughout.
 * @module
 */
import { UsageError } from "../core/errors.ts";

/** An IPv4 or IPv6 network: an address and how many leading bits of it count. */
export interface Cidr {
  /** As given on the command line, normalised to `address/prefix`. */
  readonly text: string;
  /** 4 bytes for IPv4, 16 for IPv6. */
  readonly bytes: Uint8Array;
  readonly prefix: number;
}

function parseIpv4(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const bytes = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    if (!/^\d{1,3}$/.test(parts[i]) || Number(parts[i]) > 255) return undefined;
    bytes[i] = Number(parts[i]);
  }
  return bytes;
}

function parseGroups(text: string): number[] | undefined {
  if (text === "") return [];
  const groups: number[] = [];
  const parts = text.split(":");
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i];
    if (i === parts.length - 1 && part.includes(".")) {
      const v4 = parseIpv4(part);
      if (!v4) return undefined;
      groups.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
    } else if (/^[0-9a-f]{1,4}$/i.test(part)) {
      groups.push(parseInt(part, 16));
    } else {
      return undefined;
    }
  }
  return groups;
}

function parseIpv6(text: string): Uint8Array | undefined {
  const halves = text.replace(/%.*$/, "").split("::");
  if (halves.length > 2) return undefined;
  const head = parseGroups(halves[0]);
  const tail = halves.length === 2 ? parseGroups(halves[1]) : [];
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const groups = [...head, ...new Array(missing).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  return bytes;
}

/**
 * Parses an IPv4 (`192.0.2.7`) or IPv6 (`::1`, `fe80::1%eth0`, `::ffff:10.0.0.1`) address into its 4 or 16
 * bytes; undefined when it is neither.
 */
export function parseIp(text: string): Uint8Array | undefined {
  return text.includes(":") ? parseIpv6(text) : parseIpv4(text);
}

/** True for an IPv4-mapped IPv6 address (`::ffff:127.0.0.1`, in `::ffff:0:0/96`). */
function isMappedIpv4(bytes: Uint8Array): boolean {
  if (bytes.length !== 16) return false;
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}

/**
 * An address as it is matched and rate-limited: an IPv4-mapped IPv6 address (how a dual-stack `::` listener
 * sees an IPv4 peer) becomes the 4 bytes of its IPv4 address; any other address is returned as it is.
 */
export function normalizeIp(bytes: Uint8Array): Uint8Array {
  return isMappedIpv4(bytes) ? bytes.subarray(12) : bytes;
}

/**
 * Parses a network written as `address/prefix` (`10.0.0.0/8`, `fd00::/8`) or a single address (`::1`,
 * meaning /32 or /128). Throws a `UsageError` naming `what` (e.g. `--allow`) when it is not one. An
 * IPv4-mapped network `::ffff:a.b.c.d/n` with n ≥ 96 is the IPv4 network `a.b.c.d/(n-96)`, so it matches
 * the same peers on an IPv4 listener as on a dual-stack one.
 *
 * @example
 * ```ts
 * parseCidr("127.0.0.0/8"); // { text: "127.0.0.0/8", bytes: [127, 0, 0, 0], prefix: 8 }
 * parseCidr("::ffff:127.0.0.0/104"); // { text: "::ffff:127.0.0.0/104", bytes: [127, 0, 0, 0], prefix: 8 }
 * ```
 */
export function parseCidr(value: string, what = "network"): Cidr {
  const [address, prefixText, extra] = value.trim().split("/");
  const bytes = parseIp(address);
  const bits = bytes ? bytes.length * 8 : 0;
  const prefix = prefixText === undefined ? bits : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (!bytes || extra !== undefined || !(prefix >= 0 && prefix <= bits)) {
    throw new UsageError(
      `invalid ${what} '${value}': expected an IPv4 or IPv6 address or network such as 192.168.0.0/16, ` +
        `127.0.0.1 or fd00::/8`,
    );
  }
  const text = `${address}/${prefix}`;
  if (prefix >= 96 && isMappedIpv4(bytes)) return { text, bytes: bytes.slice(12), prefix: prefix - 96 };
  return { text, bytes, prefix };
}

/**
 * True when `address` (as Deno reports a peer: `127.0.0.1`, `::1`, `::ffff:127.0.0.1`) is inside the
 * network. An IPv4-mapped IPv6 peer (an IPv4 client of a dual-stack `::` listener) is its IPv4 address, so
 * it matches IPv4 networks and no IPv6 one (not even `::/0`), as it would on an IPv4 listener.
 */
export function cidrContains(cidr: Cidr, address: string): boolean {
  const parsed = parseIp(address);
  if (!parsed) return false;
  const bytes = normalizeIp(parsed);
  if (bytes.length !== cidr.bytes.length) return false;
  const whole = cidr.prefix >> 3;
  for (let i = 0; i < whole; i++) if (bytes[i] !== cidr.bytes[i]) return false;
  const rest = cidr.prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (bytes[whole] & mask) === (cidr.bytes[whole] & mask);
}

/** An IPv6 address in its shortest form (RFC 5952): `2001:db8::1`, `::`. */
function formatIpv6(bytes: Uint8Array): string {
  const groups = Array.from({ length: 8 }, (_, i) => (bytes[2 * i] << 8) | bytes[2 * i + 1]);
  let [bestAt, bestLength] = [-1, 1];
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [bestAt, bestLength] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestAt < 0) return hex.join(":");
  return `${hex.slice(0, bestAt).join(":")}::${hex.slice(bestAt + bestLength).join(":")}`;
}

/**
 * The network a UDP source is rate-limited as, as text: its IPv4 address (an IPv4-mapped IPv6 one counts as
 * the IPv4 address), or the /64 of its IPv6 address (one host or site usually holds a whole /64, so a
 * spoofer could pick any address in it). A text that is not an address is returned as it is.
 *
 * @example
 * ```ts
 * sourceNetwork("::ffff:192.0.2.7"); // "192.0.2.7"
 * sourceNetwork("2001:db8:1:2:3:4:5:6"); // "2001:db8:1:2::/64"
 * ```
 */
export function sourceNetwork(address: string): string {
  const parsed = parseIp(address);
  if (!parsed) return address;
  const bytes = normalizeIp(parsed);
  if (bytes.length === 4) return bytes.join(".");
  const network = new Uint8Array(16);
  network.set(bytes.subarray(0, 8));
  return `${formatIpv6(network)}/64`;
}
