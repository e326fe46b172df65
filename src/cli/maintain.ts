/**
 * `floe maintain --catalog URL --bucket B [--credential ID:SECRET] [--table NS.T] [--only TYPES] [--state FILE] [--json]`: one
 * maintenance pass (compaction, snapshot expiry, unreferenced-file removal) over one table or every
 * table of a bucket, through any Iceberg REST catalog. Settings are S3 Tables' defaults; the marks that
 * unreferenced-file removal keeps between passes live in a local state file, so repeated one-shot runs
 * (e.g. from cron) delete a file only after it stayed unreferenced for `nonCurrentDays`.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { Command, InvalidArgumentError, Option } from "commander";
import { type Catalog, formatIdentifier, parseIdentifier, type TableIdentifier } from "../catalog/catalog.ts";
import {
  MAINTENANCE_TYPES,
  type MaintenanceType,
  maintainTable,
  parseUnreferencedFileState,
  resolveMaintenanceConfiguration,
  type TableMaintenanceJobStatus,
  type UnreferencedFileState,
} from "../maintenance/index.ts";
import {
  type CatalogCommandDeps,
  catalogConnectionOf,
  catalogUrlOption,
  closeCatalog,
  credentialOption,
} from "./dump.ts";

interface MaintainCliOptions {
  catalog: string;
  credential?: string;
  bucket: string;
  table?: TableIdentifier;
  only?: MaintenanceType[];
  state?: string;
  json?: boolean;
}

/** What a pass leaves for the next one, per table: its job statuses and unreferenced-file marks. */
interface MaintenanceStateFile {
  version: 1;
  tables: Record<string, { status: TableMaintenanceJobStatus; unreferencedFileState: UnreferencedFileState }>;
}

function parseTypes(text: string): MaintenanceType[] {
  const types = text.split(",").map((t) => t.trim());
  for (const type of types) {
    if (!(MAINTENANCE_TYPES as readonly string[]).includes(type)) {
      throw new InvalidArgumentError(
        `unknown maintenance type '${type}'; choose from ${MAINTENANCE_TYPES.join(", ")}`,
      );
    }
  }
  return types as MaintenanceType[];
}

function readState(path: string): MaintenanceStateFile {
  if (!existsSync(path)) return { version: 1, tables: {} };
  const parsed = JSON.parse(readFileSync(path, "utf8")) as MaintenanceStateFile;
  for (const entry of Object.values(parsed.tables ?? {})) {
    entry.unreferencedFileState = parseUnreferencedFileState(entry.unreferencedFileState);
  }
  return { version: 1, tables: parsed.tables ?? {} };
}

function writeState(path: string, state: MaintenanceStateFile): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(`${path}.tmp`, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(`${path}.tmp`, path);
}

async function allTables(catalog: Catalog): Promise<TableIdentifier[]> {
  const tables: TableIdentifier[] = [];
  const pending = await catalog.listNamespaces();
  while (pending.length > 0) {
    const namespace = pending.shift()!;
    tables.push(...(await catalog.listTables(namespace)));
    pending.push(...(await catalog.listNamespaces(namespace)));
  }
  return tables;
}

export function maintainCommand(deps: CatalogCommandDeps): Command {
  const stdout = deps.stdout ?? process.stdout;
  return new Command("maintain")
    .exitOverride()
    .description("run one maintenance pass: compaction, snapshot expiry, unreferenced-file removal")
    .addOption(catalogUrlOption())
    .addOption(credentialOption())
    .addOption(
      new Option("--bucket <name>", "table bucket (warehouse)").env("FLOE_BUCKET").makeOptionMandatory(),
    )
    .option("--table <ns.table>", "only this table", (text) => parseIdentifier(text))
    .option("--only <types>", `comma-separated subset of ${MAINTENANCE_TYPES.join(", ")}`, parseTypes)
    .option(
      "--state <file>",
      "where unreferenced-file marks persist (default .floe/maintenance/<bucket>.json)",
    )
    .option("--json", "print the result as JSON")
    .action(async (options: MaintainCliOptions) => {
      const statePath = resolve(options.state ?? `.floe/maintenance/${options.bucket}.json`);
      const state = readState(statePath);
      const catalog = await deps.openCatalog(options.catalog, options.bucket, catalogConnectionOf(options));
      const results: Array<{ table: string; status: TableMaintenanceJobStatus }> = [];
      try {
        const tables = options.table ? [options.table] : await allTables(catalog);
        for (const identifier of tables) {
          const name = formatIdentifier(identifier);
          const previous = state.tables[name];
          const result = await maintainTable({
            catalog,
            identifier,
            configuration: resolveMaintenanceConfiguration(),
            ...(previous
              ? { previousStatus: previous.status, unreferencedFileState: previous.unreferencedFileState }
              : {}),
            ...(options.only ? { only: options.only } : {}),
          });
          state.tables[name] = { status: result.status, unreferencedFileState: result.unreferencedFileState };
          writeState(statePath, state);
          results.push({ table: name, status: result.status });
        }
      } finally {
        closeCatalog(catalog);
      }
      if (options.json) {
        stdout.write(`${JSON.stringify(results, null, 2)}\n`);
      } else {
        for (const { table, status } of results) {
          const parts = MAINTENANCE_TYPES.map((type) => {
            const job = status[type];
            return `${type}=${job.status}${job.failureMessage ? ` (${job.failureMessage})` : ""}`;
          });
          stdout.write(`${table}: ${parts.join(" ")}\n`);
        }
        if (results.length === 0) stdout.write(`bucket ${options.bucket} has no tables\n`);
      }
      const failures = results.flatMap(({ table, status }) =>
        MAINTENANCE_TYPES.filter((t) => status[t].status === "Failed").map(
          (t) => `${table} ${t}: ${status[t].failureMessage ?? "failed"}`,
        ),
      );
      if (failures.length > 0) throw new Error(`maintenance failed: ${failures.join("; ")}`);
    });
}
