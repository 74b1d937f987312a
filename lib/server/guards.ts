/**
 * Guard rails shared by the servers: the `--allow`/`--deny` access rules and the idle timer.
 * @module
 */
import { type Cidr, cidrContains } from "../endpoints/cidr.ts";
import { formatDuration } from "../core/duration.ts";

/** Who may connect: peers in a `deny` network are refused; with an `allow` list, only peers in it are let in. */
export interface AccessRules {
  allow?: readonly Cidr[];
  deny?: readonly Cidr[];
}

/**
 * Why a peer is refused by the access rules, or undefined when it may connect. `deny` wins over `allow`.
 * Rules apply to IP peers only (a Unix-socket peer has no address to match). An IPv4 peer of a dual-stack
 * listener (`::ffff:127.0.0.1`) is matched as its IPv4 address, so a rule means the same on every listener.
 *
 * @example
 * ```ts
 * import { parseCidr } from "../endpoints/cidr.ts";
 * accessRefusal({ hostname: "127.0.0.1", port: 5000, transport: "tcp" }, { deny: [parseCidr("127.0.0.0/8")] });
 * // "denied by --deny 127.0.0.0/8"
 * ```
 */
export function accessRefusal(addr: Deno.Addr, rules: AccessRules): string | undefined {
  if (!("hostname" in addr)) return undefined;
  const denied = rules.deny?.find((c) => cidrContains(c, addr.hostname));
  if (denied) return `denied by --deny ${denied.text}`;
  if (rules.allow?.length && !rules.allow.some((c) => cidrContains(c, addr.hostname))) {
    return "not in the --allow list";
  }
  return undefined;
}

/** The reason logged when a client is closed for being silent too long. */
export function idleReason(timeoutMs: number): string {
  return `idle timeout: nothing received for ${formatDuration(timeoutMs)}`;
}

/** Why `--idle-timeout` closed a client the server could write nothing to: it sends but does not read. */
export function notReadingReason(timeoutMs: number): string {
  return `idle timeout: not reading its echo, nothing could be sent to it for ${formatDuration(timeoutMs)}`;
}

/**
 * Calls `onIdle` once nothing was `touch`ed for `timeoutMs`. Touching is cheap (no timer is re-armed per
 * call): the one timer re-arms itself for the time that is left when it fires.
 *
 * @example
 * ```ts ignore
 * const idle = new IdleTimer(30_000, () => conn.close());
 * idle.touch(); // on every read
 * idle.stop(); // when the connection ends
 * ```
 */
export class IdleTimer {
  #lastActive = performance.now();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #expired = false;

  /** `onIdle` may answer `"active"`: then the timer counts as touched and keeps watching. */
  constructor(readonly timeoutMs: number, private readonly onIdle: () => void | "active") {
    this.#arm(timeoutMs);
  }

  /** True once `onIdle` has been called and did not answer `"active"` (while it runs: true). */
  get expired(): boolean {
    return this.#expired;
  }

  /** Records activity now. */
  touch(): void {
    this.#lastActive = performance.now();
  }

  /** Cancels the timer for good. */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(delayMs: number): void {
    this.#timer = setTimeout(() => {
      const left = this.timeoutMs - (performance.now() - this.#lastActive);
      if (left > 0) return this.#arm(left);
      this.#timer = undefined;
      this.#expired = true;
      if (this.onIdle() === "active") {
        this.#expired = false;
        this.touch();
        this.#arm(this.timeoutMs);
      }
    }, delayMs);
  }
}
