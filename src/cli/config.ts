/**
 * Settings of a command from four sources, strongest first: command-line flags, environment variables
 * (`FLOE_...`), the config file (`--config floe.yaml` or `FLOE_CONFIG`), and defaults. Each command
 * declares one zod schema (the names in the file are the flags' names in camelCase) and the env var
 * of each setting; a bad value from any source is a usage error naming the setting and the source.
 */
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { FloeError } from "../errors.ts";

export type CliErrorCode =
  /** Bad flags, env vars or config file values: exit code 2. */
  "USAGE";

export class CliError extends FloeError<CliErrorCode> {}

/** "true"/"false" from env vars, booleans from YAML. */
const booleanSetting = z.preprocess(
  (value) => (value === "true" ? true : value === "false" ? false : value),
  z.boolean(),
);

export const s3SettingsSchema = z.strictObject({
  endpoint: z.url({ protocol: /^https?$/ }).optional(),
  region: z.string().min(1).optional(),
  accessKeyId: z.string().min(1).optional(),
  secretAccessKey: z.string().min(1).optional(),
  forcePathStyle: booleanSetting.optional(),
});

export type S3Settings = z.infer<typeof s3SettingsSchema>;

/** Settings `floe serve` and `floe bucket` share: where the catalog lives and how ARNs and S3 look. */
const catalogDataSettings = {
  dataDir: z.string().min(1).default(".floe/data"),
  /** A PostgreSQL URL for a catalog several `floe serve` replicas share; unset: `<dataDir>/catalog.db`. */
  catalogStore: z
    .string()
    .regex(/^postgres(ql)?:\/\/\S+$/i, "the catalog store is a postgres:// or postgresql:// URL")
    .optional(),
  region: z.string().min(1).default("us-east-1"),
  accountId: z
    .string()
    .regex(/^\d{12}$/, "an AWS account id is 12 digits")
    .default("000000000000"),
  s3: s3SettingsSchema.optional(),
  /** Parent of buckets created without explicit storage, e.g. `s3://lake/tables`; unset: `<dataDir>/buckets`. */
  storageRoot: z.string().min(1).optional(),
};

const catalogDataEnv = {
  dataDir: "FLOE_DATA_DIR",
  catalogStore: "FLOE_CATALOG_STORE",
  region: "FLOE_REGION",
  accountId: "FLOE_ACCOUNT_ID",
  "s3.endpoint": "FLOE_S3_ENDPOINT",
  "s3.region": "FLOE_S3_REGION",
  "s3.accessKeyId": "FLOE_S3_ACCESS_KEY_ID",
  "s3.secretAccessKey": "FLOE_S3_SECRET_ACCESS_KEY",
  "s3.forcePathStyle": "FLOE_S3_FORCE_PATH_STYLE",
  storageRoot: "FLOE_STORAGE_ROOT",
};

/** `ID:SECRET[@PRINCIPAL_ARN]` (FLOE_AUTH_KEYS holds several, comma-separated; --auth-key repeats). */
export function parseAccessKey(text: string): {
  accessKeyId: string;
  secretAccessKey: string;
  principal?: string;
} {
  const at = text.indexOf("@");
  const pair = at < 0 ? text : text.slice(0, at);
  const colon = pair.indexOf(":");
  if (colon <= 0 || colon === pair.length - 1) {
    throw new CliError(
      "USAGE",
      "an access key is written ACCESS_KEY_ID:SECRET_ACCESS_KEY, optionally @arn:aws:iam::ACCOUNT:user/NAME for its principal",
    );
  }
  return {
    accessKeyId: pair.slice(0, colon),
    secretAccessKey: pair.slice(colon + 1),
    ...(at < 0 ? {} : { principal: text.slice(at + 1) }),
  };
}

const accessKeySetting = z.strictObject({
  accessKeyId: z.string().regex(/^[\w+=,.@-]{1,128}$/, "1-128 letters, digits or +=,.@-_"),
  secretAccessKey: z.string().min(1),
  /** The IAM-style principal the key acts as; default: the server account's root (the buckets' owner). */
  principal: z
    .string()
    .regex(
      /^arn:aws[a-z-]*:iam::\d{12}:(root|(user|role)\/[\w+=,.@/-]+)$/,
      "arn:aws:iam::<account>:user/<name>",
    )
    .optional(),
});

/** Who may call `floe serve`: access keys (SigV4 and OAuth2 client credentials) and/or anonymous callers. */
export const authSettingsSchema = z
  .strictObject({
    anonymous: booleanSetting.default(false),
    keys: z
      .preprocess((value) => {
        const list = typeof value === "string" ? value.split(",").filter((k) => k.trim() !== "") : value;
        return Array.isArray(list)
          ? list.map((item) => (typeof item === "string" ? parseAccessKey(item.trim()) : item))
          : list;
      }, z.array(accessKeySetting))
      .default([]),
    tokenTtlSeconds: z.coerce.number().int().min(60).default(3600),
  })
  .prefault({});

