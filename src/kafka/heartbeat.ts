/**
 * Debezium's heartbeat records: every `heartbeat.interval.ms`, a record to `__debezium-heartbeat.<prefix>`
 * (`topic.heartbeat.prefix` + the topic prefix) with key `{serverName}` and value `{ts_ms}`, so
 * consumers and monitoring see the connector alive even when no table changes. (The WAL side of
 * heartbeats — `pg_logical_emit_message`, so an idle database does not pin WAL — is capture's.)
 */
import { toJson } from "../capture/envelope.ts";
import type { OutgoingRecord } from "./change-producer.ts";
import { kafkaTopicName } from "./topics.ts";

const keySchema = {
  type: "struct",
  optional: false,
  name: "io.debezium.connector.common.ServerNameKey",
  fields: [{ type: "string", optional: false, field: "serverName" }],
};

const valueSchema = {
  type: "struct",
  optional: false,
  name: "io.debezium.connector.common.Heartbeat",
  fields: [{ type: "int64", optional: false, field: "ts_ms" }],
};

export function heartbeatTopic(heartbeatTopicPrefix: string, topicPrefix: string): string {
  return kafkaTopicName(`${heartbeatTopicPrefix}.${topicPrefix}`);
}

export function heartbeatRecord(
  topic: string,
  serverName: string,
  tsMs: number,
  options: { keySchemasEnable: boolean; valueSchemasEnable: boolean },
): OutgoingRecord {
  const key = { serverName };
  const value = { ts_ms: tsMs };
  return {
    topic,
    key: Buffer.from(options.keySchemasEnable ? toJson({ schema: keySchema, payload: key }) : toJson(key)),
    value: Buffer.from(
      options.valueSchemasEnable ? toJson({ schema: valueSchema, payload: value }) : toJson(value),
    ),
  };
}
