/**
 * `floe capture --pg URL --brokers B [--config FILE] [--topic-prefix P] [--slot S] [--publication P]
 * [--tables a,b] [--snapshot-mode M] [--schemas-enable true|false] [--partitions N] [--metrics-port N]`:
 * PostgreSQL → Kafka (src/kafka): Debezium-format topics per table, the transaction topic, the offset
 * stored in Kafka. Settings come from flags > env (FLOE_PG_URL, FLOE_KAFKA_BROKERS, ...) > the config
 * file (YAML, a Kafka Connect JSON body, or a `.properties` file, with Floe keys or Debezium connector
 * property names) > defaults. Logs one line every `--log-interval` seconds; SIGINT/SIGTERM stop at a
 * transaction boundary, wait for the broker's acks, store the offset, confirm the slot and exit 0.
 */
import { readFileSync } from "node:fs";
import type { Server } from "node:http";
import { Command, InvalidArgumentError, Option } from "commander";
import { parse as parseYaml } from "yaml";
import { CaptureConfigSchema, DEBEZIUM_ALIASES, parseCaptureConfig } from "../capture/config.ts";
import { CaptureError } from "../capture/errors.ts";
import { parseLsn } from "../capture/lsn.ts";
import { captureMetricsRegistry, serveMetrics } from "../capture/metrics.ts";
import { KAFKA_ALIASES, KafkaCaptureConfigSchema, parseKafkaCaptureConfig } from "../kafka/config.ts";
import { KafkaTransportError } from "../kafka/errors.ts";
import { KafkaCapture } from "../kafka/kafka-capture.ts";
import { CliError } from "./config.ts";
import { parseJavaProperties } from "./properties.ts";

interface CaptureCliOptions {
  config?: string;
  pg?: string;
  source?: string;
  brokers?: string;
  kafka?: string;
  topicPrefix?: string;
  slot?: string;
  publication?: string;
  tables?: string;
  snapshotMode?: string;
  schemasEnable?: string;
  partitions?: string;
  replicationFactor?: string;
  offsetTopic?: string;
  heartbeatIntervalMs?: string;
  metricsPort?: number;
  metricsHost: string;
  logInterval: number;
}

export interface CaptureCommandDeps {
  /** Resolves to stop capture (tests); by default SIGINT/SIGTERM. */
  stopSignal?: Promise<void>;
  stderr?: NodeJS.WritableStream;
  /** Called once streaming runs (tests learn the metrics port here). */
  onStreaming?: (info: { metricsPort: number | null }) => void;
}

/** Connector properties a Kafka Connect config carries that mean nothing to Floe (not worth a warning). */
const CONNECT_ONLY = new Set([
  "name",
  "connector.class",
  "tasks.max",
  "plugin.name",
  "key.converter",
  "value.converter",
  "include.unknown.datatypes",
  "topic.creation.enable",
  "schemasEnable",
]);

function nonNegativeInt(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0)
    throw new InvalidArgumentError(`'${text}' is not a non-negative integer`);
  return value;
}

function positiveNumber(text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0)
    throw new InvalidArgumentError(`'${text}' is not a positive number`);
  return value;
}

/** Java `.properties` (see properties.ts); kept under this name for the capture's callers. */
export const parseProperties = parseJavaProperties;

/**
 * The settings in a config file: YAML (or JSON, which YAML reads), a Kafka Connect REST body
 * (`{"name": ..., "config": {...}}` → its `config`), or `.properties`.
 */
export function readCaptureConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new CliError("USAGE", `cannot read the config file ${path}: ${(error as Error).message}`);
  }
  if (path.endsWith(".properties")) return parseProperties(text);
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (error) {
    throw new CliError(
      "USAGE",
      `config file ${path} is neither YAML nor JSON (${(error as Error).message}); name a Java properties file *.properties`,
    );
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== "object" || Array.isArray(parsed))
    throw new CliError("USAGE", `config file ${path} must be a mapping of setting names to values`);
  const settings = parsed as Record<string, unknown>;
  const connectBody = settings.config;
  if (typeof connectBody === "object" && connectBody !== null && !Array.isArray(connectBody))
    return connectBody as Record<string, unknown>;
  return settings;
}

/** `--tables a,s.b` → include-list regexes matching exactly `public.a` and `s.b`. */
function tablesToIncludeList(text: string): string[] {
  return text
    .split(",")
    .map((name) => name.trim())
    .filter((name) => name.length > 0)
    .map((name) => (name.includes(".") ? name : `public.${name}`).replace(/[\\^$*+?()[\]{}|.]/g, "\\$&"));
}

