/**
 * `floe sink --brokers B (--topics a,b | --topics-regex R) --bucket NAME [--config connector.properties|.json]
 * [--sink-id ID] [--control-topic T] [--catalog URL] [--credential ID:SECRET] [--namespace NS]
 * [--mode upsert|changelog] [--commit-interval-ms N] [--commit-timeout-ms N] [--dead-letter-topic T]
 * [--transaction-topic T] [--tables topicOrSourceTable=icebergTable,... | --route-field F]`: Debezium topics in Kafka → Iceberg
 * tables (src/sink/kafka: one worker and one coordinator candidate per process; run several with the
 * same sink id to scale out). Settings: flags > env (FLOE_KAFKA_BROKERS, FLOE_CATALOG_URL, FLOE_BUCKET,
 * FLOE_CREDENTIAL) > the config file (an Apache Iceberg Kafka Connect sink connector's `.properties` or
 * Connect JSON, or Floe's own keys) > defaults. Properties of the file Floe does not support are named
 * on stderr, never silently dropped. One line per event on stderr; SIGINT/SIGTERM close the worker and
 * the coordinator (what is not yet committed is re-read on restart) and exit 0.
 */
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { Command, InvalidArgumentError, Option } from "commander";
import { parse as parseYaml } from "yaml";
import type { Catalog } from "../catalog/catalog.ts";
import { FloeError } from "../errors.ts";
import { SinkError } from "../sink/errors.ts";
import { DEFAULT_CONTROL_TOPIC } from "../sink/kafka/control.ts";
import { deadLetterHeaders } from "../sink/kafka/dead-letter.ts";
import { createDebeziumDecoder } from "../sink/kafka/decode.ts";
import {
  createRouter,
  formatTable,
  fullMatch,
  parseTableName,
  type RouteSpec,
} from "../sink/kafka/routing.ts";
import { startKafkaSink } from "../sink/kafka/sink.ts";
import { CliError } from "./config.ts";
import {
  type CatalogCommandDeps,
  catalogConnectionOf,
  catalogUrlOption,
  closeCatalog,
  credentialOption,
  DEFAULT_CATALOG_URL,
} from "./dump.ts";
import { parseJavaProperties } from "./properties.ts";

export const DEFAULT_SINK_ID = "floe-sink";

/** The flags, as commander parses them; undefined = not given (defaults are applied after the file). */
export interface SinkFlags {
  brokers?: string;
  /** DESIGN.md's name for --brokers (as `floe capture` accepts both). */
  kafka?: string;
  sinkId?: string;
  topics?: string;
  topicsRegex?: string;
  controlTopic?: string;
  catalog?: string;
  bucket?: string;
  credential?: string;
  namespace?: string;
  mode?: string;
  commitIntervalMs?: string;
  commitTimeoutMs?: string;
  deadLetterTopic?: string;
  transactionTopic?: string;
  tables?: string;
  routeField?: string;
}

export interface SinkSettings {
  brokers: string[];
  sinkId: string;
  topics?: string[];
  topicsRegex?: string;
  controlTopic: string;
  catalog: string;
  bucket: string;
  credential?: string;
  namespace: string[];
  mode: "upsert" | "changelog";
  commitIntervalMs?: number;
  commitTimeoutMs?: number;
  deadLetterTopic?: string;
  transactionTopic?: string;
  routing: RouteSpec;
}

/** A connector property Floe maps, with the flag it sets. */
const CONNECT_TO_FLAG: Record<string, keyof SinkFlags> = {
  name: "sinkId",
  topics: "topics",
  "topics.regex": "topicsRegex",
  "bootstrap.servers": "brokers",
  "iceberg.control.topic": "controlTopic",
  "iceberg.control.commit.interval-ms": "commitIntervalMs",
  "iceberg.control.commit.timeout-ms": "commitTimeoutMs",
  "iceberg.catalog.uri": "catalog",
  "iceberg.catalog.warehouse": "bucket",
  "iceberg.catalog.credential": "credential",
  "errors.deadletterqueue.topic.name": "deadLetterTopic",
};

