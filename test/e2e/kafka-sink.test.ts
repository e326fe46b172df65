// The Kafka pipeline end to end: real PostgreSQL → capture → per-table topics (3 partitions, keyed by
// primary key) on a real broker → `floe sink` (consumer group + control topic + elected coordinator)
// → Iceberg. A workload of inserts, updates, deletes, primary-key changes and multi-table transactions
// runs while the sink is stopped and restarted; the tables must end equal to PostgreSQL row for row
// (nothing lost, nothing duplicated). A second test scales the sink 1 → 3 → 1 workers (twice) while
// the workload runs: every rebalance moves partitions between workers, each re-reads from the offsets
// published with its files, and the tables still end equal to PostgreSQL.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { type TestContext, test } from "node:test";
import { Admin, Producer } from "@platformatic/kafka";
import pg from "pg";
import {
  Capture,
  type ChangeBatch,
  type ChangeSink,
  parseCaptureConfig,
  type SourcePosition,
  serializeKey,
  serializeValue,
} from "../../src/capture/index.ts";
import type { Catalog } from "../../src/catalog/catalog.ts";
import { readTable } from "../../src/iceberg/reader.ts";
import { planScan } from "../../src/iceberg/scan.ts";
import { localPathOf } from "../../src/io/index.ts";
import { createDebeziumDecoder } from "../../src/sink/kafka/decode.ts";
import { type KafkaSink, startKafkaSink } from "../../src/sink/kafka/sink.ts";
import { icebergRows as rowsOf, waitForEquality as waitForTables } from "../helpers/equality.ts";
import { runReader } from "../helpers/python.ts";
import { normaliseRows, type Row } from "../helpers/rows.ts";
import {
  createTestDatabase,
  defer,
  requireKafkaBrokers,
  topicPrefix,
  uniqueName,
} from "../helpers/services.ts";
import { SHOP_DDL, SHOP_TABLES, shopStep } from "../helpers/shop.ts";
import { localWarehouse } from "../helpers/tables.ts";

const TABLES = SHOP_TABLES;

const waitForEquality = (sql: pg.Client, catalog: Catalog, timeoutMs = 90_000) =>
  waitForTables(sql, catalog, TABLES, { namespace: ["shop"], timeoutMs });
const icebergRows = (catalog: Catalog, table: string) => rowsOf(catalog, ["shop"], table);

/** Capture's downstream for this test: every change event to its table topic, acknowledged in order. */
class TopicSink implements ChangeSink {
  #listener: ((position: SourcePosition) => void) | undefined;
  constructor(private readonly producer: Producer<string, string, string, string>) {}
  onDurable(listener: (position: SourcePosition) => void): void {
    this.#listener = listener;
  }
  async write(batch: ChangeBatch): Promise<void> {
    const messages = batch.events
      .filter((event) => event.kind === "change")
      .map((event) => ({
        topic: event.topic,
        key: serializeKey(event, { schemasEnable: true }) ?? "",
        value: serializeValue(event, { schemasEnable: true }) ?? "",
      }));
    if (messages.length > 0) await this.producer.send({ messages });
    this.#listener?.(batch.position);
  }
}

/** PostgreSQL (own database) → capture → per-table topics with 3 partitions; sinks started on demand. */
async function pipeline(t: TestContext, mode: "upsert" | "changelog" = "upsert") {
  const brokers = await requireKafkaBrokers();
  const prefix = topicPrefix().replace(/[-.]+$/, "");
  const { catalog } = localWarehouse(t);
  const pgUrl = await createTestDatabase(t);
  const sql = new pg.Client({ connectionString: pgUrl });
  await sql.connect();
  defer(t, () => sql.end());
  await sql.query(SHOP_DDL);

  const admin = new Admin({ clientId: "floe-test-admin", bootstrapBrokers: brokers });
  defer(t, () => admin.close());
  const topics = ["customers", "orders"].map((table) => `${prefix}.public.${table}`);
  const controlTopic = `${prefix}.control`;
  await admin.createTopics({ topics, partitions: 3, replicas: 1 });
  defer(t, () => admin.deleteTopics({ topics: [...topics, controlTopic] }).catch(() => {}));

  const producer = new Producer<string, string, string, string>({
    clientId: "floe-test-capture",
    bootstrapBrokers: brokers,
    idempotent: true,
    serializers: {
      key: (v?: string) => (v === undefined ? undefined : Buffer.from(v)),
      value: (v?: string) => (v === undefined ? undefined : Buffer.from(v)),
      headerKey: (v?: string) => (v === undefined ? undefined : Buffer.from(v)),
      headerValue: (v?: string) => (v === undefined ? undefined : Buffer.from(v)),
    },
  });
  defer(t, () => producer.close());
  const slot = uniqueName("floe_ksink");
  const capture = new Capture(
    parseCaptureConfig({ url: pgUrl, slotName: slot, publicationName: slot, topicPrefix: prefix }),
    new TopicSink(producer),
  );
  defer(t, async () => {
    await capture.stop();
    await sql.query(
      "select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = $1 and not active",
      [slot],
    );
  });
  await capture.start();

  const sinkId = uniqueName("floe-sink");
  const logs: string[] = [];
  const sinks: KafkaSink[] = [];
  const start = async (workerId: string, sinkCatalog: Catalog = catalog) => {
    const sink = await startKafkaSink({
      sinkId,
      brokers,
      topics,
      controlTopic,
      catalog: sinkCatalog,
      namespace: ["shop"],
      decode: createDebeziumDecoder(),
      mode,
      commitIntervalMs: 500,
      commitTimeoutMs: 3000,
      bufferRows: 40,
      workerId,
      log: (line) => logs.push(`${workerId}: ${line}`),
    });
    sinks.push(sink);
    return sink;
  };
  defer(t, async () => {
    for (const sink of sinks) await sink.close();
  });

  let step = 0;
  const workload = async (rounds: number) => {
    for (let r = 0; r < rounds; r++) await shopStep(sql, step++);
  };

  return { sql, catalog, sinkId, logs, sinks, start, workload, producer, topics };
}

