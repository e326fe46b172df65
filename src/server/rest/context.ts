/**
 * What every REST route handler shares: the table buckets, the metrics, and the server's commit
 * policy (re-running a commit that lost a pointer race on the new table head, since its requirements
 * are checked again there, as the spec's optimistic concurrency intends).
 */

import { CatalogError } from "../../catalog/errors.ts";
import type { StoreCatalog } from "../../catalog/store-catalog.ts";
import { IcebergError } from "../../iceberg/errors.ts";
import type { Principals } from "../auth/principals.ts";
import type { ServerMetrics } from "../metrics.ts";
import type { TableBucketRecord } from "../store/store.ts";
import type { TableBuckets } from "../table-buckets.ts";
import type { IdempotencyKeys } from "./idempotency.ts";
import type { LoadTableCache } from "./load-table-cache.ts";

export interface RestContext {
  buckets: TableBuckets;
  metrics: ServerMetrics;
  /** The configured access keys: the OAuth2 token endpoint's clients. */
  principals: Principals;
  /** The bucket `/v1/config` answers for when the client names no warehouse. */
  defaultBucket: string | undefined;
  /** Attempts of one commit request before answering 409 on pointer races (requirement failures answer at once). */
  commitAttempts: number;
  /** Idempotency-Key handling of mutation routes; absent when switched off (lifetime 0). */
  idempotency: IdempotencyKeys | undefined;
  /** Serialized table metadata per metadata file, for loadTable and commit responses. */
  loadTableCache: LoadTableCache;
}

export async function resolveBucket(
  context: RestContext,
  prefix: string,
): Promise<{ bucket: TableBucketRecord; catalog: StoreCatalog }> {
  const bucket = await context.buckets.get(prefix);
  return { bucket, catalog: context.buckets.catalog(bucket) };
}

/**
 * A commit lost only a race (the pointer moved, or the next metadata file name was taken) rather than
 * failing a requirement: StoreCatalog reports requirement failures with the IcebergError as cause.
 */
function lostPointerRace(error: unknown): boolean {
  return (
    error instanceof CatalogError && error.code === "COMMIT_FAILED" && !(error.cause instanceof IcebergError)
  );
}

/** Runs `commit`, re-running it (jittered) after pointer races, and counts the outcome per table. */
export async function commitWithServerRetry<T>(
  context: RestContext,
  tables: number,
  commit: () => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      const result = await commit();
      context.metrics.tableCommits.inc({ outcome: "committed" }, tables);
      return result;
    } catch (error) {
      if (lostPointerRace(error) && attempt < context.commitAttempts) {
        context.metrics.commitRetries.inc();
        await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(50, 2 ** attempt)));
        continue;
      }
      const conflict = error instanceof CatalogError && error.code === "COMMIT_FAILED";
      context.metrics.tableCommits.inc({ outcome: conflict ? "conflict" : "failed" }, tables);
      throw error;
    }
  }
}
