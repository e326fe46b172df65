// `floe sink` as a command. Fast tests of its option handling (usage errors exit 2 and name the fix; an
// Iceberg Kafka Connect sink connector config maps onto the flags, flags winning; unsupported iceberg.*
// properties are named on stderr). Then end to end, every piece started through the CLI as a process:
// PostgreSQL (own database) → `floe capture` (own topic prefix and slot) → Kafka → `floe sink` (own sink
// id, configured by a connector .properties file plus flags) → an in-process `floe serve`. A workload of
// inserts, updates, deletes, key changes and multi-table transactions runs while the sink is stopped
// (SIGTERM) and started again; a non-JSON record produced straight to a source topic lands on the
// dead-letter topic with Kafka Connect's error headers while the records after it still reach the
// table; every Iceberg table ends equal to PostgreSQL row by row.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { type TestContext, test } from "node:test";
import { fileURLToPath } from "node:url";
import {
  Admin,
  Consumer,
  FetchIsolationLevels,
  MessagesStreamModes,
  Producer,
  stringDeserializers,
} from "@platformatic/kafka";
import pg from "pg";
import type { Catalog } from "../../src/catalog/catalog.ts";
import { CliError } from "../../src/cli/config.ts";
import { closeCatalog, openRestCatalog } from "../../src/cli/dump.ts";
import { run } from "../../src/cli/main.ts";
import { parseJavaProperties } from "../../src/cli/properties.ts";
import { resolveSinkSettings, sinkCommand } from "../../src/cli/sink.ts";
import { startServer } from "../../src/server/server.ts";
import { createRouter } from "../../src/sink/kafka/routing.ts";
import { icebergRows as rowsOf, waitForEquality as waitForTables } from "../helpers/equality.ts";
import { createTestDatabase, defer, requireKafkaBrokers, uniqueName } from "../helpers/services.ts";
import { SHOP_DDL, SHOP_TABLES, shopStep } from "../helpers/shop.ts";

const MAIN = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));

const TABLES = SHOP_TABLES;

const waitForEquality = (sql: pg.Client, catalog: Catalog, debug: () => string, timeoutMs = 120_000) =>
  waitForTables(sql, catalog, TABLES, { namespace: ["shop"], timeoutMs, debug });
const _icebergRows = (catalog: Catalog, table: string) => rowsOf(catalog, ["shop"], table);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function lineSink(lines: string[]) {
  return new Writable({
    write(chunk, _encoding, done) {
      lines.push(...String(chunk).split("\n").filter(Boolean));
      done();
    },
  });
}

/** run() prints usage errors with console.error: keep them out of the test output, return them. */
async function runQuietly(argv: string[]): Promise<{ code: number; errors: string }> {
  const original = console.error;
  const errors: string[] = [];
  console.error = (...args: unknown[]) => errors.push(args.map(String).join(" "));
  try {
    return { code: await run(argv), errors: errors.join("\n") };
  } finally {
    console.error = original;
  }
}

test("floe sink: bad usage exits 2 and names the option and the fix", async () => {
  const base = ["sink", "--brokers", "127.0.0.1:1", "--bucket", "lake"];
  const both = await runQuietly([...base, "--topics", "a.public.t", "--topics-regex", "a\\..*"]);
  assert.equal(both.code, 2);
  assert.match(both.errors, /--topics and --topics-regex both given; give exactly one/);
  const none = await runQuietly(base);
  assert.equal(none.code, 2);
  assert.match(none.errors, /no source topics: give --topics .* or --topics-regex/);
  const badMap = await runQuietly([...base, "--topics", "t", "--tables", "orders"]);
  assert.equal(badMap.code, 2);
  assert.match(badMap.errors, /--tables entry 'orders' is not topicOrSourceTable=icebergTable/);
  const twoRoutes = await runQuietly([...base, "--topics", "t", "--tables", "a=b", "--route-field", "f"]);
  assert.equal(twoRoutes.code, 2);
  assert.match(twoRoutes.errors, /--tables and --route-field both given/);
  const controlAmongSources = await runQuietly([
    ...base,
    "--topics-regex",
    "shop\\..*",
    "--control-topic",
    "shop.control",
  ]);
  assert.equal(controlAmongSources.code, 2);
  assert.match(controlAmongSources.errors, /control topic shop\.control is among the source topics/);
  const badInterval = await runQuietly([...base, "--topics", "t", "--commit-interval-ms", "soon"]);
  assert.equal(badInterval.code, 2);
  assert.match(badInterval.errors, /--commit-interval-ms is 'soon'; write a positive number/);
  const badMode = await runQuietly([...base, "--topics", "t", "--mode", "append"]);
  assert.equal(badMode.code, 2);
});

