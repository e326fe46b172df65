/**
 * Capture's Prometheus metrics, read from a running {@link Capture} at scrape time: the slot's lag in
 * WAL bytes (`pg_current_wal_lsn() - confirmed_flush_lsn`, what an alert on WAL growth watches), events,
 * transactions and snapshot rows emitted, the last committed and the confirmed LSN, plus whatever the
 * downstream reports (records in flight, acknowledged). Served over HTTP by {@link serveMetrics}.
 */
import { createServer, type Server } from "node:http";
import { Counter, collectDefaultMetrics, Gauge, Registry } from "prom-client";
import type { Capture } from "./capture.ts";
import { parseLsn } from "./lsn.ts";

export interface DownstreamStats {
  recordsAcknowledged: number;
  recordsInFlight: number;
  requests: number;
}

/** A counter whose value is read from a running total at scrape time. */
function totalCounter(registry: Registry, name: string, help: string, read: () => number): void {
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}

export function captureMetricsRegistry(capture: Capture, downstream?: () => DownstreamStats): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "floe_" });
  new Gauge({
    name: "floe_capture_slot_lag_bytes",
    help: "WAL bytes the replication slot holds back: pg_current_wal_lsn() - confirmed_flush_lsn",
    registers: [registry],
    async collect() {
      const lag = await capture.slotLagBytes().catch(() => null);
      if (lag === null) this.reset();
      else this.set(lag);
    },
  });
  totalCounter(
    registry,
    "floe_capture_events_total",
    "Change, tombstone, transaction, message and schema events emitted",
    () => capture.metrics().eventsEmitted,
  );
  totalCounter(
    registry,
    "floe_capture_transactions_total",
    "Source transactions emitted",
    () => capture.metrics().transactionsEmitted,
  );
  totalCounter(
    registry,
    "floe_capture_snapshot_rows_total",
    "Rows read by the initial snapshot",
    () => capture.metrics().snapshotRows,
  );
  new Gauge({
    name: "floe_capture_last_commit_lsn",
    help: "Commit end LSN of the last transaction emitted, as a number",
    registers: [registry],
    collect() {
      this.set(Number(parseLsn(capture.metrics().lastCommitLsn)));
    },
  });
  new Gauge({
    name: "floe_capture_confirmed_flush_lsn",
    help: "The LSN capture last confirmed to the slot (everything before it is durable downstream), as a number",
    registers: [registry],
    collect() {
      this.set(Number(parseLsn(capture.metrics().confirmedFlushLsn)));
    },
  });
  if (downstream) {
    new Gauge({
      name: "floe_capture_records_in_flight",
      help: "Records produced but not yet acknowledged by the broker",
      registers: [registry],
      collect() {
        this.set(downstream().recordsInFlight);
      },
    });
    totalCounter(
      registry,
      "floe_capture_records_acknowledged_total",
      "Records the broker acknowledged",
      () => downstream().recordsAcknowledged,
    );
    totalCounter(
      registry,
      "floe_capture_produce_requests_total",
      "Produce requests sent",
      () => downstream().requests,
    );
  }
  return registry;
}

/** Serves `registry` at `GET /metrics` on host:port; resolves once listening (port 0 picks one). */
export async function serveMetrics(registry: Registry, port: number, host = "127.0.0.1"): Promise<Server> {
  const server = createServer((request, response) => {
    if (request.method !== "GET" || (request.url ?? "/").split("?")[0] !== "/metrics") {
      response.writeHead(404, { "content-type": "text/plain" }).end("not found: try GET /metrics\n");
      return;
    }
    registry.metrics().then(
      (text) => response.writeHead(200, { "content-type": registry.contentType }).end(text),
      (error: unknown) =>
        response.writeHead(500, { "content-type": "text/plain" }).end(`${(error as Error).message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return server;
}