/** Floe's own keys in a YAML/JSON file: the flags' names in camelCase. */
const FLOE_KEYS = new Set<string>([
  "brokers",
  "sinkId",
  "topics",
  "topicsRegex",
  "controlTopic",
  "catalog",
  "bucket",
  "credential",
  "namespace",
  "mode",
  "commitIntervalMs",
  "commitTimeoutMs",
  "deadLetterTopic",
  "transactionTopic",
  "tables",
  "routeField",
]);

/** The routing properties (read together in {@link fileRouting}). */
const ROUTING_KEYS = new Set([
  "iceberg.tables",
  "iceberg.tables.route-field",
  "iceberg.tables.dynamic-enabled",
]);

const ICEBERG_CONNECTORS = new Set([
  "org.apache.iceberg.connect.IcebergSinkConnector",
  "io.tabular.iceberg.connect.IcebergSinkConnector",
]);
const JSON_CONVERTER = "org.apache.kafka.connect.json.JsonConverter";
const REST_CATALOG_IMPL = "org.apache.iceberg.rest.RESTCatalog";

/** Kafka Connect's own properties that need nothing from Floe (what they ask for, Floe does anyway). */
function isConnectFramework(key: string): boolean {
  return (
    key === "tasks.max" ||
    key === "header.converter" ||
    key === "errors.tolerance" ||
    key.startsWith("key.converter.") ||
    key.startsWith("value.converter.") ||
    key.startsWith("errors.deadletterqueue.") ||
    key.startsWith("errors.log.") ||
    key.startsWith("errors.retry.")
  );
}

function usage(message: string): CliError {
  return new CliError("USAGE", message);
}

function positiveInt(text: string, what: string): number {
  const value = Number(text);
  if (!/^\s*\d+\s*$/.test(text) || !Number.isSafeInteger(value) || value <= 0)
    throw usage(`${what} is '${text}'; write a positive number of milliseconds, e.g. 1000`);
  return value;
}

function list(text: string): string[] {
  return text
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
}

function textOf(value: unknown): string {
  if (Array.isArray(value)) return value.map((item) => textOf(item)).join(",");
  return value === null || value === undefined ? "" : String(value);
}

/**
 * A connector config: `.properties`, a Kafka Connect REST body (`{"name": …, "config": {…}}`; the
 * top-level name counts as `name`), a plain JSON/YAML mapping of properties, or Floe's keys.
 * Values become strings, as in a properties file.
 */
export function readSinkConfigFile(path: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw usage(`cannot read the config file ${path}: ${(error as Error).message}`);
  }
  if (path.endsWith(".properties")) return parseJavaProperties(text);
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (error) {
    throw usage(
      `config file ${path} is neither JSON nor YAML (${(error as Error).message}); a Java properties file must be named *.properties`,
    );
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== "object" || Array.isArray(parsed))
    throw usage(`config file ${path} must be a mapping of property names to values`);
  let settings = parsed as Record<string, unknown>;
  const body = settings.config;
  if (typeof body === "object" && body !== null && !Array.isArray(body)) {
    settings = { ...(typeof settings.name === "string" ? { name: settings.name } : {}), ...body };
  }
  for (const [key, value] of Object.entries(settings)) {
    if (value !== null && typeof value === "object" && !Array.isArray(value))
      throw usage(`${key} in ${path} is a mapping; write connector properties as flat "key": "value" pairs`);
  }
  return Object.fromEntries(Object.entries(settings).map(([key, value]) => [key, textOf(value)]));
}

function isTrue(value: string | undefined): boolean {
  return value?.trim().toLowerCase() === "true";
}