test("floe sink --config: an Iceberg Kafka Connect connector config maps onto the flags; flags win", () => {
  const file = parseJavaProperties(String.raw`
# The Apache Iceberg sink connector's config, as Kafka Connect takes it
name=orders-sink
connector.class=org.apache.iceberg.connect.IcebergSinkConnector
tasks.max=2
topics.regex=shop\\.public\\..*
iceberg.control.topic=shop-control
iceberg.control.commit.interval-ms=2500
iceberg.control.commit.timeout-ms=9000
iceberg.tables=sales.orders
iceberg.catalog.type=rest
iceberg.catalog.uri=http://catalog:8181/iceberg
iceberg.catalog.warehouse=lake
iceberg.catalog.credential=key:secret
errors.tolerance=all
errors.deadletterqueue.topic.name=shop-dlq
key.converter=org.apache.kafka.connect.json.JsonConverter
value.converter=org.apache.kafka.connect.json.JsonConverter
value.converter.schemas.enable=true
`);
  const { settings, warnings } = resolveSinkSettings({ brokers: "k1:9092,k2:9092" }, file, "c.properties");
  assert.deepEqual(warnings, []);
  const { routing, ...rest } = settings;
  assert.deepEqual(rest, {
    brokers: ["k1:9092", "k2:9092"],
    sinkId: "orders-sink",
    topicsRegex: "shop\\.public\\..*",
    controlTopic: "shop-control",
    catalog: "http://catalog:8181/iceberg",
    bucket: "lake",
    credential: "key:secret",
    namespace: ["public"],
    mode: "upsert",
    commitIntervalMs: 2500,
    commitTimeoutMs: 9000,
    deadLetterTopic: "shop-dlq",
  });
  // One table in iceberg.tables: every record goes to it.
  const record = { topic: "shop.public.customers", partition: 0, offset: 1n, key: null, value: null };
  assert.deepEqual(createRouter(routing, ["public"])({ schema: "public", table: "customers" }, record), {
    namespace: ["sales"],
    name: "orders",
  });

  // Flags win per setting; --topics replaces topics.regex, --tables the file's routing.
  const flagged = resolveSinkSettings(
    {
      brokers: "k:1",
      sinkId: "other",
      topics: "shop.public.orders",
      bucket: "lake2",
      commitIntervalMs: "100",
      tables: "orders=x,*=ns.rest",
      namespace: "lake.shop",
    },
    file,
    "c.properties",
  ).settings;
  assert.equal(flagged.sinkId, "other");
  assert.deepEqual(flagged.topics, ["shop.public.orders"]);
  assert.equal(flagged.topicsRegex, undefined);
  assert.equal(flagged.bucket, "lake2");
  assert.equal(flagged.commitIntervalMs, 100);
  assert.equal(flagged.commitTimeoutMs, 9000);
  const route = createRouter(flagged.routing, flagged.namespace);
  assert.deepEqual(route({ schema: "public", table: "orders" }, record), {
    namespace: ["lake", "shop"],
    name: "x",
  });
  assert.deepEqual(route({ schema: "public", table: "customers" }, record), {
    namespace: ["ns"],
    name: "rest",
  });

  // Dynamic routing by a field of the row, lower-cased as the Iceberg connector does.
  const dynamic = resolveSinkSettings(
    { brokers: "k:1" },
    {
      ...file,
      "iceberg.tables": "",
      "iceberg.tables.dynamic-enabled": "true",
      "iceberg.tables.route-field": "t",
    },
  ).settings.routing;
  const value = (after: Record<string, unknown>) =>
    Buffer.from(JSON.stringify({ schema: {}, payload: { before: null, after, op: "c" } }));
  assert.deepEqual(
    createRouter(dynamic, ["public"])(
      { schema: "public", table: "events" },
      { ...record, value: value({ id: 1, t: "Audit.Events" }) },
    ),
    { namespace: ["audit"], name: "events" },
  );
  assert.throws(
    () =>
      createRouter(dynamic, ["public"])(
        { schema: "public", table: "events" },
        { ...record, value: value({ id: 1 }) },
      ),
    /no value for route field t/,
  );

  // Static routing by a field: the first listed table whose route-regex matches the whole value.
  const byRegex = resolveSinkSettings(
    { brokers: "k:1" },
    {
      ...file,
      "iceberg.tables": "lake.eu, lake.us",
      "iceberg.tables.route-field": "region",
      "iceberg.table.lake.eu.route-regex": "eu-.*",
      "iceberg.table.lake.us.route-regex": "us-.*",
    },
  ).settings.routing;
  const regexRoute = (region: string) =>
    createRouter(byRegex, ["public"])(
      { schema: "public", table: "events" },
      { ...record, value: value({ id: 1, region }) },
    );
  assert.deepEqual(regexRoute("us-east"), { namespace: ["lake"], name: "us" });
  assert.throws(() => regexRoute("ap-south"), /no table's route-regex matches/);
  assert.throws(() => regexRoute("xeu-west"), /no table's route-regex matches/);

  // The connector's fan-out to several tables is refused with what to do instead.
  assert.throws(
    () => resolveSinkSettings({ brokers: "k:1" }, { ...file, "iceberg.tables": "a.x,a.y" }),
    (error: unknown) =>
      error instanceof CliError &&
      error.code === "USAGE" &&
      /lists 2 tables without a route field/.test(error.message),
  );
  // ... and a converter Floe cannot read.
  assert.throws(
    () =>
      resolveSinkSettings(
        { brokers: "k:1" },
        { ...file, "value.converter": "io.confluent.connect.avro.AvroConverter" },
      ),
    /value.converter .* floe sink reads Kafka Connect JSON only/,
  );
});

test("floe sink --config: unsupported iceberg.* properties are named on stderr, not dropped silently", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "floe-sink-config-"));
  defer(t, () => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, "connector.json");
  // A Kafka Connect REST body; the catalog URI is not a URL, so the command stops before any I/O.
  writeFileSync(
    path,
    JSON.stringify({
      name: "from-json",
      config: {
        "connector.class": "org.apache.iceberg.connect.IcebergSinkConnector",
        topics: "a.public.t",
        "iceberg.catalog.uri": "not a url",
        "iceberg.catalog.warehouse": "lake",
        "iceberg.tables.default-id-columns": "id",
        "iceberg.catalog.s3.secret-access-key": "do-not-print-me",
        "iceberg.control.commit.interval-ms": 1000,
        transforms: "unwrap",
      },
    }),
  );
  const lines: string[] = [];
  const command = sinkCommand({ openCatalog: openRestCatalog, stderr: lineSink(lines) });
  await assert.rejects(
    command.parseAsync(["--config", path, "--brokers", "127.0.0.1:1"], { from: "user" }),
    (error: unknown) =>
      error instanceof CliError && error.code === "USAGE" && /--catalog/.test(error.message),
  );
  const text = lines.join("\n");
  assert.match(
    text,
    /warning: .*connector\.json: floe sink does not support iceberg\.tables\.default-id-columns, iceberg\.catalog\.s3\.secret-access-key; ignoring them/,
  );
  assert.match(text, /ignoring properties floe sink does not use: transforms/);
  assert.doesNotMatch(text, /do-not-print-me/);
});

