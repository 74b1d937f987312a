/**
 * What a relay run counts, stream pairs and UDP sessions alike, and the summary it ends with.
 * @module
 */
import type { EventSink, ServerEvent, ServerSummary } from "../report/events.ts";

/** The running counts of one relay run, from its start. */
export class RelayTotals {
  /** Clients (stream pairs, UDP sessions) served. */
  clients = 0;
  /** Chunks or datagrams relayed. */
  messages = 0;
  /** Clients the guard rails turned away. */
  refused = 0;
  /** Bytes moved each way: `up` from clients to the target, `down` back. */
  readonly relayed = { up: 0, down: 0 };

  /** `startedAt`: when the run started (`performance.now()`), for the summary's uptime. */
  constructor(private readonly startedAt: number) {}

  /** Adds the counts of another run's summary (one event loop of a relay spread over several). */
  add(summary: ServerSummary): void {
    this.clients += summary.clients;
    this.messages += summary.messages;
    this.refused += summary.refused;
    this.relayed.up += summary.relayed?.up ?? 0;
    this.relayed.down += summary.relayed?.down ?? 0;
  }

  /** Reports the run's summary (bytes: both ways together) and returns it. */
  summarize(address: string, emit: EventSink<ServerEvent>): ServerSummary {
    const { clients, messages, refused, relayed } = this;
    const summary: ServerSummary = {
      address,
      clients,
      messages,
      refused,
      bytes: relayed.up + relayed.down,
      relayed: { ...relayed },
      uptimeMs: performance.now() - this.startedAt,
    };
    emit({ type: "summary", ...summary });
    return summary;
  }
}
