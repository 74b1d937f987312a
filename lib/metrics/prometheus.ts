/**
 * `/metrics`: a server's counters in the Prometheus text format, built with prom-client. Every metric reads
 * the counters only when it is collected (prom-client's `collect` hook), so serving clients costs nothing
 * more than the plain integer additions the server makes anyway.
 * @module
 */
import { Counter, Gauge, Registry } from "prom-client";
import meta from "../../deno.json" with { type: "json" };
import { CONNECTION_TRANSPORTS, type CounterReadings, REFUSAL_KINDS } from "./counters.ts";

/** The content type of the Prometheus text format, version 0.0.4. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** A total for a counter: prom-client counters only go up, so each collection sets the total read now. */
function total(counter: Counter, value: number, labels?: Record<string, string>): void {
  counter.reset();
  if (labels) counter.inc(labels, value);
  else counter.inc(value);
}

/**
 * The registry of one server run's metrics, read from `counters` (one loop's, or every loop's added up) each
 * time it is rendered.
 *
 * @example
 * ```ts
 * import { ServerCounters } from "./counters.ts";
 * const text = await metricsRegistry(new ServerCounters()).metrics();
 * text.includes("# TYPE sockkit_connections_total counter"); // true
 * ```
 */
export function metricsRegistry(counters: CounterReadings): Registry {
  const registers = [new Registry()];
  const counter = (name: string, help: string, read: () => number) =>
    new Counter({
      name,
      help,
      registers,
      collect: function () {
        total(this, read());
      },
    });
  new Gauge({
    name: "sockkit_connections_active",
    help: "Clients connected now, by transport (UDP: peers heard from within --idle-timeout).",
    labelNames: ["transport"],
    registers,
    collect: function () {
      for (const transport of CONNECTION_TRANSPORTS) this.set({ transport }, counters.activeOf(transport));
    },
  });
  counter(
    "sockkit_connections_total",
    "Clients connected since the server started (UDP: peers seen).",
    () => counters.connectionsTotal,
  );
  new Counter({
    name: "sockkit_refused_total",
    help: "Connections turned away or cut off by the guard rails, by reason.",
    labelNames: ["reason"],
    registers,
    collect: function () {
      this.reset();
      for (const reason of REFUSAL_KINDS) this.inc({ reason }, counters.refusedOf(reason));
    },
  });
  counter("sockkit_received_bytes_total", "Bytes received from clients.", () => counters.receivedBytes);
  counter("sockkit_sent_bytes_total", "Bytes sent to clients.", () => counters.sentBytes);
  counter(
    "sockkit_messages_received_total",
    "Reads that returned data from a client (UDP: datagrams; WebSocket: messages).",
    () => counters.messagesReceived,
  );
  counter(
    "sockkit_slow_consumer_disconnects_total",
    "Chat and broadcast clients disconnected because more than --max-queue waited for them.",
    () => counters.slowConsumerDisconnects,
  );
  new Gauge({
    name: "sockkit_queued_bytes",
    help: "Bytes waiting in the chat and broadcast queues, not yet handed to the OS.",
    registers,
    collect: function () {
      this.set(counters.queuedBytes);
    },
  });
  counter(
    "sockkit_hub_dropped_total",
    "Messages from the other instances of a --hub room dropped: malformed, not as this server sends them, or over the cap.",
    () => counters.hubDropped,
  );
  counter(
    "sockkit_udp_dropped_total",
    "UDP replies not sent because a source went over --udp-rate.",
    () => counters.udpDropped,
  );
  new Gauge({
    name: "sockkit_build_info",
    help: "Always 1; the labels say which sockkit and which Deno serve.",
    labelNames: ["version", "deno"],
    registers,
    collect: function () {
      this.set({ version: meta.version, deno: Deno.version.deno }, 1);
    },
  });
  return registers[0];
}
