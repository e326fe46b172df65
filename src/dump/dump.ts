/**
 * `floe dump`: one table at one snapshot, deletes applied, written as Parquet, CSV or JSON Lines to a
 * local path or an `s3://` URL. Floe plans (snapshot selection, pruning by partition and column stats,
 * the delete files of each data file — ../iceberg/scan.ts); DuckDB reads and writes (a scan view from
 * ../iceberg/reader.ts, then one `COPY … TO`). Output placement and its safety rules live in output.ts,
 * the filter grammar in where.ts. Timestamps are written in UTC.
 */
import { readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import type { DuckDBConnection } from "@duckdb/node-api";
import type { Catalog, TableIdentifier } from "../catalog/catalog.ts";
import { parseIdentifier } from "../catalog/catalog.ts";
import { FloeError } from "../errors.ts";
import { sqlIdentifier, sqlString, withDuckDb } from "../iceberg/duckdb.ts";
import { bind, type Expression } from "../iceberg/expressions.ts";
import { createPlanView } from "../iceberg/reader.ts";
import { planScan, resolveScanSnapshot, type ScanMetrics, type ScanTable } from "../iceberg/scan.ts";
import type { FileIO } from "../io/file-io.ts";
import { fileIoFor } from "../io/index.ts";
import { DumpError } from "./errors.ts";
import {
  checkOutputFree,
  createStagingDir,
  type DumpFormat,
  dumpFormats,
  extensionOf,
  publishOutput,
  resolveOutput,
  type StagedFile,
  stagedParts,
} from "./output.ts";
import type { DumpPhase, ProgressListener } from "./progress.ts";
import { parseWhere } from "./where.ts";

/** Which snapshot to read: at most one of these; the current snapshot of `main` when none is given. */
export interface SnapshotSelection {
  snapshotId?: bigint;
  /** The snapshot current on `main` at this instant: a Date, ms since the epoch, or text (parseTimestamp). */
  asOf?: Date | number | string;
  /** A branch or tag name. */
  ref?: string;
}

export interface DumpOptions extends SnapshotSelection {
  /** A local file or directory path, or an `s3://bucket/key` URL. */
  out: string;
  /** Parquet by default, or the one the output's extension names (`.csv`, `.jsonl`/`.ndjson`). */
  format?: DumpFormat;
  /** Top-level columns to write, in this order; all columns of the snapshot's schema by default. */
  columns?: string[];
  /** A row filter: `--where` text (grammar in where.ts) or an Expression. */
  where?: string | Expression;
  /**
   * Split the output into files of about this size: `out` is then a directory of `part-00000.<ext>`,
   * `part-00001.<ext>`, … (numbered in write order).
   */
  maxFileSizeBytes?: number;
  /** Replace an existing output file (or a directory's earlier part files). */
  overwrite?: boolean;
  /** Local outputs must resolve inside this directory. */
  rootDir?: string;
  /** FileIO for an `s3://` output; `fileIoFor(out)` (the AWS SDK's default chain) by default. */
  io?: FileIO;
  /** Where staging files for `s3://` outputs and downloaded table files go; the OS temp dir by default. */
  tempDir?: string;
  /** Parquet compression codec; zstd by default. */
  compression?: "zstd" | "snappy" | "gzip" | "uncompressed";
  onProgress?: ProgressListener;
  /** How often progress is reported while writing; 250 ms by default. */
  progressIntervalMs?: number;
}

export interface DumpResult {
  /** Rows written (after deletes and the filter). */
  rows: number;
  /** Bytes written, summed over the output files. */
  bytes: number;
  /** The output files' locations (paths, or s3:// URLs), in part order. */
  files: string[];
  durationMs: number;
  /** The snapshot read; undefined for a table without snapshots. */
  snapshotId: bigint | undefined;
  /** What planning read and pruned. */
  metrics: ScanMetrics;
}

export type DumpSource = ScanTable | { catalog: Catalog; identifier: TableIdentifier | string };

/**
 * A timestamp for `--as-of`: milliseconds since the epoch (digits only) or an ISO-8601 date/time; a date
 * or time without a zone is read as UTC.
 */
export function parseTimestamp(text: string): number {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const withZone = /(Z|[+-]\d{2}:?\d{2})$/i.test(trimmed)
    ? trimmed
    : /^\d{4}-\d{2}-\d{2}$/.test(trimmed)
      ? `${trimmed}T00:00:00Z`
      : `${trimmed.replace(" ", "T")}Z`;
  const ms = Date.parse(withZone);
  if (Number.isNaN(ms)) {
    throw new DumpError(
      "INVALID_OPTIONS",
      `--as-of ${JSON.stringify(text)} is not a timestamp; write ISO-8601 (2024-05-01T12:00:00Z) or epoch milliseconds`,
    );
  }
  return ms;
}

/** The format named by an output's extension, if any. */
export function formatFromPath(out: string): DumpFormat | undefined {
  const match = /\.([A-Za-z]+)$/.exec(out);
  switch (match?.[1]?.toLowerCase()) {
    case "parquet":
      return "parquet";
    case "csv":
      return "csv";
    case "jsonl":
    case "ndjson":
      return "jsonl";
    default:
      return undefined;
  }
}

function copyOptions(format: DumpFormat, options: DumpOptions): string {
  switch (format) {
    case "parquet":
      return `FORMAT parquet, COMPRESSION ${options.compression ?? "zstd"}`;
    case "csv":
      return "FORMAT csv, HEADER true";
    case "jsonl":
      return "FORMAT json";
  }
}

function validateOptions(options: DumpOptions): DumpFormat {
  const format = options.format ?? formatFromPath(options.out) ?? "parquet";
  if (!dumpFormats.includes(format)) {
    throw new DumpError("INVALID_OPTIONS", `format '${format}' is not one of ${dumpFormats.join(", ")}`);
  }
  const chosen = [options.snapshotId, options.asOf, options.ref].filter((o) => o !== undefined);
  if (chosen.length > 1) {
    throw new DumpError("INVALID_OPTIONS", "choose at most one of --snapshot-id, --as-of and --ref");
  }
  const size = options.maxFileSizeBytes;
  if (size !== undefined && (!Number.isSafeInteger(size) || size <= 0)) {
    throw new DumpError("INVALID_OPTIONS", `max file size ${size} must be a positive number of bytes`);
  }
  if (options.compression && !["zstd", "snappy", "gzip", "uncompressed"].includes(options.compression)) {
    throw new DumpError(
      "INVALID_OPTIONS",
      `compression '${options.compression}' is not zstd, snappy, gzip or uncompressed`,
    );
  }
  return format;
}

/** The scan options for a snapshot selection (`asOf` converted to ms). */
export function scanSelection(selection: SnapshotSelection): {
  snapshotId?: bigint;
  ref?: string;
  asOfTimestampMs?: number;
} {
  const { snapshotId, ref, asOf } = selection;
  if (asOf === undefined) return { snapshotId, ref };
  const ms = asOf instanceof Date ? asOf.getTime() : typeof asOf === "number" ? asOf : parseTimestamp(asOf);
  return { snapshotId, ref, asOfTimestampMs: ms };
}

async function loadSource(source: DumpSource): Promise<ScanTable> {
  if ("metadata" in source) return source;
  const identifier =
    typeof source.identifier === "string" ? parseIdentifier(source.identifier) : source.identifier;
  return source.catalog.loadTable(identifier);
}

/** Binds the filter now, so a bad one fails as INVALID_FILTER naming the column, before any reading. */
function resolveFilter(table: ScanTable, options: DumpOptions): Expression | undefined {
  if (options.where === undefined) return undefined;
  const { schema } = resolveScanSnapshot(table.metadata, scanSelection(options));
  const expression =
    typeof options.where === "string" ? parseWhere(options.where, { schema }) : options.where;
  try {
    bind(expression, schema);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new DumpError("INVALID_FILTER", `--where: ${detail}`, { cause: error });
  }
  return expression;
}

function checkColumns(table: ScanTable, options: DumpOptions): void {
  if (options.columns === undefined) return;
  if (options.columns.length === 0) throw new DumpError("INVALID_OPTIONS", "--columns names no column");
  const { schema } = resolveScanSnapshot(table.metadata, scanSelection(options));
  const names = new Set(schema.fields.map((f) => f.name));
  const unknown = options.columns.filter((c) => !names.has(c));
  if (unknown.length > 0) {
    throw new DumpError(
      "INVALID_OPTIONS",
      `--columns names ${unknown.map((c) => `'${c}'`).join(", ")}, not in the table (columns: ${[...names].join(", ")})`,
    );
  }
  if (new Set(options.columns).size !== options.columns.length) {
    throw new DumpError("INVALID_OPTIONS", "--columns names a column twice");
  }
}

/** Sizes of the files in a staging directory (nested one level for split dumps), for progress. */
async function stagedBytes(dir: string): Promise<number> {
  let total = 0;
  const walk = async (path: string, depth: number) => {
    for (const entry of await readdir(path, { withFileTypes: true }).catch(() => [])) {
      const full = join(path, entry.name);
      if (entry.isDirectory() && depth === 0) await walk(full, 1);
      else if (entry.isFile()) total += (await stat(full).catch(() => ({ size: 0 }))).size;
    }
  };
  await walk(dir, 0);
  return total;
}

/** Runs the COPY, reporting DuckDB's query progress meanwhile. */
async function copyWithProgress(
  connection: DuckDBConnection,
  sql: string,
  stagingDir: string,
  report: (phase: DumpPhase, rows: number, bytes: number, fraction?: number) => void,
  estimatedRows: number,
  intervalMs: number,
): Promise<number> {
  let polling = false;
  const timer = setInterval(() => {
    if (polling) return;
    polling = true;
    const { percentage } = connection.progress;
    stagedBytes(stagingDir)
      .then((bytes) => {
        const fraction = percentage >= 0 ? Math.min(percentage / 100, 1) : undefined;
        report("writing", Math.round((fraction ?? 0) * estimatedRows), bytes, fraction);
      })
      .finally(() => {
        polling = false;
      });
  }, intervalMs);
  try {
    const result = await connection.runAndReadAll(sql);
    return Number(result.getRows()[0]?.[0] ?? 0);
  } finally {
    clearInterval(timer);
  }
}

/** Dumps one table (see the module comment); resolves when every output file is in place. */
export async function dumpTable(source: DumpSource, options: DumpOptions): Promise<DumpResult> {
  const started = performance.now();
  const format = validateOptions(options);
  const split = options.maxFileSizeBytes !== undefined;
  const target = resolveOutput(options.out, { directory: split, rootDir: options.rootDir });
  const io = target.kind === "s3" ? (options.io ?? fileIoFor(target.location)) : undefined;
  await checkOutputFree(target, options.overwrite ?? false, io);

  const table = await loadSource(source);
  checkColumns(table, options);
  const filter = resolveFilter(table, options);
  const plan = await planScan(table, { ...scanSelection(options), filter });
  const estimatedRows = plan.tasks.reduce((sum, task) => sum + task.dataFile.recordCount, 0);

  const report = (phase: DumpPhase, rows: number, bytes: number, fraction?: number) => {
    if (!options.onProgress) return;
    const elapsedMs = performance.now() - started;
    const etaMs =
      fraction !== undefined && fraction > 0 && fraction < 1
        ? (elapsedMs * (1 - fraction)) / fraction
        : undefined;
    options.onProgress({ phase, rows, estimatedRows, bytes, elapsedMs, etaMs, fraction });
  };
  report("planning", 0, 0, 0);

  const stagingDir = await createStagingDir(target, options.tempDir);
  try {
    const extension = extensionOf(format);
    const stagedSingle = join(stagingDir, `dump.${extension}`);
    const stagedSplitDir = join(stagingDir, "parts");
    const destination = split
      ? `${sqlString(stagedSplitDir)} (${copyOptions(format, options)}, FILE_SIZE_BYTES ${options.maxFileSizeBytes}, FILENAME_PATTERN 'part_{i}')`
      : `${sqlString(stagedSingle)} (${copyOptions(format, options)})`;
    const viewName = `floe_dump_${Math.random().toString(36).slice(2)}`;

    const rows = await withDuckDb(async (connection) => {
      await connection.run("SET SESSION TimeZone = 'UTC'");
      await connection.run("SET enable_progress_bar = true");
      await connection.run("SET enable_progress_bar_print = false");
      const view = await createPlanView(connection, table, plan, viewName, {
        columns: options.columns,
        tempDir: options.tempDir,
      });
      try {
        return await copyWithProgress(
          connection,
          `COPY (SELECT * FROM ${sqlIdentifier(viewName)}) TO ${destination}`,
          stagingDir,
          report,
          estimatedRows,
          options.progressIntervalMs ?? 250,
        );
      } catch (error) {
        if (error instanceof FloeError) throw error;
        const detail = error instanceof Error ? error.message : String(error);
        throw new DumpError("WRITE_FAILED", `dumping to ${options.out} failed in DuckDB: ${detail}`, {
          cause: error,
        });
      } finally {
        await view.release();
      }
    });

    const staged: StagedFile[] = split
      ? await stagedParts(stagedSplitDir, format)
      : [{ path: stagedSingle, name: stagedSingle, bytes: (await stat(stagedSingle)).size }];
    const bytes = staged.reduce((sum, f) => sum + f.bytes, 0);
    if (target.kind === "s3") report("uploading", rows, bytes, 1);
    const files = await publishOutput(target, staged, options.overwrite ?? false, io);
    const result: DumpResult = {
      rows,
      bytes,
      files,
      durationMs: performance.now() - started,
      snapshotId: plan.snapshot?.snapshotId,
      metrics: plan.metrics,
    };
    report("done", rows, bytes, 1);
    return result;
  } finally {
    await rm(stagingDir, { recursive: true, force: true });
  }
}
