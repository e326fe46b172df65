/**
 * `floe verify --source PG_URL [--catalog URL] [--credential ID:SECRET] [--bucket B] <bucket>.<namespace>.<table>... [--all]
 * [--source-table S.T | --source-schema S] [--wait-ms N] [--max-differences N] [--snapshot-id ID]
 * [--publication P] [--slot S] [--json]`: the command line over ../verify. Prints one report per table
 * (JSON Lines with --json) and fails with VerifyError DIFFERENCES when any table differs, which
 * main.ts turns into exit code 3. The catalog is opened through the injected `openCatalog`, as for dump.
 */
import { Command, InvalidArgumentError, Option } from "commander";
import { type Catalog, type TableIdentifier, validateName } from "../catalog/catalog.ts";
import { FloeError } from "../errors.ts";
import {
  formatReport,
  parseSourceTable,
  VerifyError,
  type VerifyReport,
  verifyTable,
} from "../verify/index.ts";
import { CliError } from "./config.ts";
import {
  type CatalogCommandDeps,
  catalogConnectionOf,
  catalogUrlOption,
  closeCatalog,
  credentialOption,
} from "./dump.ts";

interface VerifyCliOptions {
  source: string;
  catalog: string;
  credential?: string;
  bucket?: string;
  all?: boolean;
  sourceTable?: string;
  sourceSchema?: string;
  waitMs: number;
  maxDifferences: number;
  snapshotId?: bigint;
  publication?: string;
  slot?: string;
  json?: boolean;
}

function wholeNumber(text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value))
    throw new InvalidArgumentError(`'${text}' is not a whole number`);
  return value;
}

function checkedIdentifier<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof FloeError) throw new InvalidArgumentError(error.message);
    throw error;
  }
}

interface Target {
  bucket: string;
  namespace: string[];
  /** Undefined with --all: every table of the namespace. */
  table?: string;
}

/**
 * `bucket.namespace.table` (namespace levels in between), or `namespace.table` in the default bucket; with
 * --all, `bucket.namespace` or `namespace`. Names are validated as the catalog validates them.
 */
export function parseTarget(text: string, all: boolean, defaultBucket: string | undefined): Target {
  const parts = text.split(".");
  const usage = (why: string): never => {
    throw new CliError(
      "USAGE",
      `'${text}' ${why}; write ${all ? "<bucket>.<namespace> (or <namespace> with --bucket)" : "<bucket>.<namespace>.<table> (or <namespace>.<table> with --bucket)"}`,
    );
  };
  if (parts.some((part) => part === "")) usage("has an empty part");
  const needed = all ? 1 : 2;
  let bucket: string;
  if (parts.length === needed) {
    if (defaultBucket === undefined) usage("names no bucket and neither --bucket nor FLOE_BUCKET is set");
    bucket = defaultBucket as string;
  } else if (parts.length > needed) {
    bucket = parts.shift() as string;
  } else {
    return usage("is too short");
  }
  const table = all ? undefined : parts.pop();
  try {
    validateName("namespace", bucket);
    for (const level of parts) validateName("namespace", level);
    if (table !== undefined) validateName("table", table);
  } catch (error) {
    if (error instanceof FloeError) usage(`is not a valid name (${error.message})`);
    throw error;
  }
  return { bucket, namespace: parts, ...(table !== undefined ? { table } : {}) };
}