/** The Iceberg connector's routing properties → a route (undefined: Floe's default). */
function fileRouting(
  file: Record<string, string>,
  where: string,
  namespace: string[],
): RouteSpec | undefined {
  const tablesText = file["iceberg.tables"];
  const tables = tablesText === undefined ? [] : list(tablesText);
  const routeField = file["iceberg.tables.route-field"]?.trim() || undefined;
  const dynamic = isTrue(file["iceberg.tables.dynamic-enabled"]);
  const identifiers = tables.map((name) => {
    const table = parseTableName(name, namespace);
    if (!table)
      throw usage(`iceberg.tables in ${where}: '${name}' is not a table name; write namespace.table`);
    return { name, table };
  });
  if (dynamic) {
    if (!routeField)
      throw usage(
        `iceberg.tables.dynamic-enabled=true in ${where} needs iceberg.tables.route-field (the field naming each record's table)`,
      );
    return { kind: "field", field: routeField };
  }
  if (identifiers.length === 0) {
    if (routeField)
      throw usage(
        `iceberg.tables.route-field in ${where} routes nothing without iceberg.tables: set iceberg.tables.dynamic-enabled=true to route by the field's value, or list iceberg.tables with iceberg.table.<table>.route-regex`,
      );
    return undefined;
  }
  if (routeField) {
    return {
      kind: "field-regex",
      field: routeField,
      tables: identifiers.map(({ name, table }) => {
        const key = `iceberg.table.${name}.route-regex`;
        const pattern = file[key];
        if (pattern === undefined)
          throw usage(
            `${where} routes by iceberg.tables.route-field=${routeField} but has no ${key}: give every table in iceberg.tables its route-regex`,
          );
        try {
          return { table, regex: fullMatch(pattern) };
        } catch (error) {
          throw usage(`${key} in ${where} is not a regular expression: ${(error as Error).message}`);
        }
      }),
    };
  }
  if (identifiers.length > 1)
    throw usage(
      `iceberg.tables in ${where} lists ${identifiers.length} tables without a route field: the Iceberg connector writes every record to each of them, floe sink writes a change to one table. ` +
        "Name one table, route with iceberg.tables.route-field and iceberg.table.<table>.route-regex, or map topics with --tables topic=table,...",
    );
  return { kind: "map", entries: new Map([["*", identifiers[0]!.table]]) };
}

/** `--tables a=x,public.b=ns.y,*=z` → the map route. */
function tableMap(text: string, namespace: string[]): RouteSpec {
  const entries = new Map<string, ReturnType<typeof parseTableName> & object>();
  for (const item of list(text)) {
    const equals = item.indexOf("=");
    const key = equals < 0 ? "" : item.slice(0, equals).trim();
    const target = equals < 0 ? undefined : parseTableName(item.slice(equals + 1), namespace);
    if (!key || !target)
      throw usage(
        `--tables entry '${item}' is not topicOrSourceTable=icebergTable; write e.g. --tables shop.public.orders=sales.orders,customers=crm.customers (* = every other table)`,
      );
    if (entries.has(key))
      throw usage(`--tables names '${key}' twice; give each topic or source table one target`);
    entries.set(key, target);
  }
  if (entries.size === 0) throw usage("--tables is empty; write topicOrSourceTable=icebergTable,...");
  return { kind: "map", entries };
}

/**
 * The settings from the flags that were given (flags and env vars) over the config file over the
 * defaults, and the warnings about the file's properties Floe does not support.
 */
