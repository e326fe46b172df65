/**
 * Automatic maintenance inside `floe serve`: every `intervalMs`, one pass over every table of every
 * bucket with the table's effective S3 Tables maintenance configuration (bucket, then table level).
 * Job statuses land where GetTableMaintenanceJobStatus reads them; the unreferenced-file marks persist
 * per table in the store, so a restart neither forgets nor restarts the removal clocks. Passes never
 * overlap, and a failing table is recorded and skipped, never stopping the others.
 */
import type { FastifyBaseLogger } from "fastify";
import { describeError } from "../errors.ts";
import {
  MAINTENANCE_TYPES,
  maintainTable,
  notYetRun,
  parseUnreferencedFileState,
  type TableMaintenanceJobStatus,
} from "../maintenance/index.ts";
import { tableArnOf } from "./s3tables/arns.ts";
import { effectiveMaintenanceConfiguration, recordMaintenanceJobStatus } from "./s3tables/maintenance.ts";
import type { TableBuckets } from "./table-buckets.ts";

export interface MaintenanceSchedulerOptions {
  buckets: TableBuckets;
  /** Time between the end of one pass and the start of the next; 0 disables the scheduler. */
  intervalMs: number;
  log?: Pick<FastifyBaseLogger, "info" | "warn" | "error">;
  nowMs?: () => number;
}

export interface MaintenancePassSummary {
  tables: number;
  failedJobs: number;
  durationMs: number;
}

const STATE_KEY = "unreferencedFileState";

export class MaintenanceScheduler {
  readonly #options: MaintenanceSchedulerOptions;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<MaintenancePassSummary> | undefined;
  #stopped = false;

  constructor(options: MaintenanceSchedulerOptions) {
    this.#options = options;
  }

  start(): void {
    if (this.#options.intervalMs <= 0 || this.#timer || this.#stopped) return;
    const schedule = () => {
      this.#timer = setTimeout(async () => {
        await this.runOnce().catch((error: unknown) =>
          this.#options.log?.error({ err: error }, "maintenance pass failed"),
        );
        if (!this.#stopped) schedule();
      }, this.#options.intervalMs);
      this.#timer.unref();
    };
    schedule();
  }

  /** Stops scheduling and waits for a pass in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#running?.catch(() => {});
  }

  /** One pass now (or joins the pass already running). */
  runOnce(): Promise<MaintenancePassSummary> {
    if (!this.#running) {
      this.#running = this.#pass().finally(() => {
        this.#running = undefined;
      });
    }
    return this.#running;
  }

  async #pass(): Promise<MaintenancePassSummary> {
    const { buckets, log } = this.#options;
    const now = this.#options.nowMs ?? Date.now;
    const started = performance.now();
    const store = buckets.store;
    let tables = 0;
    let failedJobs = 0;
    for (const bucket of await buckets.list()) {
      const catalog = buckets.catalog(bucket);
      for (const record of await store.listTableRecords(bucket.name, { limit: Number.MAX_SAFE_INTEGER })) {
        if (this.#stopped) break;
        tables++;
        const tableArn = tableArnOf(bucket.arn, record.tableId);
        try {
          const stored = await store.getResourceAttributes(tableArn, "job-status");
          const previousStatus: TableMaintenanceJobStatus = notYetRun();
          for (const type of MAINTENANCE_TYPES) {
            const json = stored[type];
            if (json) previousStatus[type] = JSON.parse(json);
          }
          const state = stored[STATE_KEY];
          const result = await maintainTable({
            catalog,
            identifier: { namespace: record.namespace, name: record.name },
            configuration: await effectiveMaintenanceConfiguration(store, bucket.arn, tableArn),
            previousStatus,
            ...(state ? { unreferencedFileState: parseUnreferencedFileState(JSON.parse(state)) } : {}),
            nowMs: now,
          });
          for (const type of MAINTENANCE_TYPES) {
            await recordMaintenanceJobStatus(store, tableArn, type, result.status[type]);
            if (result.status[type].status === "Failed") failedJobs++;
          }
          await store.updateResourceAttributes(tableArn, "job-status", {
            [STATE_KEY]: JSON.stringify(result.unreferencedFileState),
          });
        } catch (error) {
          failedJobs++;
          log?.warn(
            { table: `${bucket.name}.${record.namespace.join(".")}.${record.name}` },
            describeError(error),
          );
        }
      }
    }
    const summary = { tables, failedJobs, durationMs: Math.round(performance.now() - started) };
    log?.info(summary, "maintenance pass");
    return summary;
  }
}
