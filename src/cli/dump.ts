/**
 * `floe dump B.NS.T --catalog URL --out PATH [--format parquet|csv|jsonl] [--snapshot-id N | --as-of TS
 * | --ref NAME] [--columns a,b] [--where FILTER] [--max-file-size SIZE] [--overwrite] [--credential ID:SECRET]`:
 * the command line over ../dump/dump.ts. The catalog is opened through an injected
 * `openCatalog(url, bucket, connection)`, so this module does not depend on which catalog client serves
 * `--catalog`; the connection options every catalog command shares (`--catalog`, `--credential`) live here.
 */
import { Command, InvalidArgumentError, Option } from "commander";
import type { Catalog, TableIdentifier } from "../catalog/catalog.ts";
import { RestCatalog } from "../catalog/rest-catalog.ts";
import { dumpTable, parseTimestamp } from "../dump/dump.ts";
import { type DumpFormat, dumpFormats } from "../dump/output.ts";
import { progressRendererFor } from "../dump/progress.ts";
import { parseWhere } from "../dump/where.ts";
import { FloeError } from "../errors.ts";

export const DEFAULT_CATALOG_URL = "http://127.0.0.1:8181";

/** How a command authenticates to the catalog (`--credential` / FLOE_CREDENTIAL). */
export interface CatalogConnection {
  /** OAuth2 client credentials `ID:SECRET` (for floe serve: an access key id and its secret). */
  credential?: string;
}

export interface CatalogCommandDeps {
  /** Opens the catalog of one bucket (table bucket / warehouse) at `url`. */
  openCatalog: (url: string, bucket: string, connection?: CatalogConnection) => Promise<Catalog>;
  stdout?: NodeJS.WritableStream & { isTTY?: boolean };
  stderr?: NodeJS.WritableStream & { isTTY?: boolean };
}

/**
 * The default `openCatalog`: the Iceberg REST catalog at `url` with the bucket as warehouse. A URL with no
 * path is taken as a `floe serve` root, whose REST catalog lives under `/iceberg`.
 */
export async function openRestCatalog(
  url: string,
  bucket: string,
  connection: CatalogConnection = {},
): Promise<Catalog> {
  let uri = url;
  try {
    const parsed = new URL(url);
    if (parsed.pathname === "/" || parsed.pathname === "") uri = `${parsed.origin}/iceberg`;
  } catch {
    throw new InvalidArgumentError(
      `--catalog ${JSON.stringify(url)} is not a URL; write e.g. http://127.0.0.1:8181`,
    );
  }
  if (connection.credential !== undefined && !/^[^:]+:.+$/.test(connection.credential)) {
    throw new InvalidArgumentError("--credential must be ACCESS_KEY_ID:SECRET_ACCESS_KEY");
  }
  return new RestCatalog({
    uri,
    warehouse: bucket,
    ...(connection.credential ? { credential: connection.credential } : {}),
  });
}

/** `--catalog URL` (env FLOE_CATALOG_URL), shared by every catalog command. */
export function catalogUrlOption(): Option {
  return new Option("--catalog <url>", "Iceberg REST catalog (a floe serve root)")
    .env("FLOE_CATALOG_URL")
    .default(DEFAULT_CATALOG_URL);
}

/** `--credential ID:SECRET` (env FLOE_CREDENTIAL), shared by every catalog command. */
export function credentialOption(): Option {
  return new Option(
    "--credential <id:secret>",
    "OAuth2 client credentials for the catalog (floe serve: an access key id and secret); prefer the env var, which stays out of `ps`",
  ).env("FLOE_CREDENTIAL");
}

/** The connection settings among a command's parsed options. */
export function catalogConnectionOf(options: { credential?: string }): CatalogConnection {
  return options.credential ? { credential: options.credential } : {};
}

/** Closes what a catalog holds open (a REST catalog's FileIOs), if it has anything to close. */
export function closeCatalog(catalog: Catalog): void {
  (catalog as Catalog & { close?: () => void }).close?.();
}

/** `bucket.namespace.table` (namespace may have several levels) → bucket and table identifier. */
export function parseBucketTable(text: string): { bucket: string; identifier: TableIdentifier } {
  const parts = text.split(".");
  if (parts.length < 3 || parts.some((p) => p === "")) {
    throw new InvalidArgumentError(`'${text}' must be <bucket>.<namespace>.<table>`);
  }
  const bucket = parts.shift()!;
  const name = parts.pop()!;
  return { bucket, identifier: { namespace: parts, name } };
}