export function resolveSinkSettings(
  flags: SinkFlags,
  file: Record<string, string> = {},
  configPath = "the config file",
  /** Called with each warning as soon as the file is read, before any setting is checked. */
  warn?: (message: string) => void,
): { settings: SinkSettings; warnings: string[] } {
  const warnings: string[] = [];
  const fromFile: SinkFlags = {};
  const unsupported: string[] = [];
  const ignored: string[] = [];
  for (const [key, value] of Object.entries(file)) {
    const flag = CONNECT_TO_FLAG[key] ?? (FLOE_KEYS.has(key) ? (key as keyof SinkFlags) : undefined);
    if (flag) {
      if (value.trim() !== "") fromFile[flag] = value.trim();
    } else if (ROUTING_KEYS.has(key) || /^iceberg\.table\..+\.route-regex$/.test(key)) {
      // read by fileRouting
    } else if (key === "connector.class") {
      if (!ICEBERG_CONNECTORS.has(value.trim()))
        warnings.push(
          `connector.class in ${configPath} is ${value}, not the Iceberg sink connector; reading its properties as the Iceberg sink's`,
        );
    } else if (key === "key.converter" || key === "value.converter") {
      if (value.trim() !== JSON_CONVERTER)
        throw usage(
          `${key} in ${configPath} is ${value}: floe sink reads Kafka Connect JSON only (${JSON_CONVERTER}, with or without schemas)`,
        );
    } else if (key === "iceberg.catalog.type") {
      if (value.trim().toLowerCase() !== "rest")
        throw usage(
          `iceberg.catalog.type in ${configPath} is ${value}: floe sink talks to Iceberg REST catalogs only (floe serve, or any REST catalog at iceberg.catalog.uri)`,
        );
    } else if (key === "iceberg.catalog.catalog-impl") {
      if (value.trim() !== REST_CATALOG_IMPL)
        throw usage(
          `iceberg.catalog.catalog-impl in ${configPath} is ${value}: floe sink talks to Iceberg REST catalogs only (${REST_CATALOG_IMPL})`,
        );
    } else if (
      (key === "iceberg.tables.auto-create-enabled" ||
        key === "iceberg.tables.evolve-schema-enabled" ||
        key === "iceberg.tables.upsert-mode-enabled") &&
      isTrue(value)
    ) {
      // What floe sink does anyway (upsert unless --mode changelog).
    } else if (key.startsWith("iceberg.")) {
      unsupported.push(key);
    } else if (!isConnectFramework(key)) {
      ignored.push(key);
    }
  }
  if (unsupported.length > 0)
    warnings.push(
      `${configPath}: floe sink does not support ${unsupported.join(", ")}; ignoring ${unsupported.length === 1 ? "it" : "them"} (see docs/sink.md for the properties it maps)`,
    );
  if (ignored.length > 0)
    warnings.push(`${configPath}: ignoring properties floe sink does not use: ${ignored.join(", ")}`);
  for (const warning of warnings) warn?.(warning);

  // Flags (and env vars) win over the file, per setting.
  const pick = <K extends keyof SinkFlags>(key: K): SinkFlags[K] => {
    const flag = flags[key];
    return flag !== undefined && flag !== "" ? flag : fromFile[key];
  };

  const brokersText = flags.brokers || flags.kafka || fromFile.brokers;
  const brokers = brokersText ? list(brokersText) : [];
  if (brokers.length === 0)
    throw usage("no Kafka brokers: give --brokers host:port,... or FLOE_KAFKA_BROKERS");

  // The topics: one of the two, from the flags if either is given there, else from the file.
  const flagTopics = flags.topics || undefined;
  const flagRegex = flags.topicsRegex || undefined;
  if (flagTopics && flagRegex)
    throw usage("--topics and --topics-regex both given; give exactly one of them (a list, or one regex)");
  let topicsText = flagTopics;
  let topicsRegex = flagRegex;
  if (!flagTopics && !flagRegex) {
    topicsText = fromFile.topics;
    topicsRegex = fromFile.topicsRegex;
    if (topicsText && topicsRegex)
      throw usage(`${configPath} sets both topics and topics.regex; keep exactly one of them`);
  }
  const topics = topicsText ? list(topicsText) : undefined;
  if ((!topics || topics.length === 0) && !topicsRegex)
    throw usage(
      "no source topics: give --topics a,b or --topics-regex 'prefix\\.public\\..*' (or topics / topics.regex in --config)",
    );
  if (topicsRegex) {
    try {
      fullMatch(topicsRegex);
    } catch (error) {
      throw usage(`--topics-regex ${topicsRegex} is not a regular expression: ${(error as Error).message}`);
    }
  }

  const sinkId = pick("sinkId") ?? DEFAULT_SINK_ID;
  const controlTopic = pick("controlTopic") ?? DEFAULT_CONTROL_TOPIC;
  const deadLetterTopic = pick("deadLetterTopic");
  const transactionTopic = pick("transactionTopic");
  for (const [what, topic] of [
    ["control topic", controlTopic],
    ["dead-letter topic", deadLetterTopic],
    ["transaction topic", transactionTopic],
  ] as const) {
    if (topic === undefined) continue;
    if (topics?.includes(topic) || (topicsRegex && fullMatch(topicsRegex).test(topic)))
      throw usage(
        `the ${what} ${topic} is among the source topics; narrow --topics/--topics-regex (e.g. 'prefix\\.public\\..*') or pick another ${what}`,
      );
  }

  const bucket = pick("bucket");
  if (!bucket)
    throw usage("no table bucket: give --bucket NAME, FLOE_BUCKET, or iceberg.catalog.warehouse in --config");

  const namespaceText = pick("namespace") ?? "public";
  const namespace = namespaceText.split(".");
  if (namespace.some((level) => level.trim() === ""))
    throw usage(`--namespace '${namespaceText}' has an empty level; write e.g. public or lake.shop`);

  const mode = pick("mode") ?? "upsert";
  if (mode !== "upsert" && mode !== "changelog")
    throw usage(`--mode is '${mode}'; allowed: upsert, changelog`);

  const intervalText = pick("commitIntervalMs");
  const timeoutText = pick("commitTimeoutMs");
  const commitIntervalMs =
    intervalText === undefined
      ? undefined
      : positiveInt(
          intervalText,
          flags.commitIntervalMs
            ? "--commit-interval-ms"
            : `iceberg.control.commit.interval-ms in ${configPath}`,
        );
  const commitTimeoutMs =
    timeoutText === undefined
      ? undefined
      : positiveInt(
          timeoutText,
          flags.commitTimeoutMs
            ? "--commit-timeout-ms"
            : `iceberg.control.commit.timeout-ms in ${configPath}`,
        );

  // Routing: the flags replace the file's routing as a whole.
  const flagTables = flags.tables || undefined;
  const flagField = flags.routeField?.trim() || undefined;
  if (flagTables && flagField)
    throw usage(
      "--tables and --route-field both given; route by a static map (--tables) or by a field (--route-field), not both",
    );
  let routing: RouteSpec;
  if (flagTables) routing = tableMap(flagTables, namespace);
  else if (flagField) routing = { kind: "field", field: flagField };
  else if (fromFile.tables) routing = tableMap(fromFile.tables, namespace);
  else if (fromFile.routeField) routing = { kind: "field", field: fromFile.routeField };
  else routing = fileRouting(file, configPath, namespace) ?? { kind: "source" };

  const credential = pick("credential");
  return {
    settings: {
      brokers,
      sinkId,
      ...(topics && topics.length > 0 ? { topics } : { topicsRegex: topicsRegex as string }),
      controlTopic,
      catalog: pick("catalog") ?? DEFAULT_CATALOG_URL,
      bucket,
      ...(credential ? { credential } : {}),
      namespace,
      mode,
      ...(commitIntervalMs !== undefined ? { commitIntervalMs } : {}),
      ...(commitTimeoutMs !== undefined ? { commitTimeoutMs } : {}),
      ...(deadLetterTopic ? { deadLetterTopic } : {}),
      ...(transactionTopic ? { transactionTopic } : {}),
      routing,
    },
    warnings,
  };
}