// ---------------------------------------------------------------------------------------------------
// End to end.

/** A `floe` process whose stderr lines the test keeps. */
class FloeProcess {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  readonly exited: Promise<number | null>;

  constructor(
    readonly name: string,
    args: string[],
  ) {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
    };
    for (const key of Object.keys(env)) if (key.startsWith("FLOE_")) delete env[key];
    this.child = spawn(process.execPath, ["--import", "tsx", MAIN, ...args], {
      stdio: ["ignore", "ignore", "pipe"],
      env,
    });
    let partial = "";
    this.child.stderr?.on("data", (chunk: Buffer) => {
      const parts = (partial + chunk.toString()).split("\n");
      partial = parts.pop() ?? "";
      for (const line of parts) this.lines.push(`${name}: ${line}`);
    });
    this.exited = once(this.child, "exit").then(([code]) => code as number | null);
  }

  async waitForLine(pattern: RegExp, timeoutMs = 90_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.lines.some((line) => pattern.test(line))) {
      if (this.child.exitCode !== null)
        throw new Error(`${this.name} exited (${this.child.exitCode}):\n${this.lines.join("\n")}`);
      if (Date.now() > deadline)
        throw new Error(`${this.name}: no line matching ${pattern}:\n${this.lines.join("\n")}`);
      await sleep(200);
    }
  }

  /** SIGTERM, the exit code (a clean stop is 0). */
  async stop(timeoutMs = 60_000): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.child.exitCode;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The dead-letter topic's records (read_committed: the sink writes them in its transactions). */