export function verifyCommand(deps: CatalogCommandDeps): Command {
  const stdout = deps.stdout ?? process.stdout;
  const stderr = deps.stderr ?? process.stderr;
  return (
    new Command("verify")
      // Commander does not pass exitOverride on to added commands: bad usage must reach run() (exit 2).
      .exitOverride()
      .description(
        "Prove that Iceberg tables equal their PostgreSQL sources at one consistent point (exit 3 when they differ)",
      )
      .argument("<tables...>", "<bucket>.<namespace>.<table> (or <namespace>.<table> with --bucket)")
      .addOption(
        new Option("--source <url>", "PostgreSQL connection URL of the source database")
          .env("FLOE_PG_URL")
          .makeOptionMandatory(),
      )
      .addOption(catalogUrlOption())
      .addOption(credentialOption())
      .addOption(
        new Option("--bucket <name>", "bucket of tables named <namespace>.<table>").env("FLOE_BUCKET"),
      )
      .option("--all", "verify every table of the namespaces given as <bucket>.<namespace>")
      .option(
        "--source-table <schema.table>",
        "the PostgreSQL table (one Iceberg table only; default public.<table>)",
        (text) =>
          checkedIdentifier(() => {
            parseSourceTable(text);
            return text;
          }),
      )
      .option("--source-schema <schema>", "PostgreSQL schema of the tables (default public)", (text) =>
        checkedIdentifier(() => {
          parseSourceTable(`${text}.t`);
          return text;
        }),
      )
      .option(
        "--wait-ms <ms>",
        "how long to wait for the lake to reach the verify point",
        wholeNumber,
        30_000,
      )
      .option("--max-differences <n>", "differing keys to list per table", wholeNumber, 10)
      .addOption(
        new Option("--snapshot-id <id>", "compare this Iceberg snapshot (one table only)").argParser(
          (text) => {
            if (!/^-?\d+$/.test(text)) throw new InvalidArgumentError(`'${text}' is not a snapshot id`);
            return BigInt(text);
          },
        ),
      )
      .option(
        "--publication <name>",
        "stream this existing publication of the table instead of a temporary one",
      )
      .option("--slot <name>", "the floe replicate slot whose offset says how far the lake is (default: all)")
      .option("--json", "one JSON report per table (JSON Lines)")
      .action(async (texts: string[], options: VerifyCliOptions) => {
        const targets = texts.map((text) => parseTarget(text, options.all === true, options.bucket));
        const single = !options.all && targets.length === 1;
        if (options.sourceTable !== undefined && !single)
          throw new CliError(
            "USAGE",
            "--source-table names the source of one table; give one table without --all",
          );
        if (options.snapshotId !== undefined && !single)
          throw new CliError(
            "USAGE",
            "--snapshot-id selects a snapshot of one table; give one table without --all",
          );
        if (options.sourceTable !== undefined && options.sourceSchema !== undefined)
          throw new CliError("USAGE", "give --source-table or --source-schema, not both");
        const catalogs = new Map<string, Catalog>();
        const reports: VerifyReport[] = [];
        try {
          for (const target of targets) {
            let catalog = catalogs.get(target.bucket);
            if (!catalog) {
              catalog = await deps.openCatalog(options.catalog, target.bucket, catalogConnectionOf(options));
              catalogs.set(target.bucket, catalog);
            }
            const identifiers: TableIdentifier[] =
              target.table !== undefined
                ? [{ namespace: target.namespace, name: target.table }]
                : await catalog.listTables(target.namespace);
            if (identifiers.length === 0)
              throw new CliError(
                "USAGE",
                `namespace ${target.bucket}.${target.namespace.join(".")} has no tables`,
              );
            for (const identifier of identifiers) {
              const label = [target.bucket, ...identifier.namespace, identifier.name].join(".");
              const sourceTable =
                options.sourceTable ??
                (options.sourceSchema !== undefined
                  ? `${quoted(parseSourceTable(`${options.sourceSchema}.t`).schema)}.${quoted(identifier.name)}`
                  : undefined);
              const report = await verifyTable({
                pgUrl: options.source,
                catalog,
                identifier,
                label,
                ...(sourceTable !== undefined ? { sourceTable } : {}),
                waitMs: options.waitMs,
                maxDifferences: options.maxDifferences,
                ...(options.snapshotId !== undefined ? { snapshotId: options.snapshotId } : {}),
                ...(options.publication !== undefined ? { publication: options.publication } : {}),
                ...(options.slot !== undefined ? { replicateSlot: options.slot } : {}),
                ...(!options.json && stderr.isTTY
                  ? { log: (line: string) => stderr.write(`${line}\n`) }
                  : {}),
              });
              reports.push(report);
              stdout.write(options.json ? `${JSON.stringify(report)}\n` : formatReport(report));
            }
          }
        } finally {
          for (const catalog of catalogs.values()) closeCatalog(catalog);
        }
        const different = reports.filter((report) => !report.equal);
        if (different.length > 0)
          throw new VerifyError(
            "DIFFERENCES",
            `${different.map((report) => report.table).join(", ")} ${different.length === 1 ? "differs" : "differ"} from PostgreSQL (${different.length} of ${reports.length} table(s)); see the report`,
          );
      })
  );
}

/** A name as a quoted identifier for parseSourceTable (the Iceberg name is PostgreSQL's exact name). */
function quoted(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** The error `floe verify` ends with when it compared and found differences (exit code 3, see main.ts). */
export function isDifferences(error: unknown): boolean {
  return error instanceof VerifyError && error.code === "DIFFERENCES";
}
