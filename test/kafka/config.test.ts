// The Kafka side of `floe capture` configuration: Floe keys and Kafka Connect / Debezium property names,
// the converters, topic creation settings; and the config files a team brings (properties, a Connect
// REST body, YAML) merged under the flags.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { parseCaptureConfig } from "../../src/capture/config.ts";
import { mergeCaptureSettings, parseProperties, readCaptureConfigFile } from "../../src/cli/capture.ts";
import { parseKafkaCaptureConfig } from "../../src/kafka/config.ts";
import { KafkaTransportError } from "../../src/kafka/errors.ts";

test("defaults: JSON with schemas, 1 partition, broker-default replication, offsets in <prefix>.offsets", () => {
  const config = parseKafkaCaptureConfig({ brokers: "k1:9092, k2:9092" });
  assert.deepEqual(config.brokers, ["k1:9092", "k2:9092"]);
  assert.equal(config.topicPrefix, "floe");
  assert.equal(config.offsetTopic, "floe.offsets");
  assert.equal(config.keySchemasEnable, true);
  assert.equal(config.valueSchemasEnable, true);
  assert.equal(config.topicPartitions, 1);
  assert.equal(config.topicReplicationFactor, -1);
  assert.equal(config.heartbeatIntervalMs, 0);
  assert.equal(config.heartbeatTopicPrefix, "__debezium-heartbeat");
});

test("Kafka Connect / Debezium names: converters, topic.creation.default.*, offset.storage.topic, heartbeats", () => {
  const config = parseKafkaCaptureConfig({
    "bootstrap.servers": "broker:9092",
    "topic.prefix": "shop",
    "key.converter": "org.apache.kafka.connect.json.JsonConverter",
    "key.converter.schemas.enable": "false",
    "value.converter.schemas.enable": "true",
    "topic.creation.default.partitions": "6",
    "topic.creation.default.replication.factor": "3",
    "topic.creation.default.cleanup.policy": "compact",
    "topic.creation.default.compression.type": "zstd",
    "offset.storage.topic": "connect-offsets-shop",
    "heartbeat.interval.ms": "5000",
    "topic.heartbeat.prefix": "hb",
    "include.schema.changes": "false",
  });
  assert.deepEqual(config.brokers, ["broker:9092"]);
  assert.equal(config.topicPrefix, "shop");
  assert.equal(config.keySchemasEnable, false);
  assert.equal(config.valueSchemasEnable, true);
  assert.equal(config.topicPartitions, 6);
  assert.equal(config.topicReplicationFactor, 3);
  assert.deepEqual(config.topicConfigs, { "cleanup.policy": "compact", "compression.type": "zstd" });
  assert.equal(config.offsetTopic, "connect-offsets-shop");
  assert.equal(config.heartbeatIntervalMs, 5000);
  assert.equal(config.heartbeatTopicPrefix, "hb");
  assert.equal(config.includeSchemaChanges, false);
});

test("errors name the setting: an Avro converter, partitions 0, a broker without a port", () => {
  assert.throws(
    () =>
      parseKafkaCaptureConfig({
        brokers: "b:1",
        "value.converter": "io.confluent.connect.avro.AvroConverter",
      }),
    (error: unknown) =>
      error instanceof KafkaTransportError &&
      error.code === "CONFIG_INVALID" &&
      error.message.includes("value.converter") &&
      error.message.includes("JsonConverter"),
  );
  assert.throws(
    () => parseKafkaCaptureConfig({ brokers: "b:1", topicPartitions: 0 }),
    (error: unknown) => error instanceof KafkaTransportError && /topicPartitions/.test(error.message),
  );
  assert.throws(
    () => parseKafkaCaptureConfig({ brokers: "localhost" }),
    (error: unknown) => error instanceof KafkaTransportError && /brokers/.test(error.message),
  );
});