/** Flags over env over file: one flat settings object for parseCaptureConfig and parseKafkaCaptureConfig. */
export function mergeCaptureSettings(
  file: Record<string, unknown>,
  options: Omit<CaptureCliOptions, "metricsHost" | "logInterval">,
): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...file };
  // An empty flag or env var (FLOE_KAFKA_BROKERS="") means "not given".
  const set = (key: string, value: unknown) => {
    if (value !== undefined && value !== "") merged[key] = value;
  };
  set("url", options.pg ?? options.source);
  set("brokers", options.brokers ?? options.kafka);
  set("topicPrefix", options.topicPrefix);
  set("slotName", options.slot);
  set("publicationName", options.publication);
  if (options.tables !== undefined) set("tableIncludeList", tablesToIncludeList(options.tables));
  set("snapshotMode", options.snapshotMode);
  if (options.schemasEnable !== undefined) {
    // The flag is the strongest source: it overrides the per-converter keys of the file too.
    delete merged["key.converter.schemas.enable"];
    delete merged["value.converter.schemas.enable"];
    delete merged.keySchemasEnable;
    delete merged.valueSchemasEnable;
    set("schemasEnable", options.schemasEnable);
  }
  set("topicPartitions", options.partitions);
  set("topicReplicationFactor", options.replicationFactor);
  set("offsetTopic", options.offsetTopic);
  set("heartbeatIntervalMs", options.heartbeatIntervalMs);
  return merged;
}

/** Keys of the file neither capture nor the Kafka side understands (reported, not fatal). */
function unusedKeys(file: Record<string, unknown>): string[] {
  return Object.keys(file).filter(
    (key) =>
      !(key in CaptureConfigSchema.shape) &&
      !(key in KafkaCaptureConfigSchema.shape) &&
      !(key in DEBEZIUM_ALIASES) &&
      !(key in KAFKA_ALIASES) &&
      !CONNECT_ONLY.has(key) &&
      !key.startsWith("database.") &&
      !key.startsWith("topic.creation.") &&
      !key.startsWith("key.converter.") &&
      !key.startsWith("value.converter."),
  );
}