test("floe sink: mixed workload, sink stopped and restarted mid-stream; every table equals PostgreSQL", {
  timeout: 300_000,
}, async (t) => {
  const { sql, catalog, sinkId, logs, sinks, start, workload } = await pipeline(t);
  const first = await start("w1");
  await workload(30);
  await waitForEquality(sql, catalog);

  // Stop the sink mid-stream, change more while it is down, start a new worker: it resumes from the
  // offsets published with the files — nothing lost, nothing applied twice.
  await workload(10);
  await first.close();
  sinks.splice(0);
  await workload(30);
  const second = await start("w2");
  await workload(20);
  await waitForEquality(sql, catalog).catch((error: unknown) => {
    throw new Error(
      `${(error as Error).message}\n${logs.join("\n")}\n${JSON.stringify(second.worker.debugState())}`,
    );
  });
  assert.ok(second.worker.stats.published > 0);
  const leaders = logs.filter((line) => line.includes("coordinator: elected"));
  assert.ok(leaders.length >= 1, logs.join("\n"));
  // Every commit carries the sink id, an epoch and the control offset it covers.
  const table = await catalog.loadTable({ namespace: ["shop"], name: "orders" });
  const sinkSnapshots = table.metadata.snapshots.filter((s) => s.summary["floe.sink.id"] === sinkId);
  assert.ok(sinkSnapshots.length >= 2, `sink commits: ${sinkSnapshots.length}`);
  assert.ok(
    sinkSnapshots.every((s) => s.summary["floe.sink.epoch"] && s.summary["floe.sink.control-offset"]),
  );
  // Independent readers see the same rows (position deletes applied).
  for (const [name, query] of Object.entries(TABLES)) {
    const expected = normaliseRows((await sql.query(query)).rows as Row[]);
    const location = (await catalog.loadTable({ namespace: ["shop"], name })).metadataLocation;
    assert.deepEqual(
      normaliseRows(runReader<Row[]>("pyiceberg-scan", location)),
      expected,
      `pyiceberg ${name}`,
    );
    assert.deepEqual(normaliseRows(runReader<Row[]>("duckdb-scan", location)), expected, `duckdb ${name}`);
  }
});

test("floe sink: scaling 1 → 3 → 1 workers twice under a running workload; tables equal PostgreSQL", {
  timeout: 400_000,
}, async (t) => {
  const { sql, catalog, logs, sinks, start, workload } = await pipeline(t);
  const debug = () =>
    `${logs.slice(-80).join("\n")}\n${sinks.map((s) => JSON.stringify(s.worker.debugState())).join("\n")}`;
  const settle = async (what: string) =>
    waitForEquality(sql, catalog, 120_000).catch((error: unknown) => {
      throw new Error(`${what}: ${(error as Error).message}\n${debug()}`);
    });
  const w1 = await start("w1");
  await workload(15);
  await settle("one worker");
  for (let cycle = 0; cycle < 2; cycle++) {
    // Scale out while changes keep coming: two joins, each a rebalance that moves partitions.
    const running = workload(40);
    const extra = [await start(`w${2 + 2 * cycle}`), await start(`w${3 + 2 * cycle}`)];
    await running;
    await settle(`cycle ${cycle}: three workers`);
    const spread = extra.filter((sink) => sink.worker.stats.published > 0).length;
    assert.ok(spread >= 1, `the new workers took no partitions\n${debug()}`);
    // Scale back in while changes keep coming: their partitions return to w1.
    const more = workload(40);
    for (const sink of extra) {
      await sink.close();
      sinks.splice(sinks.indexOf(sink), 1);
    }
    await more;
    await workload(5);
    await settle(`cycle ${cycle}: back to one worker`);
  }
  assert.ok(w1.worker.stats.resets >= 4, `w1 rebalanced ${w1.worker.stats.resets} times`);
});

