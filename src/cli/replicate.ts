/**
 * `floe replicate --pg URL --catalog URL --bucket B [--credential ID:SECRET] [--namespace NS] [--tables a,b]
 * [--mode upsert|changelog] [--slot S] [--publication P] [--commit-interval-ms N]`: direct mode —
 * capture and sink in one process (src/replicate). Runs until SIGINT/SIGTERM, then finishes the current
 * round, stops capture and exits 0. One line per commit round on stderr.
 */
import { Command, InvalidArgumentError, Option } from "commander";
import { startReplication } from "../replicate/run.ts";
import {
  type CatalogCommandDeps,
  catalogConnectionOf,
  catalogUrlOption,
  closeCatalog,
  credentialOption,
} from "./dump.ts";

interface ReplicateCliOptions {
  pg: string;
  catalog: string;
  credential?: string;
  bucket: string;
  namespace: string;
  tables?: string[];
  mode: "upsert" | "changelog";
  slot: string;
  publication: string;
  commitIntervalMs: number;
}

function positiveInt(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value <= 0)
    throw new InvalidArgumentError(`'${text}' is not a positive integer`);
  return value;
}

export interface ReplicateCommandDeps extends CatalogCommandDeps {
  /** Resolves to stop replication (tests); by default SIGINT/SIGTERM. */
  stopSignal?: Promise<void>;
}

export function replicateCommand(deps: ReplicateCommandDeps): Command {
  const stderr = deps.stderr ?? process.stderr;
  return new Command("replicate")
    .exitOverride()
    .description("Replicate PostgreSQL tables into Iceberg tables in one process (direct mode, no Kafka)")
    .addOption(new Option("--pg <url>", "PostgreSQL connection URL").env("FLOE_PG_URL").makeOptionMandatory())
    .addOption(catalogUrlOption())
    .addOption(credentialOption())
    .addOption(
      new Option("--bucket <name>", "table bucket (warehouse)").env("FLOE_BUCKET").makeOptionMandatory(),
    )
    .option("--namespace <ns>", "Iceberg namespace of the tables (dots for levels)", "public")
    .option("--tables <names>", "comma-separated source tables (name or schema.name); default: all", (text) =>
      text
        .split(",")
        .map((t) => t.trim())
        .filter((t) => t.length > 0),
    )
    .addOption(new Option("--mode <mode>", "table mode").choices(["upsert", "changelog"]).default("upsert"))
    .option("--slot <name>", "replication slot", "floe")
    .option("--publication <name>", "publication", "floe")
    .option("--commit-interval-ms <n>", "time between commit rounds", positiveInt, 1000)
    .action(async (options: ReplicateCliOptions) => {
      const catalog = await deps.openCatalog(options.catalog, options.bucket, catalogConnectionOf(options));
      const log = (line: string) => stderr.write(`${new Date().toISOString()} ${line}\n`);
      try {
        const replication = await startReplication({
          pgUrl: options.pg,
          catalog,
          namespace: options.namespace.split("."),
          ...(options.tables ? { tables: options.tables } : {}),
          mode: options.mode,
          slotName: options.slot,
          publicationName: options.publication,
          commitIntervalMs: options.commitIntervalMs,
          log,
        });
        log(
          `replicating (slot ${options.slot}, publication ${options.publication}) into ${options.bucket}.${options.namespace}`,
        );
        let onSignal: (() => void) | undefined;
        const signalled =
          deps.stopSignal ??
          new Promise<void>((resolve) => {
            onSignal = () => resolve();
            process.once("SIGINT", onSignal);
            process.once("SIGTERM", onSignal);
          });
        try {
          await Promise.race([signalled, replication.done]);
        } finally {
          if (onSignal) {
            process.off("SIGINT", onSignal);
            process.off("SIGTERM", onSignal);
          }
          log("stopping: finishing the current round");
          await replication.stop();
        }
        await replication.done;
      } finally {
        closeCatalog(catalog);
      }
    });
}