function formatBytes(bytes: number | null): string {
  if (bytes === null) return "?";
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} kB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GB`;
}

export function captureCommand(deps: CaptureCommandDeps = {}): Command {
  const stderr = deps.stderr ?? process.stderr;
  return new Command("capture")
    .exitOverride()
    .description(
      "Capture PostgreSQL changes into Kafka topics (Debezium event format), resuming from an offset stored in Kafka",
    )
    .addOption(
      new Option(
        "--config <file>",
        "YAML/JSON/.properties with Floe keys or Debezium connector properties",
      ).env("FLOE_CONFIG"),
    )
    .addOption(new Option("--pg <url>", "PostgreSQL connection URL (also --source)").env("FLOE_PG_URL"))
    .addOption(new Option("--source <url>", "same as --pg").hideHelp())
    .addOption(
      new Option("--brokers <list>", "Kafka bootstrap brokers, host:port,... (also --kafka)").env(
        "FLOE_KAFKA_BROKERS",
      ),
    )
    .addOption(new Option("--kafka <list>", "same as --brokers").hideHelp())
    .option("--topic-prefix <prefix>", "topics are <prefix>.<schema>.<table> (topic.prefix; default floe)")
    .option("--slot <name>", "replication slot (slot.name; default floe)")
    .option("--publication <name>", "publication (publication.name; default floe)")
    .option(
      "--tables <names>",
      "comma-separated tables (name or schema.name); default: all (table.include.list)",
    )
    .addOption(
      new Option("--snapshot-mode <mode>", "snapshot.mode").choices([
        "initial",
        "never",
        "no_data",
        "initial_only",
        "when_needed",
        "always",
      ]),
    )
    .addOption(
      new Option(
        "--schemas-enable <bool>",
        "JsonConverter schemas.enable for keys and values (default true)",
      ).choices(["true", "false"]),
    )
    .option(
      "--partitions <n>",
      "partitions of topics Floe creates (topic.creation.default.partitions; default 1)",
    )
    .option("--replication-factor <n>", "replication factor of created topics (-1: broker default)")
    .option(
      "--offset-topic <topic>",
      "compacted topic holding the offset (offset.storage.topic; default <prefix>.offsets)",
    )
    .option(
      "--heartbeat-interval-ms <ms>",
      "WAL heartbeat + Debezium heartbeat topic interval (heartbeat.interval.ms; 0 = off)",
    )
    .addOption(
      new Option("--metrics-port <port>", "serve Prometheus metrics at http://HOST:PORT/metrics")
        .env("FLOE_METRICS_PORT")
        .argParser(nonNegativeInt),
    )
    .option("--metrics-host <host>", "address the metrics endpoint listens on", "127.0.0.1")
    .option("--log-interval <seconds>", "seconds between progress lines", positiveNumber, 10)
    .action(async (options: CaptureCliOptions) => {
      const log = (line: string) => stderr.write(`${new Date().toISOString()} ${line}\n`);
      const file = options.config ? readCaptureConfigFile(options.config) : {};
      const unused = unusedKeys(file);
      if (unused.length > 0) log(`ignoring settings floe capture does not use: ${unused.join(", ")}`);
      const pluginName = file["plugin.name"];
      if (pluginName !== undefined && pluginName !== "pgoutput")
        log(`plugin.name is ${String(pluginName)}; floe capture always decodes with pgoutput`);
      const settings = mergeCaptureSettings(file, options);
      if (settings.url === undefined && settings["database.hostname"] === undefined)
        throw new CliError(
          "USAGE",
          "no PostgreSQL to capture: give --pg URL, FLOE_PG_URL, or database.hostname in --config",
        );
      if (settings.brokers === undefined && settings["bootstrap.servers"] === undefined)
        throw new CliError(
          "USAGE",
          "no Kafka brokers: give --brokers host:port, FLOE_KAFKA_BROKERS, or bootstrap.servers in --config",
        );
      let captureConfig: ReturnType<typeof parseCaptureConfig>;
      let kafkaConfig: ReturnType<typeof parseKafkaCaptureConfig>;
      try {
        captureConfig = parseCaptureConfig(settings);
        kafkaConfig = parseKafkaCaptureConfig(settings);
      } catch (error) {
        if (
          (error instanceof CaptureError || error instanceof KafkaTransportError) &&
          error.code === "CONFIG_INVALID"
        )
          throw new CliError("USAGE", error.message);
        throw error;
      }

      let signalCount = 0;
      let onSignal: (() => void) | undefined;
      const signalled =
        deps.stopSignal ??
        new Promise<void>((resolve) => {
          onSignal = () => {
            signalCount++;
            if (signalCount > 1) {
              log(
                "second signal: exiting without waiting for Kafka (the slot stays at the last stored offset)",
              );
              process.exit(1);
            }
            resolve();
          };
          process.on("SIGINT", onSignal);
          process.on("SIGTERM", onSignal);
        });

      const pipeline = await KafkaCapture.open({ capture: captureConfig, kafka: kafkaConfig });
      log(
        `connected to Kafka at ${kafkaConfig.brokers.join(",")}; offset in ${kafkaConfig.offsetTopic} (key ${captureConfig.slotName})`,
      );
      let metricsServer: Server | null = null;
      let ticker: NodeJS.Timeout | null = null;
      try {
        const started = pipeline.start().then(() => "started" as const);
        started.catch(() => {}); // a stop during the snapshot makes it reject; that is not the failure to report
        const first = await Promise.race([started, signalled.then(() => "signal" as const)]);
        if (first === "signal") {
          log("stopping during the snapshot: storing the progress Kafka acknowledged");
          return;
        }
        if (options.metricsPort !== undefined) {
          metricsServer = await serveMetrics(
            captureMetricsRegistry(pipeline.capture, () => pipeline.sink.stats()),
            options.metricsPort,
            options.metricsHost,
          );
        }
        const address = metricsServer?.address();
        const metricsPort = address && typeof address === "object" ? address.port : null;
        if (captureConfig.snapshotMode === "initial_only")
          log("snapshot.mode initial_only: the snapshot is written; storing its offset and stopping");
        else
          log(
            `streaming from slot ${captureConfig.slotName} (publication ${captureConfig.publicationName}) to ${captureConfig.topicPrefix}.<schema>.<table>` +
              (metricsPort !== null
                ? `; metrics at http://${options.metricsHost}:${metricsPort}/metrics`
                : ""),
          );
        deps.onStreaming?.({ metricsPort });

        let previous = { at: Date.now(), events: 0, transactions: 0 };
        ticker = setInterval(() => {
          void (async () => {
            const metrics = pipeline.capture.metrics();
            const now = Date.now();
            const seconds = Math.max((now - previous.at) / 1000, 0.001);
            const lag = await pipeline.capture.slotLagBytes().catch(() => null);
            const stats = pipeline.sink.stats();
            log(
              `${Math.round((metrics.eventsEmitted - previous.events) / seconds)} events/s, ${Math.round((metrics.transactionsEmitted - previous.transactions) / seconds)} tx/s` +
                ` (total ${metrics.eventsEmitted} events, ${metrics.transactionsEmitted} tx, ${metrics.snapshotRows} snapshot rows)` +
                ` | slot lag ${formatBytes(lag)} | last commit ${metrics.lastCommitLsn}, confirmed ${metrics.confirmedFlushLsn}` +
                ` | ${stats.recordsInFlight} records awaiting acks`,
            );
            previous = { at: now, events: metrics.eventsEmitted, transactions: metrics.transactionsEmitted };
          })();
        }, options.logInterval * 1000);
        ticker.unref();

        await Promise.race([signalled, pipeline.done]);
        log(`stopping: waiting for Kafka to acknowledge ${pipeline.sink.stats().recordsInFlight} records`);
      } finally {
        if (ticker) clearInterval(ticker);
        if (onSignal) {
          // A second signal while stopping still forces the exit.
          process.off("SIGINT", onSignal);
          process.off("SIGTERM", onSignal);
          if (signalCount > 0) {
            process.once("SIGINT", onSignal);
            process.once("SIGTERM", onSignal);
          }
        }
        await pipeline.stop();
        await new Promise<void>((resolve) =>
          metricsServer ? metricsServer.close(() => resolve()) : resolve(),
        );
      }
      await pipeline.done;
      const confirmed = pipeline.capture.metrics().confirmedFlushLsn;
      log(
        `stopped; slot ${captureConfig.slotName} confirmed through ${confirmed}` +
          (parseLsn(confirmed) > 0n ? ` (offset stored in ${kafkaConfig.offsetTopic})` : ""),
      );
    });
}