test(".properties files: separators, comments, continuations, escapes", () => {
  assert.deepEqual(
    parseProperties(
      [
        "# a Debezium connector",
        "! also a comment",
        "name=inventory-connector",
        "database.hostname : db.internal",
        "slot.name floe_slot",
        "table.include.list=public.orders,\\",
        "    public.customers",
        "weird\\=key=value",
        "",
      ].join("\n"),
    ),
    {
      name: "inventory-connector",
      "database.hostname": "db.internal",
      "slot.name": "floe_slot",
      "table.include.list": "public.orders,public.customers",
      "weird=key": "value",
    },
  );
});

test("a team's connector config (Connect REST JSON or properties) becomes Floe's capture and Kafka config; flags win", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "floe-capture-config-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const connectBody = join(dir, "connector.json");
  await writeFile(
    connectBody,
    JSON.stringify({
      name: "inventory",
      config: {
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "plugin.name": "pgoutput",
        "database.hostname": "db.internal",
        "database.port": "5433",
        "database.user": "cdc",
        "database.password": "s3cret!",
        "database.dbname": "inventory",
        "topic.prefix": "inv",
        "slot.name": "inv_slot",
        "table.include.list": "public.orders,public.customers",
        "snapshot.mode": "initial",
        "value.converter.schemas.enable": "false",
      },
    }),
  );
  const file = readCaptureConfigFile(connectBody);
  assert.equal(file["topic.prefix"], "inv");

  const settings = mergeCaptureSettings(file, {
    brokers: "k:9092",
    slot: "override_slot",
    snapshotMode: "never",
  });
  const capture = parseCaptureConfig(settings);
  const kafka = parseKafkaCaptureConfig(settings);
  assert.equal(capture.url, "postgres://cdc:s3cret!@db.internal:5433/inventory");
  assert.equal(capture.topicPrefix, "inv");
  assert.equal(capture.slotName, "override_slot", "--slot beats slot.name");
  assert.equal(capture.snapshotMode, "never", "--snapshot-mode beats snapshot.mode");
  assert.deepEqual(capture.tableIncludeList, ["public.orders", "public.customers"]);
  assert.equal(kafka.valueSchemasEnable, false);
  assert.equal(kafka.keySchemasEnable, true);
  assert.equal(kafka.offsetTopic, "inv.offsets");

  const both = parseKafkaCaptureConfig(
    mergeCaptureSettings(file, { brokers: "k:9092", schemasEnable: "true" }),
  );
  assert.equal(both.valueSchemasEnable, true, "--schemas-enable beats value.converter.schemas.enable");

  const properties = join(dir, "connector.properties");
  await writeFile(properties, "topic.prefix=props\nbootstrap.servers=b1:9092,b2:9092\ndatabase.hostname=h\n");
  const fromProperties = mergeCaptureSettings(readCaptureConfigFile(properties), {
    tables: "orders,sales.items",
  });
  assert.deepEqual(parseKafkaCaptureConfig(fromProperties).brokers, ["b1:9092", "b2:9092"]);
  assert.deepEqual(parseCaptureConfig(fromProperties).tableIncludeList, ["public\\.orders", "sales\\.items"]);
});

test("connector .properties are read as Java reads them: escapes undone, odd trailing backslashes continue", () => {
  const parsed = parseProperties(
    [
      String.raw`table.include.list=public\\.orders,inventory\\..*`,
      String.raw`path=C:\\data\\`,
      "next=kept",
      "long=a,\\",
      "  b",
      String.raw`tab\ key=x\ty`,
    ].join("\n"),
  );
  assert.equal(parsed["table.include.list"], String.raw`public\.orders,inventory\..*`);
  assert.equal(parsed.path, "C:\\data\\", "an escaped backslash at the end does not continue");
  assert.equal(parsed.next, "kept");
  assert.equal(parsed.long, "a,b", "one trailing backslash continues the line");
  assert.equal(parsed["tab key"], "x\ty");
});