const sizeUnits: Record<string, number> = {
  "": 1,
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
};

/** `268435456`, `256MB`, `1GiB` → bytes. */
export function parseSize(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = sizeUnits[match?.[2]?.toLowerCase() ?? "?"];
  if (!match || unit === undefined) {
    throw new InvalidArgumentError(`'${text}' is not a size; write bytes or e.g. 256MB, 1GiB`);
  }
  const bytes = Math.floor(Number(match[1]) * unit);
  if (bytes <= 0) throw new InvalidArgumentError(`'${text}' must be more than 0 bytes`);
  return bytes;
}

function usage<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof FloeError) throw new InvalidArgumentError(error.message);
    throw error;
  }
}

interface DumpCliOptions {
  catalog: string;
  credential?: string;
  out: string;
  format?: DumpFormat;
  snapshotId?: bigint;
  asOf?: number;
  ref?: string;
  columns?: string[];
  where?: string;
  maxFileSize?: number;
  overwrite?: boolean;
  progress: boolean;
}

export function dumpCommand(deps: CatalogCommandDeps): Command {
  const stdout = deps.stdout ?? process.stdout;
  const stderr = deps.stderr ?? process.stderr;
  return (
    new Command("dump")
      // Commander does not pass exitOverride on to added commands: bad usage must reach run() (exit 2).
      .exitOverride()
      .description(
        "Write one table (deletes applied) at a snapshot to Parquet, CSV or JSON Lines, locally or on S3",
      )
      .argument("<table>", "<bucket>.<namespace>.<table>", (text) => parseBucketTable(text))
      .addOption(catalogUrlOption())
      .addOption(credentialOption())
      .requiredOption("--out <path>", "output file, directory (with --max-file-size) or s3://bucket/key")
      .addOption(
        new Option(
          "--format <format>",
          "output format (default: from --out's extension, else parquet)",
        ).choices(dumpFormats),
      )
      .addOption(
        new Option("--snapshot-id <id>", "read this snapshot")
          .argParser((text) => {
            if (!/^-?\d+$/.test(text)) throw new InvalidArgumentError(`'${text}' is not a snapshot id`);
            return BigInt(text);
          })
          .conflicts(["asOf", "ref"]),
      )
      .addOption(
        new Option(
          "--as-of <timestamp>",
          "read the snapshot current at this time (ISO-8601, UTC if no zone, or epoch ms)",
        )
          .argParser((text) => usage(() => parseTimestamp(text)))
          .conflicts(["ref"]),
      )
      .option("--ref <name>", "read the head of this branch or tag")
      .option("--columns <names>", "comma-separated columns to write", (text) =>
        text.split(",").map((c) => c.trim()),
      )
      .option(
        "--where <filter>",
        "row filter, e.g. \"day >= '2024-01-01' and status in ('paid', 'new')\"",
        (text) => {
          usage(() => parseWhere(text));
          return text;
        },
      )
      .option(
        "--max-file-size <size>",
        "split into files of about this size (--out is then a directory)",
        parseSize,
      )
      .option("--overwrite", "replace an existing output")
      .option("--no-progress", "do not report progress on stderr")
      .action(async (target: { bucket: string; identifier: TableIdentifier }, options: DumpCliOptions) => {
        const catalog = await deps.openCatalog(options.catalog, target.bucket, catalogConnectionOf(options));
        try {
          const result = await dumpTable(
            { catalog, identifier: target.identifier },
            {
              out: options.out,
              format: options.format,
              snapshotId: options.snapshotId,
              asOf: options.asOf,
              ref: options.ref,
              columns: options.columns,
              where: options.where,
              maxFileSizeBytes: options.maxFileSize,
              overwrite: options.overwrite,
              onProgress: options.progress ? progressRendererFor(stderr) : undefined,
            },
          );
          stdout.write(
            `${JSON.stringify({
              rows: result.rows,
              bytes: result.bytes,
              files: result.files,
              durationMs: Math.round(result.durationMs),
              snapshotId: result.snapshotId === undefined ? null : String(result.snapshotId),
            })}\n`,
          );
        } finally {
          closeCatalog(catalog);
        }
      })
  );
}