function describeRouting(routing: RouteSpec, namespace: string[]): string {
  switch (routing.kind) {
    case "source":
      return `one table per source table in ${namespace.join(".")}`;
    case "map":
      return `tables ${[...routing.entries].map(([from, to]) => `${from}→${formatTable(to)}`).join(", ")}`;
    case "field":
      return `the table named by field ${routing.field}`;
    case "field-regex":
      return `by field ${routing.field}: ${routing.tables.map((t) => `${formatTable(t.table)} (${t.regex.source})`).join(", ")}`;
  }
}

export interface SinkCommandDeps extends CatalogCommandDeps {
  /** Resolves to stop the sink (tests); by default SIGINT/SIGTERM. */
  stopSignal?: Promise<void>;
}

export function sinkCommand(deps: SinkCommandDeps): Command {
  const stderr = deps.stderr ?? process.stderr;
  const command = new Command("sink");
  return command
    .exitOverride()
    .description(
      "Write Debezium change topics from Kafka into Iceberg tables, exactly once (run several with one --sink-id to scale out)",
    )
    .option(
      "--config <file>",
      "Iceberg Kafka Connect sink connector config (.properties, or Connect JSON); flags win over it",
    )
    .addOption(
      new Option("--brokers <list>", "Kafka bootstrap brokers, host:port,... (also --kafka)").env(
        "FLOE_KAFKA_BROKERS",
      ),
    )
    .addOption(new Option("--kafka <list>", "same as --brokers").hideHelp())
    .option(
      "--sink-id <id>",
      `consumer group and the sink's tag in snapshots (name; default ${DEFAULT_SINK_ID})`,
    )
    .option("--topics <list>", "comma-separated source topics (topics)")
    .option(
      "--topics-regex <regex>",
      "source topics matching this regex when the sink starts, e.g. 'shop\\.public\\..*' (topics.regex)",
    )
    .option(
      "--control-topic <topic>",
      `control topic, 1 partition, created when missing (iceberg.control.topic; default ${DEFAULT_CONTROL_TOPIC})`,
    )
    .addOption(catalogUrlOption())
    .addOption(new Option("--bucket <name>", "table bucket (iceberg.catalog.warehouse)").env("FLOE_BUCKET"))
    .addOption(credentialOption())
    .option("--namespace <ns>", "Iceberg namespace of the tables, dots for levels (default public)")
    .addOption(new Option("--mode <mode>", "table mode (default upsert)").choices(["upsert", "changelog"]))
    .option(
      "--commit-interval-ms <n>",
      "time between commit rounds (iceberg.control.commit.interval-ms; default 1000)",
    )
    .option(
      "--commit-timeout-ms <n>",
      "a round commits what arrived after this long (iceberg.control.commit.timeout-ms; default max(5000, 3 × interval))",
    )
    .option(
      "--dead-letter-topic <topic>",
      "undecodable records go here with Kafka Connect error headers (errors.deadletterqueue.topic.name); without it they stop the sink",
    )
    .option(
      "--transaction-topic <topic>",
      "transaction-consistent mode: the capture's transaction-metadata topic (<prefix>.transaction); commits hold whole PostgreSQL transactions only, across tables",
    )
    .option(
      "--tables <map>",
      "static routing: topicOrSourceTable=icebergTable,... (* = the rest); default: one table per source table",
    )
    .option(
      "--route-field <field>",
      "dynamic routing: this field of the row (after, or before for deletes) names the table (iceberg.tables.route-field)",
    )
    .action(async (options: SinkFlags & { config?: string }) => {
      const log = (line: string) => stderr.write(`${new Date().toISOString()} ${line}\n`);
      // Flags and env vars count as given; commander's own default (--catalog) only when the file has none.
      const given: SinkFlags = {};
      for (const key of Object.keys(options) as (keyof SinkFlags | "config")[]) {
        if (key === "config") continue;
        const source = command.getOptionValueSource(key);
        if ((source === "cli" || source === "env") && typeof options[key] === "string")
          given[key] = options[key];
      }
      const file = options.config ? readSinkConfigFile(options.config) : {};
      const { settings } = resolveSinkSettings(given, file, options.config, (warning) =>
        log(`warning: ${warning}`),
      );

      let catalog: Catalog;
      try {
        catalog = await deps.openCatalog(settings.catalog, settings.bucket, catalogConnectionOf(settings));
      } catch (error) {
        if (error instanceof InvalidArgumentError) throw usage(error.message);
        throw error;
      }
      let signals = 0;
      let onSignal: (() => void) | undefined;
      const signalled =
        deps.stopSignal ??
        new Promise<void>((resolve) => {
          onSignal = () => {
            if (++signals > 1) {
              log("second signal: exiting now (changes not yet committed are re-read on restart)");
              process.exit(1);
            }
            resolve();
          };
          process.on("SIGINT", onSignal);
          process.on("SIGTERM", onSignal);
        });
      try {
        const workerId = randomUUID().slice(0, 8);
        const source = settings.topics
          ? settings.topics.join(",")
          : `topics matching ${settings.topicsRegex}`;
        log(
          `starting sink ${settings.sinkId} (worker ${workerId}): ${source} → ${settings.bucket}, ${describeRouting(settings.routing, settings.namespace)}, ${settings.mode} mode`,
        );
        const sink = await startKafkaSink({
          sinkId: settings.sinkId,
          brokers: settings.brokers,
          ...(settings.topics
            ? { topics: settings.topics }
            : { topicsRegex: settings.topicsRegex as string }),
          controlTopic: settings.controlTopic,
          catalog,
          namespace: settings.namespace,
          mode: settings.mode,
          decode: createDebeziumDecoder(),
          route: createRouter(settings.routing, settings.namespace),
          ...(settings.deadLetterTopic ? { deadLetterTopic: settings.deadLetterTopic } : {}),
          ...(settings.transactionTopic ? { transactionTopic: settings.transactionTopic } : {}),
          deadLetterHeaders: (error, record) =>
            deadLetterHeaders(error, record, { connectorName: settings.sinkId, taskId: workerId }),
          ...(settings.commitIntervalMs !== undefined ? { commitIntervalMs: settings.commitIntervalMs } : {}),
          ...(settings.commitTimeoutMs !== undefined ? { commitTimeoutMs: settings.commitTimeoutMs } : {}),
          workerId,
          log,
        }).catch((error: unknown) => {
          if (error instanceof FloeError) throw error;
          throw new SinkError(
            "KAFKA_FAILED",
            `cannot start the sink on Kafka at ${settings.brokers.join(",")}`,
            { cause: error },
          );
        });
        log(
          `sink ${settings.sinkId} running: control topic ${settings.controlTopic}` +
            (settings.deadLetterTopic ? `, dead letters to ${settings.deadLetterTopic}` : "") +
            (settings.transactionTopic ? `, transaction-consistent (${settings.transactionTopic})` : ""),
        );
        try {
          await Promise.race([signalled, sink.failed]);
          log(
            "stopping: closing the worker and the coordinator (uncommitted changes are re-read on restart)",
          );
        } finally {
          if (onSignal) {
            // A second signal while closing still forces the exit.
            process.off("SIGINT", onSignal);
            process.off("SIGTERM", onSignal);
            if (signals > 0) {
              process.once("SIGINT", onSignal);
              process.once("SIGTERM", onSignal);
            }
          }
          await sink.close();
        }
        const stats = sink.worker.stats;
        log(
          `stopped: ${stats.records} records, ${stats.changes} changes, ${stats.published} rounds published, ${stats.deadLettered} dead letters`,
        );
      } finally {
        if (onSignal) {
          process.off("SIGINT", onSignal);
          process.off("SIGTERM", onSignal);
        }
        closeCatalog(catalog);
      }
    });
}
