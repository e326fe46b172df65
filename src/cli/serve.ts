/**
 * `floe serve`: the table-bucket server (Iceberg REST catalog under /iceberg, S3 Tables API at the
 * root, automatic maintenance) over the data directory. Logs are JSON lines on stdout; where it listens goes to stderr. SIGINT / SIGTERM stop
 * accepting, finish requests in flight, and close the catalog database.
 */
import type { Command } from "commander";
import { startServer } from "../server/server.ts";
import { redactUrl } from "../server/store/postgres-store.ts";
import { fileIoOptionsOf, loadSettings, serveEnv, serveSettingsSchema } from "./config.ts";

export interface ServeFlags {
  config?: string;
  dataDir?: string;
  catalogStore?: string;
  host?: string;
  port?: string;
  logLevel?: string;
  bodyLimitBytes?: string;
  defaultBucket?: string;
  maintenanceIntervalMs?: string;
}

export async function serve(flags: ServeFlags, signals: NodeJS.EventEmitter = process): Promise<void> {
  const settings = loadSettings(serveSettingsSchema, serveEnv, { flags: { ...flags } });
  const server = await startServer({
    dataDir: settings.dataDir,
    ...(settings.catalogStore ? { catalogStore: settings.catalogStore } : {}),
    host: settings.host,
    port: settings.port,
    region: settings.region,
    accountId: settings.accountId,
    io: fileIoOptionsOf(settings.s3),
    logger: settings.logLevel === "silent" ? false : { level: settings.logLevel },
    bodyLimitBytes: settings.bodyLimitBytes,
    ...(settings.defaultBucket ? { defaultBucket: settings.defaultBucket } : {}),
    maintenanceIntervalMs: settings.maintenanceIntervalMs,
  });
  const catalog = settings.catalogStore ? `, catalog: ${redactUrl(settings.catalogStore)}` : "";
  console.error(
    `floe serve: listening on ${server.url} (Iceberg REST catalog: ${server.catalogUri}, data: ${server.buckets.dataDir}${catalog})`,
  );
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      console.error(`floe serve: ${signal}, shutting down`);
      signals.off("SIGINT", onInt);
      signals.off("SIGTERM", onTerm);
      resolve();
    };
    const onInt = () => stop("SIGINT");
    const onTerm = () => stop("SIGTERM");
    signals.on("SIGINT", onInt);
    signals.on("SIGTERM", onTerm);
  });
  await server.close();
}

export function registerServe(program: Command): void {
  program
    .command("serve")
    .description("Serve table buckets: the Iceberg REST catalog under /iceberg, /healthz and /metrics")
    .option("--config <file>", "YAML config file (env: FLOE_CONFIG)")
    .option(
      "--data-dir <dir>",
      "catalog database and local buckets (env: FLOE_DATA_DIR) [default: .floe/data]",
    )
    .option(
      "--catalog-store <url>",
      "postgres://… catalog database shared by several replicas (env: FLOE_CATALOG_STORE) [default: <data-dir>/catalog.db]",
    )
    .option("--host <host>", "address to listen on (env: FLOE_HOST) [default: 127.0.0.1]")
    .option("--port <port>", "port to listen on, 0 for any (env: FLOE_PORT) [default: 8181]")
    .option(
      "--log-level <level>",
      "fatal|error|warn|info|debug|trace|silent (env: FLOE_LOG_LEVEL) [default: info]",
    )
    .option("--body-limit-bytes <n>", "largest request body (env: FLOE_BODY_LIMIT_BYTES) [default: 16 MiB]")
    .option("--default-bucket <name>", "warehouse for clients that name none (env: FLOE_DEFAULT_BUCKET)")
    .option(
      "--maintenance-interval-ms <ms>",
      "time between automatic maintenance passes, 0 = off (env: FLOE_MAINTENANCE_INTERVAL_MS) [default: 300000]",
    )
    .action(async (flags: ServeFlags) => serve(flags));
}
