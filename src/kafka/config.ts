/**
 * The Kafka side of `floe capture`: brokers, topic creation, the JSON converter, the offset and
 * heartbeat topics, and the producer's in-flight bounds. Floe's camelCase keys or the Kafka Connect /
 * Debezium property names with the same meaning (`bootstrap.servers`, `topic.creation.default.*`,
 * `key.converter.schemas.enable`, `offset.storage.topic`, `topic.heartbeat.prefix`, ...), so a team's
 * existing connector config carries over.
 */
import { z } from "zod";
import { KafkaTransportError } from "./errors.ts";

const boolish = z.union([z.boolean(), z.enum(["true", "false"]).transform((text) => text === "true")]);

/** `host:port,host:port` or a list. */
const brokerList = z.preprocess(
  (value) =>
    typeof value === "string"
      ? value
          .split(",")
          .map((part) => part.trim())
          .filter((part) => part.length > 0)
      : value,
  z
    .array(z.string().regex(/^[^\s:]+:\d+$/, "brokers are host:port"))
    .min(1, "at least one broker (host:port)"),
);

export const KafkaCaptureConfigSchema = z.object({
  /** Bootstrap brokers, `host:port`. */
  brokers: brokerList,
  clientId: z.string().min(1).default("floe-capture"),
  topicPrefix: z.string().min(1).default("floe"),
  /** Partitions of topics Floe creates; -1 = the broker's `num.partitions`. */
  topicPartitions: z.coerce
    .number()
    .int()
    .refine((n) => n === -1 || n >= 1, "partitions are ≥ 1, or -1 for the broker's default")
    .default(1),
  /** Replication factor of topics Floe creates; -1 = the broker's `default.replication.factor`. */
  topicReplicationFactor: z.coerce
    .number()
    .int()
    .refine((n) => n === -1 || n >= 1, "the replication factor is ≥ 1, or -1 for the broker's default")
    .default(-1),
  /** Extra topic-level configs for topics Floe creates (`topic.creation.default.cleanup.policy`, ...). */
  topicConfigs: z.record(z.string(), z.string()).default({}),
  /** JsonConverter `schemas.enable` for keys / values. */
  keySchemasEnable: boolish.default(true),
  valueSchemasEnable: boolish.default(true),
  /** Compacted topic holding capture's offset (LSN + snapshot progress), keyed by slot name. Default `<prefix>.offsets`. */
  offsetTopic: z.string().min(1).optional(),
  /** Debezium heartbeat records every this many ms to `<heartbeatTopicPrefix>.<prefix>`; 0 = none. */
  heartbeatIntervalMs: z.coerce.number().int().min(0).default(0),
  heartbeatTopicPrefix: z.string().min(1).default("__debezium-heartbeat"),
  /** Schema changes to the `<prefix>` topic, as Debezium's `include.schema.changes`. */
  includeSchemaChanges: boolish.default(true),
  /** Records produced but not yet acknowledged before `write` waits: the backpressure bound. */
  maxInFlightRecords: z.coerce.number().int().min(1).default(16_384),
  /** Bytes produced but not yet acknowledged before `write` waits (Kafka's `buffer.memory`). */
  maxInFlightBytes: z.coerce
    .number()
    .int()
    .min(1024)
    .default(32 * 1024 * 1024),
  /** Bytes per produce request (Kafka's `max.request.size`); a single larger record is sent alone. */
  maxRequestBytes: z.coerce.number().int().min(1024).default(1_000_000),
  /** How long a produce request may keep failing (broker down, leader moving) before capture stops. */
  deliveryTimeoutMs: z.coerce.number().int().min(1000).default(120_000),
});

export type KafkaCaptureConfig = z.output<typeof KafkaCaptureConfigSchema> & { offsetTopic: string };

/** Kafka Connect / Debezium property → Floe key. */
export const KAFKA_ALIASES: Record<string, keyof KafkaCaptureConfig> = {
  "bootstrap.servers": "brokers",
  "client.id": "clientId",
  "topic.prefix": "topicPrefix",
  "database.server.name": "topicPrefix",
  "topic.creation.default.partitions": "topicPartitions",
  "topic.creation.default.replication.factor": "topicReplicationFactor",
  "key.converter.schemas.enable": "keySchemasEnable",
  "value.converter.schemas.enable": "valueSchemasEnable",
  "offset.storage.topic": "offsetTopic",
  "heartbeat.interval.ms": "heartbeatIntervalMs",
  "topic.heartbeat.prefix": "heartbeatTopicPrefix",
  "heartbeat.topics.prefix": "heartbeatTopicPrefix",
  "include.schema.changes": "includeSchemaChanges",
  "max.request.size": "maxRequestBytes",
  "buffer.memory": "maxInFlightBytes",
  "delivery.timeout.ms": "deliveryTimeoutMs",
};

const JSON_CONVERTER = "org.apache.kafka.connect.json.JsonConverter";

/**
 * Parses the Kafka settings out of a config that may also hold capture settings (those are ignored
 * here). `schemasEnable` sets both converters; the per-converter keys win over it.
 */
export function parseKafkaCaptureConfig(input: Record<string, unknown>): KafkaCaptureConfig {
  const normalized: Record<string, unknown> = {};
  const topicConfigs: Record<string, string> = {};
  for (const [key, value] of Object.entries(input)) {
    if (value === undefined) continue;
    const alias = KAFKA_ALIASES[key];
    if (alias) {
      if (input[alias] === undefined) normalized[alias] = value;
    } else if (key.startsWith("topic.creation.default.")) {
      topicConfigs[key.slice("topic.creation.default.".length)] = String(value);
    } else if (key in KafkaCaptureConfigSchema.shape) {
      normalized[key] = value;
    }
  }
  if (input.schemasEnable !== undefined) {
    normalized.keySchemasEnable ??= input.schemasEnable;
    normalized.valueSchemasEnable ??= input.schemasEnable;
  }
  for (const converter of ["key.converter", "value.converter"]) {
    const name = input[converter];
    if (name !== undefined && name !== JSON_CONVERTER)
      throw new KafkaTransportError(
        "CONFIG_INVALID",
        `${converter} is ${String(name)}; floe capture writes Kafka Connect JSON only: set ${converter}=${JSON_CONVERTER} (with ${converter}.schemas.enable true or false) or remove it`,
      );
  }
  if (Object.keys(topicConfigs).length > 0)
    normalized.topicConfigs = { ...topicConfigs, ...(normalized.topicConfigs as Record<string, string>) };
  const parsed = KafkaCaptureConfigSchema.safeParse(normalized);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${issue.path.join(".") || "(config)"}: ${issue.message}`,
    );
    throw new KafkaTransportError(
      "CONFIG_INVALID",
      `invalid Kafka settings: ${problems.join("; ")} (brokers come from --brokers, FLOE_KAFKA_BROKERS or bootstrap.servers)`,
    );
  }
  const config = parsed.data;
  return { ...config, offsetTopic: config.offsetTopic ?? `${config.topicPrefix}.offsets` };
}
