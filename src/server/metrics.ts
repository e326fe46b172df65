/**
 * The server's Prometheus metrics, in a registry per app (tests build many apps in one process):
 * HTTP requests by route and status, their latency, table commits by outcome, requests refused by
 * auth, metrics reports received from clients, and the process defaults.
 */
import { Counter, collectDefaultMetrics, Histogram, Registry } from "prom-client";

export type CommitOutcomeLabel = "committed" | "conflict" | "failed";

export class ServerMetrics {
  readonly registry = new Registry();
  readonly httpRequests = new Counter({
    name: "floe_http_requests_total",
    help: "HTTP requests served, by method, route pattern and status code",
    labelNames: ["method", "route", "status"] as const,
    registers: [this.registry],
  });
  readonly httpDuration = new Histogram({
    name: "floe_http_request_duration_seconds",
    help: "HTTP request latency, by method and route pattern",
    labelNames: ["method", "route"] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly tableCommits = new Counter({
    name: "floe_table_commits_total",
    help: "Table commits (one per table in a transaction), by outcome",
    labelNames: ["outcome"] as const,
    registers: [this.registry],
  });
  readonly commitRetries = new Counter({
    name: "floe_commit_retries_total",
    help: "Commits the server re-ran on a newer table head after losing a pointer race",
    registers: [this.registry],
  });
  readonly authRejections = new Counter({
    name: "floe_auth_rejections_total",
    help: "Requests refused by authentication (401/419) or authorization (403), by AuthError code",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });
  readonly metricsReports = new Counter({
    name: "floe_rest_metrics_reports_total",
    help: "Scan and commit reports clients sent to the metrics endpoint, by report type",
    labelNames: ["report_type"] as const,
    registers: [this.registry],
  });
  readonly idempotencyKeys = new Counter({
    name: "floe_idempotency_keys_total",
    help: "Requests with an Idempotency-Key that did not run: replayed, reused for another request (422), or still in progress (503)",
    labelNames: ["outcome"] as const,
    registers: [this.registry],
  });
  readonly loadTableCache = new Counter({
    name: "floe_load_table_cache_total",
    help: "Lookups of serialized table metadata by loadTable, by result (hit: no metadata file read or serialized)",
    labelNames: ["result"] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: "floe_" });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
