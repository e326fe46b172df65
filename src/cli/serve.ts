/**
 * `floe serve`: the table-bucket server (Iceberg REST catalog under /iceberg, S3 Tables API at the
 * root, automatic maintenance) over the data directory. Logs are JSON lines on stdout; where it listens
 * and how callers authenticate go to stderr. It refuses to start (exit 2) with neither access keys nor
 * explicitly allowed anonymous access. SIGINT / SIGTERM stop accepting, finish requests in flight, and
 * close the catalog database.
 */
import { type Command, Option } from "commander";
import { AuthError } from "../server/auth/errors.ts";
import { Principals } from "../server/auth/principals.ts";
import { startServer } from "../server/server.ts";
import { redactUrl } from "../server/store/postgres-store.ts";
import { CliError, fileIoOptionsOf, loadSettings, serveEnv, serveSettingsSchema } from "./config.ts";

export interface ServeFlags {
  config?: string;
  dataDir?: string;
  catalogStore?: string;
  storageRoot?: string;
  host?: string;
  port?: string;
  logLevel?: string;
  bodyLimitBytes?: string;
  defaultBucket?: string;
  maintenanceIntervalMs?: string;
  idempotencyKeyLifetimeSeconds?: string;
  allowAnonymous?: boolean;
  /** `ID:SECRET[@PRINCIPAL_ARN]`, repeatable. */
  authKey?: string[];
  tokenTtlSeconds?: string;
}

export async function serve(flags: ServeFlags, signals: NodeJS.EventEmitter = process): Promise<void> {
  const { allowAnonymous, authKey, tokenTtlSeconds, ...rest } = flags;
  const settings = loadSettings(serveSettingsSchema, serveEnv, {
    flags: {
      ...rest,
      "auth.anonymous": allowAnonymous ? true : undefined,
      "auth.keys": authKey,
      "auth.tokenTtlSeconds": tokenTtlSeconds,
    },
  });
  try {
    new Principals(settings.auth, settings.accountId);
  } catch (error) {
    if (error instanceof AuthError) throw new CliError("USAGE", error.message);
    throw error;
  }
  const server = await startServer({
    auth: settings.auth,
    dataDir: settings.dataDir,
    ...(settings.catalogStore ? { catalogStore: settings.catalogStore } : {}),
    host: settings.host,
    port: settings.port,
    region: settings.region,
    accountId: settings.accountId,
    io: fileIoOptionsOf(settings.s3),
    ...(settings.storageRoot ? { storageRoot: settings.storageRoot } : {}),
    logger: settings.logLevel === "silent" ? false : { level: settings.logLevel },
    bodyLimitBytes: settings.bodyLimitBytes,
    ...(settings.defaultBucket ? { defaultBucket: settings.defaultBucket } : {}),
    maintenanceIntervalMs: settings.maintenanceIntervalMs,
    idempotencyKeyLifetimeSeconds: settings.idempotencyKeyLifetimeSeconds,
  });
  const catalog = settings.catalogStore ? `, catalog: ${redactUrl(settings.catalogStore)}` : "";
  console.error(
    `floe serve: listening on ${server.url} (Iceberg REST catalog: ${server.catalogUri}, data: ${server.buckets.dataDir}${catalog})`,
  );
  const keys = settings.auth.keys.length;
  console.error(
    `floe serve: auth: ${keys} access key${keys === 1 ? "" : "s"} (SigV4, OAuth2 client credentials at ${server.catalogUri}/v1/oauth/tokens)` +
      `, anonymous access ${settings.auth.anonymous ? "ON: callers without credentials act as the buckets' owner" : "off"}`,
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
    .option(
      "--storage-root <location>",
      "s3://bucket/prefix or file:///dir under which buckets created without --storage (CreateTableBucket) keep their tables (env: FLOE_STORAGE_ROOT) [default: <data-dir>/buckets]",
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
    .option(
      "--idempotency-key-lifetime-seconds <s>",
      "how long clients may retry a mutation with one Idempotency-Key, 0 = off (env: FLOE_IDEMPOTENCY_KEY_LIFETIME_SECONDS) [default: 1800]",
    )
    .addOption(
      new Option(
        "--auth-key <id:secret[@principal]>",
        "an access key callers sign with (SigV4) or use as OAuth2 client credentials; repeatable; prefer FLOE_AUTH_KEYS or the config file, which stay out of `ps` (env: FLOE_AUTH_KEYS, comma-separated)",
      ).argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]),
    )
    .option(
      "--allow-anonymous",
      "serve requests without credentials, with the buckets' owner's rights (env: FLOE_AUTH_ANONYMOUS) [default: off]",
    )
    .option(
      "--token-ttl-seconds <n>",
      "lifetime of the bearer tokens /iceberg/v1/oauth/tokens issues (env: FLOE_AUTH_TOKEN_TTL_SECONDS) [default: 3600]",
    )
    .action(async (flags: ServeFlags) => serve(flags));
}