test("floe sink changelog mode: every change exactly once; the last change per key equals PostgreSQL", {
  timeout: 300_000,
}, async (t) => {
  const { sql, catalog, start, workload } = await pipeline(t, "changelog");
  const first = await start("w1");
  await workload(20);
  await first.close();
  await workload(10);
  await start("w2");
  await workload(10);
  const mirror = async (name: string) => {
    const identifier = { namespace: ["shop"], name };
    if (!(await catalog.tableExists(identifier))) return { rows: undefined, positions: [] as string[] };
    const changes = await readTable(await catalog.loadTable(identifier));
    // A key's changes share a partition: its offset (after '#') orders them.
    const offset = (row: Row) => BigInt(String(row._position).split("#")[1] ?? "0");
    const latest = new Map<string, Row>();
    for (const row of changes.sort((a, b) => (offset(a) < offset(b) ? -1 : offset(a) > offset(b) ? 1 : 0))) {
      latest.set(String(row.id), row);
    }
    const rows = [...latest.values()]
      .filter((row) => row._op !== "d")
      .map(({ _op, _position, _commit_time, ...row }) => row);
    // A position is `<LSN>#<partition offset>`: unique together with the row it recorded.
    return {
      rows: normaliseRows(rows),
      positions: changes.map((row) => JSON.stringify(normaliseRows([row]))),
    };
  };
  const deadline = Date.now() + 120_000;
  for (;;) {
    let mismatch = "";
    for (const [name, query] of Object.entries(TABLES)) {
      const expected = normaliseRows((await sql.query(query)).rows as Row[]);
      const { rows, positions } = await mirror(name);
      try {
        assert.deepEqual(rows, expected, name);
        // Exactly once: no change recorded twice (a replayed round would repeat positions).
        assert.equal(new Set(positions).size, positions.length, `${name}: a change was recorded twice`);
      } catch (error) {
        mismatch = (error as Error).message;
        break;
      }
    }
    if (!mismatch) break;
    if (Date.now() > deadline) throw new Error(`changelog never matched PostgreSQL:\n${mismatch}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
});

test("closing a worker right after the coordinator committed its round keeps the round's files", {
  timeout: 120_000,
}, async (t) => {
  const { catalog, start, workload } = await pipeline(t);
  // Close the sink the moment a commit returns: the worker has not heard commit-complete yet. Its
  // published files are the coordinator's; deleting them left a snapshot pointing at missing files.
  let committed: (() => void) | undefined;
  const watched = new Proxy(catalog, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (property !== "commitTransaction" || typeof value !== "function") {
        return typeof value === "function" ? value.bind(target) : value;
      }
      return async (...args: unknown[]) => {
        const result = await value.apply(target, args);
        committed?.();
        return result;
      };
    },
  });
  const first = new Promise<void>((resolve) => {
    committed = resolve;
  });
  const sink = await start("w1", watched);
  await workload(10);
  await first;
  committed = undefined;
  await sink.close();
  for (const name of Object.keys(TABLES)) {
    const identifier = { namespace: ["shop"], name };
    if (!(await catalog.tableExists(identifier))) continue;
    const table = await catalog.loadTable(identifier);
    const plan = await planScan(table);
    const files = plan.tasks.flatMap((task) => [task.dataFile, ...task.deletes]).map((f) => f.filePath);
    assert.ok(files.length > 0, name);
    const missing = files.filter((f) => !existsSync(localPathOf(f)));
    assert.deepEqual(missing, [], `${name}: the committed snapshot references deleted files`);
    assert.ok((await readTable(table)).length > 0, name);
  }
});

test("records without Connect schemas (schemas.enable=false) decode by the existing table's schema", {
  timeout: 120_000,
}, async (t) => {
  const { sql, catalog, start, workload, producer, topics } = await pipeline(t);
  await start("w1");
  await workload(3);
  await waitForEquality(sql, catalog);
  const now = Date.now();
  await producer.send({
    messages: [
      {
        topic: topics[0]!,
        key: JSON.stringify({ id: 5000 }),
        value: JSON.stringify({
          before: null,
          after: { id: 5000, name: "schemaless", balance: null },
          source: { connector: "postgresql", ts_ms: now, schema: "public", table: "customers" },
          op: "c",
          ts_ms: now,
        }),
      },
    ],
  });
  const deadline = Date.now() + 60_000;
  for (;;) {
    const rows = (await icebergRows(catalog, "customers")) ?? [];
    const row = rows.find((r) => r.id === "5000");
    if (row) {
      assert.deepEqual(row, { id: "5000", name: "schemaless", balance: null });
      break;
    }
    if (Date.now() > deadline) throw new Error("the schemaless record never reached the table");
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
});