export type AuthSettingsInput = z.infer<typeof authSettingsSchema>;

export const serveSettingsSchema = z.strictObject({
  ...catalogDataSettings,
  host: z.string().min(1).default("127.0.0.1"),
  port: z.coerce.number().int().min(0).max(65535).default(8181),
  logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  bodyLimitBytes: z.coerce
    .number()
    .int()
    .min(1024)
    .default(16 * 1024 * 1024),
  defaultBucket: z.string().min(1).optional(),
  /** Time between automatic maintenance passes; 0 turns automatic maintenance off. */
  maintenanceIntervalMs: z.coerce.number().int().min(0).default(300_000),
  /** How long clients may retry a mutation with one Idempotency-Key; 0 = not honoured (not advertised). */
  idempotencyKeyLifetimeSeconds: z.coerce.number().int().min(0).default(1800),
  auth: authSettingsSchema,
});

export const serveEnv: Record<string, string> = {
  ...catalogDataEnv,
  host: "FLOE_HOST",
  port: "FLOE_PORT",
  logLevel: "FLOE_LOG_LEVEL",
  bodyLimitBytes: "FLOE_BODY_LIMIT_BYTES",
  defaultBucket: "FLOE_DEFAULT_BUCKET",
  maintenanceIntervalMs: "FLOE_MAINTENANCE_INTERVAL_MS",
  idempotencyKeyLifetimeSeconds: "FLOE_IDEMPOTENCY_KEY_LIFETIME_SECONDS",
  "auth.anonymous": "FLOE_AUTH_ANONYMOUS",
  "auth.keys": "FLOE_AUTH_KEYS",
  "auth.tokenTtlSeconds": "FLOE_AUTH_TOKEN_TTL_SECONDS",
};

export const bucketSettingsSchema = z.strictObject({
  ...catalogDataSettings,
  storage: z.string().min(1).optional(),
});

export const bucketEnv: Record<string, string> = { ...catalogDataEnv, storage: "FLOE_STORAGE" };

export interface SettingSources {
  /**
   * Parsed flags; undefined means "not given". `config` names the config file. A dotted key
   * (`auth.anonymous`) sets one nested setting and keeps the file's others.
   */
  flags: Record<string, unknown>;
  env?: NodeJS.ProcessEnv;
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split(".");
  let node = target;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (typeof next !== "object" || next === null) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts.at(-1) as string] = value;
}

export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new CliError("USAGE", `cannot read the config file ${path}: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (error) {
    throw new CliError("USAGE", `config file ${path} is not valid YAML: ${(error as Error).message}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new CliError("USAGE", `config file ${path} must be a YAML mapping of setting names to values`);
  }
  return parsed as Record<string, unknown>;
}

/**
 * The settings for `schema`: config file, overlaid by env vars, overlaid by flags. Only the keys the
 * schema knows are taken from the file, so one `floe.yaml` can hold every command's settings.
 */
export function loadSettings<S extends z.ZodObject>(
  schema: S,
  envNames: Record<string, string>,
  sources: SettingSources,
): z.infer<S> {
  const env = sources.env ?? process.env;
  const configPath = (sources.flags.config as string | undefined) ?? env.FLOE_CONFIG;
  const known = new Set(Object.keys(schema.shape));
  const merged: Record<string, unknown> = {};
  if (configPath) {
    for (const [key, value] of Object.entries(readConfigFile(configPath))) {
      if (known.has(key)) merged[key] = value;
    }
  }
  for (const [path, name] of Object.entries(envNames)) {
    const value = env[name];
    if (value !== undefined && value !== "") setPath(merged, path, value);
  }
  for (const [key, value] of Object.entries(sources.flags)) {
    if (value === undefined || !known.has(key.split(".")[0] as string)) continue;
    if (key.includes(".")) setPath(merged, key, value);
    else merged[key] = value;
  }
  const parsed = schema.safeParse(merged);
  if (!parsed.success) {
    const where = `flags, ${Object.values(envNames).join("/")}${configPath ? `, or ${configPath}` : ""}`;
    throw new CliError("USAGE", `invalid settings (from ${where}):\n${z.prettifyError(parsed.error)}`, {
      cause: parsed.error,
    });
  }
  return parsed.data;
}

/** The FileIO options (`src/io`) of the S3 settings. */
export function fileIoOptionsOf(s3: S3Settings | undefined) {
  if (!s3) return {};
  return {
    s3: {
      ...(s3.endpoint ? { endpoint: s3.endpoint } : {}),
      ...(s3.region ? { region: s3.region } : {}),
      ...(s3.forcePathStyle !== undefined ? { forcePathStyle: s3.forcePathStyle } : {}),
      ...(s3.accessKeyId && s3.secretAccessKey
        ? { credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } }
        : {}),
    },
  };
}
