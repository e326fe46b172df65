/**
 * `floe query "SQL" --catalog URL --bucket B [--credential ID:SECRET] [--format table|csv|json]
 * [--namespace NS] [--snapshot NS.T=ID] [--stats] [--no-pruning]`: the command line over ../dump/query.ts.
 * The catalog is opened through an injected `openCatalog(url, bucket)` (see ./dump.ts).
 */
import { Command, InvalidArgumentError, Option } from "commander";
import type { Namespace } from "../catalog/catalog.ts";
import type { SnapshotSelection } from "../dump/dump.ts";
import { type QueryFormat, queryFormats } from "../dump/format.ts";
import { runQuery } from "../dump/query.ts";
import {
  type CatalogCommandDeps,
  catalogConnectionOf,
  catalogUrlOption,
  closeCatalog,
  credentialOption,
} from "./dump.ts";

interface QueryCliOptions {
  catalog: string;
  credential?: string;
  bucket: string;
  format: QueryFormat;
  namespace?: Namespace[];
  snapshot?: Record<string, SnapshotSelection>;
  stats?: boolean;
  pruning: boolean;
}

/** `ns.table=123` → a snapshot id for that table, accumulated over repeated flags. */
function parseSnapshotFlag(
  text: string,
  previous: Record<string, SnapshotSelection> | undefined,
): Record<string, SnapshotSelection> {
  const match = /^(.+\..+)=(-?\d+)$/.exec(text);
  if (!match) throw new InvalidArgumentError(`'${text}' must be <namespace>.<table>=<snapshot id>`);
  return { ...previous, [match[1]!]: { snapshotId: BigInt(match[2]!) } };
}

export function queryCommand(deps: CatalogCommandDeps): Command {
  const stdout = deps.stdout ?? process.stdout;
  const stderr = deps.stderr ?? process.stderr;
  return (
    new Command("query")
      // Commander does not pass exitOverride on to added commands: bad usage must reach run() (exit 2).
      .exitOverride()
      .description('Run one read-only SQL SELECT over the bucket\'s tables (views named "namespace"."table")')
      .argument("<sql>", "the SELECT to run")
      .addOption(catalogUrlOption())
      .addOption(credentialOption())
      .addOption(
        new Option("--bucket <name>", "table bucket (warehouse)").env("FLOE_BUCKET").makeOptionMandatory(),
      )
      .addOption(new Option("--format <format>", "output format").choices(queryFormats).default("table"))
      .option(
        "--namespace <ns>",
        "only expose this namespace's tables (repeatable)",
        (text: string, previous: Namespace[] | undefined) => [...(previous ?? []), text.split(".")],
      )
      .option(
        "--snapshot <table=id>",
        "read <namespace>.<table> at a snapshot id (repeatable)",
        parseSnapshotFlag,
      )
      .option(
        "--stats",
        "print each table's planning (filter, files read and skipped) to stderr as JSON lines",
      )
      .option("--no-pruning", "read every data file of each table, ignoring what the WHERE clauses rule out")
      .action(async (sql: string, options: QueryCliOptions) => {
        const catalog = await deps.openCatalog(options.catalog, options.bucket, catalogConnectionOf(options));
        try {
          const result = await runQuery(
            catalog,
            sql,
            { format: options.format, write: (text) => stdout.write(text) },
            { namespaces: options.namespace, snapshots: options.snapshot, pruning: options.pruning },
          );
          if (options.stats) {
            for (const table of result.tables) {
              stderr.write(
                `${JSON.stringify({
                  ...table,
                  snapshotId: table.snapshotId === undefined ? null : String(table.snapshotId),
                  ...(result.pruningDisabled ? { pruningDisabled: result.pruningDisabled } : {}),
                })}\n`,
              );
            }
          }
        } finally {
          closeCatalog(catalog);
        }
      })
  );
}
