/**
 * `floe bucket create|list|delete`: manages table buckets directly in the data directory's catalog
 * database (the SQLite file, or the PostgreSQL catalog store), so it works with or without a running
 * `floe serve` (SQLite in WAL mode or PostgreSQL serializes the writers; a running server sees a new
 * bucket on its next request).
 */
import type { Command } from "commander";
import { openTableBuckets } from "../server/server.ts";
import type { TableBucketRecord } from "../server/store/store.ts";
import { bucketEnv, bucketSettingsSchema, fileIoOptionsOf, loadSettings } from "./config.ts";

export interface BucketFlags {
  config?: string;
  dataDir?: string;
  catalogStore?: string;
  storageRoot?: string;
  storage?: string;
  json?: boolean;
}

async function withBuckets<T>(
  flags: BucketFlags,
  fn: (buckets: ReturnType<typeof openTableBuckets>, storage: string | undefined) => Promise<T>,
) {
  const { json: _json, ...settingFlags } = flags;
  const settings = loadSettings(bucketSettingsSchema, bucketEnv, { flags: settingFlags });
  const buckets = openTableBuckets({
    dataDir: settings.dataDir,
    ...(settings.catalogStore ? { catalogStore: settings.catalogStore } : {}),
    region: settings.region,
    accountId: settings.accountId,
    io: fileIoOptionsOf(settings.s3),
    ...(settings.storageRoot ? { storageRoot: settings.storageRoot } : {}),
  });
  try {
    return await fn(buckets, settings.storage);
  } finally {
    buckets.close();
    await buckets.store.close();
  }
}

function describe(bucket: TableBucketRecord): string {
  return `${bucket.name}\t${bucket.arn}\t${bucket.storage}\t${bucket.createdAt}`;
}

export function registerBucket(program: Command): void {
  const bucket = program.command("bucket").description("Create, list and delete table buckets");
  const common = (command: Command) =>
    command
      .option("--config <file>", "YAML config file (env: FLOE_CONFIG)")
      .option("--data-dir <dir>", "the server's data directory (env: FLOE_DATA_DIR) [default: .floe/data]")
      .option(
        "--catalog-store <url>",
        "the server's postgres://… catalog database, if it uses one (env: FLOE_CATALOG_STORE)",
      )
      .option(
        "--storage-root <location>",
        "the server's --storage-root: parent of buckets created without --storage (env: FLOE_STORAGE_ROOT)",
      )
      .option("--json", "print JSON");

  common(bucket.command("create <name>"))
    .description("Create a table bucket")
    .option(
      "--storage <location>",
      "file:///dir or s3://bucket/prefix (env: FLOE_STORAGE) [default: <storage-root>/<name>, i.e. <data-dir>/buckets/<name>]",
    )
    .action(async (name: string, flags: BucketFlags) =>
      withBuckets(flags, async (buckets, storage) => {
        const created = await buckets.create(name, storage ? { storage } : {});
        console.log(
          flags.json
            ? JSON.stringify(created)
            : `created table bucket ${created.name} (${created.arn}) at ${created.storage}`,
        );
      }),
    );

  common(bucket.command("list"))
    .description("List table buckets: name, ARN, storage, creation time")
    .action(async (flags: BucketFlags) =>
      withBuckets(flags, async (buckets) => {
        const all = await buckets.list();
        console.log(flags.json ? JSON.stringify(all) : all.map(describe).join("\n"));
      }),
    );

  common(bucket.command("delete <name>"))
    .description("Delete an empty table bucket (its storage is left as it is)")
    .action(async (name: string, flags: BucketFlags) =>
      withBuckets(flags, async (buckets) => {
        const deleted = await buckets.delete(name);
        console.log(flags.json ? JSON.stringify(deleted) : `deleted table bucket ${deleted.name}`);
      }),
    );
}