async function readDeadLetters(
  brokers: string[],
  topic: string,
  until: (value: string) => boolean,
  timeoutMs = 60_000,
) {
  const consumer = new Consumer({
    clientId: "floe-test-dlq-reader",
    groupId: uniqueName("floe-test-dlq"),
    bootstrapBrokers: brokers,
    isolationLevel: FetchIsolationLevels.READ_COMMITTED,
    deserializers: stringDeserializers,
    maxWaitTime: 200,
  });
  try {
    const stream = await consumer.consume({
      topics: [topic],
      mode: MessagesStreamModes.EARLIEST,
      autocommit: false,
    });
    const timer = setTimeout(() => void stream.close(), timeoutMs);
    const seen: { value: string; headers: Map<string, string> }[] = [];
    try {
      for await (const message of stream) {
        seen.push({ value: message.value, headers: message.headers as Map<string, string> });
        if (until(message.value)) break;
      }
    } finally {
      clearTimeout(timer);
      await stream.close();
    }
    return seen;
  } finally {
    await consumer.close(true);
  }
}

async function pipeline(t: TestContext) {
  const brokers = await requireKafkaBrokers();
  const dir = mkdtempSync(join(tmpdir(), "floe-sink-cli-"));
  defer(t, () => rmSync(dir, { recursive: true, force: true }));
  const server = await startServer({
    dataDir: join(dir, "serve"),
    host: "127.0.0.1",
    port: 0,
    logger: false,
    maintenanceIntervalMs: 0,
    auth: { anonymous: true },
  });
  defer(t, () => server.close());
  await server.buckets.create("lake");
  const catalog = await openRestCatalog(server.url, "lake");
  defer(t, () => closeCatalog(catalog));

  const pgUrl = await createTestDatabase(t);
  const sql = new pg.Client({ connectionString: pgUrl });
  await sql.connect();
  defer(t, () => sql.end());
  await sql.query(SHOP_DDL);
  const prefix = uniqueName("sinkcli");
  const slot = uniqueName("floe_sinkcli");
  const admin = new Admin({ clientId: "floe-test-admin", bootstrapBrokers: brokers });
  defer(t, () => admin.close());
  defer(t, async () => {
    const topics = (await admin.listTopics()).filter((topic) => topic.startsWith(`${prefix}.`));
    await admin.deleteTopics({ topics }).catch(() => {});
  });
  const processes: FloeProcess[] = [];
  defer(t, async () => {
    for (const p of processes) await p.stop(20_000);
    for (let attempt = 0; attempt < 50; attempt++) {
      const { rowCount } = await sql.query(
        "select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = $1 and not active",
        [slot],
      );
      const { rows } = await sql.query("select 1 from pg_replication_slots where slot_name = $1", [slot]);
      if (rowCount === 1 || rows.length === 0) break;
      await sleep(100);
    }
  });
  const start = (name: string, args: string[]) => {
    const p = new FloeProcess(name, args);
    processes.push(p);
    return p;
  };
  const debug = () => processes.flatMap((p) => p.lines.slice(-40)).join("\n");

  let step = 0;
  /** Multi-table transactions, updates, deletes, key changes, inserts. */
  const workload = async (rounds: number, pauseMs = 0) => {
    for (let r = 0; r < rounds; r++) {
      if (pauseMs > 0) await sleep(pauseMs);
      await shopStep(sql, step++, { deleteCustomers: true });
    }
  };
  return { brokers, dir, server, catalog, sql, pgUrl, prefix, slot, admin, start, debug, workload };
}

