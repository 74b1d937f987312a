/**
 * A command's process: Ctrl-C as an abort signal, the terminal the interactive client edits on, and the
 * file-access drop once a server listens.
 * @module
 */
import { transportOf } from "../lib/transports/mod.ts";
import type { EventSink, ServerEvent } from "../lib/report/events.ts";
import type { Endpoint } from "../lib/transports/dispatch.ts";
import type { Terminal } from "../lib/client/terminal.ts";

/** An AbortSignal that fires on Ctrl-C (and SIGTERM); a second Ctrl-C exits at once. */
export function interruptSignal(): { signal: AbortSignal; dispose(): void } {
  const ac = new AbortController();
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT", "SIGBREAK"] : ["SIGINT", "SIGTERM"];
  const onSignal = () => {
    if (ac.signal.aborted) Deno.exit(130);
    ac.abort();
  };
  for (const s of signals) Deno.addSignalListener(s, onSignal);
  return {
    signal: ac.signal,
    dispose: () => signals.forEach((s) => Deno.removeSignalListener(s, onSignal)),
  };
}

/** The terminal the interactive client edits lines on, when both stdin and stdout are one. */
export function stdinTerminal(): Terminal | undefined {
  if (!Deno.stdin.isTerminal() || !Deno.stdout.isTerminal()) return undefined;
  return { setRaw: (raw) => Deno.stdin.setRaw(raw, { cbreak: true }) };
}

/**
 * Passes events on; once a TCP, TLS or UDP server is listening it never opens a file again (certificates are
 * read by then), so it gives up read and write access for the rest of its run. A Unix socket server keeps
 * them: its socket file is removed when it stops.
 */
export function dropFileAccessOnceListening(
  endpoint: Endpoint,
  report: EventSink<ServerEvent>,
): EventSink<ServerEvent> {
  return (event) => {
    report(event);
    if (event.type !== "listening" || transportOf(endpoint).capabilities.keepsFileAccess) return;
    for (const name of ["read", "write"] as const) Deno.permissions.revokeSync({ name });
  };
}
