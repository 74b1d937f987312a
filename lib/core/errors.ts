/** Exit codes shared by every command: documented in the README. */
export const ExitCode = {
  /** Success, including a server stopped by Ctrl-C/SIGTERM after a clean shutdown. */
  Ok: 0,
  /** The operation failed: refused, timed out, reset, replies lost. */
  Failure: 1,
  /** The command line was wrong. */
  Usage: 2,
} as const;

/** An error a user can cause: a one-line message and the exit code it maps to. */
export class SockkitError extends Error {
  /** The process exit code this error maps to. */
  readonly exitCode: number;

  constructor(message: string, exitCode: number = ExitCode.Failure, options?: ErrorOptions) {
    super(message, options);
    this.name = "SockkitError";
    this.exitCode = exitCode;
  }
}

/** A bad command line: exit code 2. */
export class UsageError extends SockkitError {
  constructor(message: string) {
    super(message, ExitCode.Usage);
    this.name = "UsageError";
  }
}

/** The action a network error interrupted: it picks the advice given with the message. */
export type NetAction = "listen" | "connect" | "read" | "write" | "accept";

interface Explanation {
  reason: string;
  advice?: string;
}

function explainListen(err: unknown): Explanation | undefined {
  if (err instanceof Deno.errors.AddrInUse) {
    return { reason: "address already in use", advice: "try another port, or stop the process using it" };
  }
  if (err instanceof Deno.errors.PermissionDenied) {
    return {
      reason: "permission denied",
      advice: "ports below 1024 need extra privileges: use a port of 1024 or more",
    };
  }
  if (isUnresolvedName(err)) {
    return {
      reason: "name does not resolve",
      advice: "--host takes an address of this machine, a name that resolves to one, or 0.0.0.0 / ::",
    };
  }
  if (err instanceof Deno.errors.AddrNotAvailable) {
    return {
      reason: "address not available",
      advice: "the host must be an address of this machine, or 0.0.0.0 / :: for all interfaces",
    };
  }
  return undefined;
}

/** The resolver could not turn a host name into an address. */
function isUnresolvedName(err: unknown): boolean {
  return err instanceof Error &&
    /lookup address|Name or service not known|No address associated/i.test(err.message);
}

function explainConnect(err: unknown): Explanation | undefined {
  if (err instanceof Deno.errors.ConnectionRefused) {
    return { reason: "connection refused", advice: "is a server listening on that port?" };
  }
  if (err instanceof DOMException && err.name === "TimeoutError") {
    return { reason: "timed out", advice: "check the host and port, or raise --timeout" };
  }
  if (isUnresolvedName(err)) return { reason: "name does not resolve", advice: "check the host name" };
  if (err instanceof Deno.errors.AddrNotAvailable || err instanceof Deno.errors.NetworkUnreachable) {
    return { reason: "network unreachable", advice: "check the host address" };
  }
  return undefined;
}

function explainTransfer(err: unknown): Explanation | undefined {
  const alert = err instanceof Error ? /received fatal alert: (\w+)/.exec(err.message)?.[1] : undefined;
  if (alert === "CertificateRequired") {
    return { reason: "the server requires a client certificate (give --cert FILE and --key FILE)" };
  }
  if (alert) return { reason: `the TLS peer ended the session with the alert ${alert}` };
  if (err instanceof Deno.errors.ConnectionReset) return { reason: "connection reset by peer" };
  if (err instanceof Deno.errors.BrokenPipe) return { reason: "connection closed by peer (broken pipe)" };
  if (err instanceof Deno.errors.ConnectionAborted) return { reason: "connection aborted" };
  if (err instanceof Deno.errors.UnexpectedEof) return { reason: "connection closed by peer" };
  if (err instanceof Deno.errors.TimedOut) return { reason: "timed out" };
  return undefined;
}

/** A short human reason for a network error, e.g. `connection reset by peer`. */
export function networkReason(err: unknown): string {
  const known = explainListen(err) ?? explainConnect(err) ?? explainTransfer(err);
  if (known) return known.reason;
  return err instanceof Error ? err.message : String(err);
}

/**
 * Turns an error thrown by Deno's network API into a `SockkitError` whose message names what failed, why,
 * and what to do, e.g. `cannot listen on 0.0.0.0:80: permission denied (ports below 1024 need …)`.
 * Errors that are already `SockkitError`s are returned as they are.
 */
export function toNetworkError(err: unknown, action: NetAction, address: string): SockkitError {
  if (err instanceof SockkitError) return err;
  const explained = action === "listen"
    ? explainListen(err)
    : action === "connect"
    ? explainConnect(err)
    : undefined;
  const { reason, advice } = explained ?? explainTransfer(err) ??
    { reason: err instanceof Error ? err.message : String(err) };
  const verb = action === "listen"
    ? "cannot listen on"
    : action === "connect"
    ? "cannot connect to"
    : `${action} failed on`;
  return new SockkitError(`${verb} ${address}: ${reason}${advice ? ` (${advice})` : ""}`, ExitCode.Failure, {
    cause: err,
  });
}