test("floe capture → floe sink (CLI processes): stop and restart mid-stream, a poison record dead-lettered; tables equal PostgreSQL", {
  timeout: 420_000,
}, async (t) => {
  const { brokers, dir, server, catalog, sql, pgUrl, prefix, slot, admin, start, debug, workload } =
    await pipeline(t);
  const sourceTopics = ["customers", "orders"].map((table) => `${prefix}.public.${table}`);
  const deadLetterTopic = `${prefix}.dlq`;
  const sinkId = uniqueName("floe-sink-cli");

  const capture = start("capture", [
    "capture",
    "--pg",
    pgUrl,
    "--brokers",
    brokers.join(","),
    "--topic-prefix",
    prefix,
    "--slot",
    slot,
    "--publication",
    slot,
    "--partitions",
    "2",
    "--log-interval",
    "5",
  ]);
  await capture.waitForLine(/streaming from slot/);
  // The sink resolves topics.regex when it starts: wait until the snapshot created both topics.
  for (const deadline = Date.now() + 60_000; ; ) {
    const existing = new Set(await admin.listTopics());
    if (sourceTopics.every((topic) => existing.has(topic))) break;
    if (Date.now() > deadline) throw new Error(`topics never appeared:\n${debug()}`);
    await sleep(250);
  }

  // The sink's settings: an Iceberg Kafka Connect connector config, plus flags (which win).
  const config = join(dir, "iceberg-sink.properties");
  writeFileSync(
    config,
    [
      `name=${sinkId}`,
      "connector.class=org.apache.iceberg.connect.IcebergSinkConnector",
      "tasks.max=1",
      `topics.regex=${prefix}\\\\.public\\\\..*`,
      `iceberg.control.topic=${prefix}.control`,
      "iceberg.control.commit.interval-ms=500",
      "iceberg.catalog.type=rest",
      `iceberg.catalog.uri=${server.url}`,
      "iceberg.catalog.warehouse=lake",
      "iceberg.tables.default-id-columns=id",
      "errors.tolerance=all",
      `errors.deadletterqueue.topic.name=${deadLetterTopic}`,
      "key.converter=org.apache.kafka.connect.json.JsonConverter",
      "value.converter=org.apache.kafka.connect.json.JsonConverter",
      "",
    ].join("\n"),
  );
  const sinkArgs = [
    "sink",
    "--config",
    config,
    "--brokers",
    brokers.join(","),
    "--namespace",
    "shop",
    "--commit-timeout-ms",
    "3000",
    // Transaction-consistent: the workload's multi-table transactions land whole, across a restart.
    "--transaction-topic",
    `${prefix}.transaction`,
  ];

  const first = start("sink#1", sinkArgs);
  await first.waitForLine(/sink .* running/);
  assert.ok(
    first.lines.some((line) => /does not support iceberg\.tables\.default-id-columns/.test(line)),
    first.lines.join("\n"),
  );
  await workload(25);
  await waitForEquality(sql, catalog, debug);

  // Stop the sink mid-stream (SIGTERM: clean close, exit 0) while changes keep coming, change more while
  // it is down, and start it again while they still come: it resumes from the offsets published with
  // its files, nothing lost, nothing applied twice.
  const running = workload(80, 60);
  await sleep(800);
  assert.equal(await first.stop(), 0, first.lines.join("\n"));
  assert.ok(
    first.lines.some((line) => /stopped: \d+ records, \d+ changes, [1-9]\d* rounds published/.test(line)),
    first.lines.join("\n"),
  );
  await sleep(500);
  const second = start("sink#2", sinkArgs);
  await second.waitForLine(/sink .* running/);
  await running;

  // A poison record straight into a source topic mid-stream: dead-lettered, and the records after it
  // (40 customers updates spread over both partitions) still reach the table.
  const producer = new Producer({ clientId: "floe-test-poison", bootstrapBrokers: brokers });
  defer(t, () => producer.close());
  const poison = `not json {${uniqueName("poison")}`;
  const poisonTopic = sourceTopics[0]!;
  const more = workload(40, 25);
  await sleep(300);
  await producer.send({
    messages: [{ topic: poisonTopic, key: Buffer.from('{"id":-1}'), value: Buffer.from(poison) }],
  });
  await more;
  await waitForEquality(sql, catalog, debug);

  const letters = await readDeadLetters(brokers, deadLetterTopic, (value) => value === poison);
  const letter = letters.find((l) => l.value === poison);
  assert.ok(letter, `the poison record is not on ${deadLetterTopic}:\n${debug()}`);
  const headers = Object.fromEntries(letter.headers);
  assert.equal(headers["__connect.errors.topic"], poisonTopic);
  assert.match(headers["__connect.errors.partition"] ?? "", /^\d+$/);
  assert.match(headers["__connect.errors.offset"] ?? "", /^\d+$/);
  assert.equal(headers["__connect.errors.exception.class.name"], "floe.DecodeError");
  assert.equal(headers["__connect.errors.stage"], "VALUE_CONVERTER");
  assert.equal(headers["floe.errors.code"], "RECORD_INVALID");
  assert.equal(headers["__connect.errors.connector.name"], sinkId);
  assert.match(headers["__connect.errors.exception.message"] ?? "", /not JSON/);

  // Every commit carries the sink id from the config's `name`; in transaction-consistent mode, the
  // commit LSN it reaches, the same in every table of one commit.
  const orders = await catalog.loadTable({ namespace: ["shop"], name: "orders" });
  assert.ok(orders.metadata.snapshots.some((s) => s.summary["floe.sink.id"] === sinkId));
  assert.ok(
    first.lines.some((line) => /transaction-consistent/.test(line)),
    first.lines.join("\n"),
  );
  const customers = await catalog.loadTable({ namespace: ["shop"], name: "customers" });
  const lsns = (table: typeof orders) =>
    new Set(table.metadata.snapshots.map((s) => s.summary["floe.source.lsn"]).filter((l) => l !== undefined));
  assert.ok(lsns(orders).size > 3, `commit LSNs on orders: ${[...lsns(orders)].join(", ")}`);
  const shared = [...lsns(orders)].filter((lsn) => lsns(customers).has(lsn));
  assert.ok(shared.length > 0, "multi-table transactions land in one commit of both tables");

  assert.equal(await second.stop(), 0, second.lines.join("\n"));
  assert.ok(
    second.lines.some((line) => /stopped: .* [1-9]\d* dead letters/.test(line)),
    second.lines.join("\n"),
  );
  assert.equal(await capture.stop(), 0, capture.lines.join("\n"));
  for (const line of [...first.lines, ...second.lines].filter((l) => /stopped:/.test(l))) t.diagnostic(line);
});

