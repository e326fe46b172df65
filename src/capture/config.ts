/**
 * Capture configuration: Floe's own camelCase names, and Debezium's PostgreSQL connector property names
 * wherever the meaning is the same, so an existing connector config mostly carries over.
 */
import { z } from "zod";
import { CaptureError } from "./errors.ts";

export const SnapshotMode = z.enum(["initial", "never", "no_data", "initial_only", "when_needed", "always"]);
export type SnapshotMode = z.infer<typeof SnapshotMode>;

const boolish = z.union([z.boolean(), z.enum(["true", "false"]).transform((text) => text === "true")]);

const listOf = z.union([z.array(z.string()), z.string().transform((text) => splitList(text))]);

export const CaptureConfigSchema = z.object({
  /** PostgreSQL connection URL of the database to capture. */
  url: z.string().min(1),
  topicPrefix: z.string().min(1).default("floe"),
  slotName: z
    .string()
    .regex(/^[a-z0-9_]+$/, "slot names are lower-case letters, digits and _")
    .default("floe"),
  publicationName: z.string().min(1).default("floe"),
  publicationAutocreateMode: z.enum(["all_tables", "filtered", "disabled"]).default("filtered"),
  /** Regular expressions matched against `schema.table` (whole name), like Debezium's lists. */
  tableIncludeList: listOf.optional(),
  tableExcludeList: listOf.optional(),
  snapshotMode: SnapshotMode.default("initial"),
  snapshotMaxThreads: z.coerce.number().int().min(1).max(64).default(1),
  snapshotFetchSize: z.coerce.number().int().min(1).default(10_240),
  decimalHandlingMode: z.enum(["precise", "double", "string"]).default("precise"),
  intervalHandlingMode: z.enum(["numeric", "string"]).default("numeric"),
  unknownTypes: z.enum(["error", "string"]).default("error"),
  tombstonesOnDelete: boolish.default(true),
  provideTransactionMetadata: boolish.default(true),
  heartbeatIntervalMs: z.coerce.number().int().min(0).default(0),
  /** Events per batch handed to the sink; a larger transaction spans several batches. */
  maxBatchSize: z.coerce.number().int().min(1).default(2048),
  /** Stream transactions in progress (pgoutput protocol ≥ 2, PostgreSQL ≥ 14) instead of the server buffering them. */
  streamInProgress: boolish.default(true),
  /** Where in-progress streamed transactions are spilled until they commit. */
  spillDirectory: z.string().optional(),
});

export type CaptureConfigInput = z.input<typeof CaptureConfigSchema>;
export type CaptureConfig = z.output<typeof CaptureConfigSchema>;

/** Debezium property → Floe key. */
export const DEBEZIUM_ALIASES: Record<string, keyof CaptureConfig> = {
  "topic.prefix": "topicPrefix",
  "database.server.name": "topicPrefix",
  "slot.name": "slotName",
  "publication.name": "publicationName",
  "publication.autocreate.mode": "publicationAutocreateMode",
  "table.include.list": "tableIncludeList",
  "table.whitelist": "tableIncludeList",
  "table.exclude.list": "tableExcludeList",
  "table.blacklist": "tableExcludeList",
  "snapshot.mode": "snapshotMode",
  "snapshot.max.threads": "snapshotMaxThreads",
  "snapshot.fetch.size": "snapshotFetchSize",
  "decimal.handling.mode": "decimalHandlingMode",
  "interval.handling.mode": "intervalHandlingMode",
  "tombstones.on.delete": "tombstonesOnDelete",
  "provide.transaction.metadata": "provideTransactionMetadata",
  "heartbeat.interval.ms": "heartbeatIntervalMs",
  "max.batch.size": "maxBatchSize",
};

/**
 * Parses a config object that may mix Floe keys and Debezium property names (Floe's own key wins when
 * both are given). `database.hostname`/`port`/`user`/`password`/`dbname` build `url` when it is absent.
 */
export function parseCaptureConfig(input: Record<string, unknown>): CaptureConfig {
  const normalized: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(input)) {
    const alias = DEBEZIUM_ALIASES[key];
    if (alias) {
      if (!(alias in input)) normalized[alias] = aliasValue(key, value);
    } else if (!key.startsWith("database.")) {
      normalized[key] = value;
    }
  }
  if (input["include.unknown.datatypes"] !== undefined && input.unknownTypes === undefined)
    normalized.unknownTypes = String(input["include.unknown.datatypes"]) === "true" ? "string" : "error";
  if (normalized.url === undefined && input["database.hostname"] !== undefined) {
    const user = encodeURIComponent(String(input["database.user"] ?? "postgres"));
    const password = input["database.password"]
      ? `:${encodeURIComponent(String(input["database.password"]))}`
      : "";
    normalized.url = `postgres://${user}${password}@${input["database.hostname"]}:${input["database.port"] ?? 5432}/${input["database.dbname"] ?? "postgres"}`;
  }
  const parsed = CaptureConfigSchema.safeParse(normalized);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${issue.path.join(".") || "(config)"}: ${issue.message}`,
    );
    throw new CaptureError("CONFIG_INVALID", `invalid capture config: ${problems.join("; ")}`);
  }
  return parsed.data;
}

function aliasValue(_key: string, value: unknown): unknown {
  return value;
}

function splitList(text: string): string[] {
  return text
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part.length > 0);
}