test("floe sink without a dead-letter topic stops at a poison record: exit 1 naming the record", {
  timeout: 120_000,
}, async (t) => {
  const brokers = await requireKafkaBrokers();
  const dir = mkdtempSync(join(tmpdir(), "floe-sink-cli-"));
  defer(t, () => rmSync(dir, { recursive: true, force: true }));
  const server = await startServer({
    dataDir: join(dir, "serve"),
    host: "127.0.0.1",
    port: 0,
    logger: false,
    maintenanceIntervalMs: 0,
    auth: { anonymous: true },
  });
  defer(t, () => server.close());
  await server.buckets.create("lake");
  const prefix = uniqueName("sinkcli");
  const topic = `${prefix}.public.t`;
  const admin = new Admin({ clientId: "floe-test-admin", bootstrapBrokers: brokers });
  defer(t, () => admin.close());
  await admin.createTopics({ topics: [topic], partitions: 1, replicas: 1 });
  defer(t, () => admin.deleteTopics({ topics: [topic, `${prefix}.control`] }).catch(() => {}));
  const producer = new Producer({ clientId: "floe-test-poison", bootstrapBrokers: brokers });
  defer(t, () => producer.close());
  await producer.send({ messages: [{ topic, key: Buffer.from("k"), value: Buffer.from("<xml/>") }] });

  const sink = new FloeProcess("sink", [
    "sink",
    "--brokers",
    brokers.join(","),
    "--topics",
    topic,
    "--control-topic",
    `${prefix}.control`,
    "--sink-id",
    uniqueName("floe-sink-cli"),
    "--catalog",
    server.url,
    "--bucket",
    "lake",
  ]);
  defer(t, async () => {
    await sink.stop(10_000);
  });
  const deadline = setTimeout(() => sink.child.kill("SIGKILL"), 90_000);
  const code = await sink.exited;
  clearTimeout(deadline);
  const text = sink.lines.join("\n");
  assert.equal(code, 1, text);
  assert.match(
    text,
    new RegExp(
      `floe: CHANGE_INVALID: record ${topic.replaceAll(".", "\\.")}/0@0 cannot be applied and no dead-letter topic is configured`,
    ),
  );
});
