// The sink coordinator's commit rules, driven through a real broker with hand-made control events (no
// workers): which published files it may commit, and when. Tables are described only (the coordinator
// commits manifests; no data file is read), so each assertion is about which file entries the tables
// hold and in which commit they landed.
//
// 1. A publication's events are read one message at a time and other workers' transactions interleave
//    with them: nothing of a publication is committed before its data-complete, and a complete later
//    publication waits for an incomplete earlier one (its commit would move the table's watermark past
//    the earlier event, which would then never be committed).
// 2. Two coordinators overlapping (a zombie finishing its round while its successor commits the same
//    events): the one whose commit conflicts stages again from the new watermark instead of adding the
//    same files a second time.
import assert from "node:assert/strict";
import { type TestContext, test } from "node:test";
import { Admin, Producer, stringSerializers } from "@platformatic/kafka";
import type { Catalog, CommitTableRequest, LoadedTable, TableIdentifier } from "../../src/catalog/catalog.ts";
import type { DataFile } from "../../src/iceberg/data-file.ts";
import { RowDelta } from "../../src/iceberg/operations/row-delta.ts";
import { planScan } from "../../src/iceberg/scan.ts";
import { ancestorsOf, snapshotForRef } from "../../src/iceberg/table-metadata.ts";
import {
  type ControlEvent,
  encodeControlEvent,
  SINK_PUBLICATIONS_PROPERTY,
} from "../../src/sink/kafka/control.ts";
import { Coordinator } from "../../src/sink/kafka/coordinator.ts";
import { defer, requireKafkaBrokers, topicPrefix, uniqueName } from "../helpers/services.ts";
import { dataFile, localWarehouse, ordersSchema } from "../helpers/tables.ts";

const A: TableIdentifier = { namespace: ["shop"], name: "a" };
const B: TableIdentifier = { namespace: ["shop"], name: "b" };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function harness(t: TestContext, wrap: (catalog: Catalog) => Catalog = (c) => c) {
  const brokers = await requireKafkaBrokers();
  const { catalog } = localWarehouse(t);
  await catalog.createNamespace(["shop"]);
  const tables = new Map<string, LoadedTable>();
  for (const id of [A, B]) tables.set(id.name, await catalog.createTable(id, { schema: ordersSchema }));
  const controlTopic = `${topicPrefix()}control`;
  const admin = new Admin({ clientId: "floe-test-admin", bootstrapBrokers: brokers });
  defer(t, () => admin.close());
  await admin.createTopics({ topics: [controlTopic], partitions: 1, replicas: 1 });
  defer(t, () => admin.deleteTopics({ topics: [controlTopic] }).catch(() => {}));
  const producer = new Producer({
    clientId: "floe-test-worker",
    bootstrapBrokers: brokers,
    serializers: stringSerializers,
  });
  defer(t, () => producer.close());
  const sinkId = uniqueName("floe-sink");
  const logs: string[] = [];
  const coordinator = new Coordinator({
    sinkId,
    brokers,
    controlTopic,
    catalog: wrap(catalog),
    partitions: async () => new Set(),
    commitIntervalMs: 150,
    commitTimeoutMs: 300,
    log: (line) => logs.push(line),
  });
  defer(t, () => coordinator.close());
  await coordinator.start();

  const publish = async (...events: ControlEvent[]) => {
    await producer.send({
      messages: events.map((event) => ({
        topic: controlTopic,
        key: sinkId,
        value: encodeControlEvent(event),
      })),
    });
  };
  const written = (round: string, worker: string, table: TableIdentifier, file: DataFile): ControlEvent => ({
    type: "data-written",
    sinkId,
    round,
    worker,
    table,
    dataFiles: [{ file, specId: 0 }],
    deleteFiles: [],
    referencedDataFiles: [],
    equalityFallback: [],
  });
  const complete = (round: string, worker: string): ControlEvent => ({
    type: "data-complete",
    sinkId,
    round,
    worker,
    partitions: [],
  });
  const file = (table: TableIdentifier) => dataFile(tables.get(table.name)!.metadata.location, 1);
  /** Every data file entry live in the table, with repeats. */
  const files = async (table: TableIdentifier) =>
    (await planScan(await catalog.loadTable(table))).tasks.map((task) => task.dataFile.filePath).sort();
  /** The snapshots (ids) whose summary lists the publication. */
  const commitsOf = async (table: TableIdentifier, publication: string) => {
    const loaded = await catalog.loadTable(table);
    return [...ancestorsOf(loaded.metadata, snapshotForRef(loaded.metadata))]
      .filter((s) => (s.summary[SINK_PUBLICATIONS_PROPERTY] ?? "").split(",").includes(publication))
      .map((s) => s.snapshotId);
  };
  const waitFor = async (what: string, check: () => Promise<boolean>) => {
    const deadline = Date.now() + 30_000;
    while (!(await check())) {
      if (Date.now() > deadline)
        assert.fail(`timed out waiting for ${what}; coordinator log:\n${logs.join("\n")}`);
      await sleep(100);
    }
  };
  await waitFor("the election", async () => coordinator.isLeader);
  return { catalog, coordinator, publish, written, complete, file, files, commitsOf, waitFor, logs };
}

test("a publication is committed only once complete, and never after a later one that would pass it", {
  timeout: 90_000,
}, async (t) => {
  const h = await harness(t);
  const p1a = h.file(A);
  const p1b = h.file(B);
  const p2a = h.file(A);
  // P1's files for A and B, then P2 (another worker) complete, then — later — P1's data-complete.
  await h.publish(h.written("r1", "w1", A, p1a), h.written("r1", "w1", B, p1b));
  await h.publish(h.written("r1", "w2", A, p2a), h.complete("r1", "w2"));
  await sleep(1500); // ten commit intervals
  assert.deepEqual(await h.files(A), [], "nothing of A may be committed while P1 is incomplete");
  assert.deepEqual(await h.files(B), [], "nothing of B may be committed while P1 is incomplete");

  await h.publish(h.complete("r1", "w1"));
  await h.waitFor("P1 and P2 in the tables", async () => (await h.files(A)).length >= 2);
  await sleep(500);
  assert.deepEqual(await h.files(A), [p1a.filePath, p2a.filePath].sort(), "each file of A exactly once");
  assert.deepEqual(await h.files(B), [p1b.filePath]);
  // P1's files for A and B landed in one commit each table saw once (one catalog transaction).
  assert.equal((await h.commitsOf(A, "r1/w1")).length, 1);
  assert.equal((await h.commitsOf(B, "r1/w1")).length, 1);
});

test("a coordinator whose commit conflicts with another's commit of the same events stages again", {
  timeout: 90_000,
}, async (t) => {
  // Before the first commit the coordinator sends goes through, "another coordinator" of the sink (a
  // zombie finishing its round) commits the same publications — its own snapshot of the same files with
  // the same sink summary. The coordinator's commit then conflicts and is retried.
  const published = new Map<string, DataFile[]>();
  let raced = false;
  const h = await harness(
    t,
    (catalog) =>
      new Proxy(catalog, {
        get(target, property, receiver) {
          const value = Reflect.get(target, property, receiver);
          if (typeof value !== "function") return value;
          if (property !== "commitTable" && property !== "commitTransaction") return value.bind(target);
          return async (...args: unknown[]) => {
            if (!raced) {
              raced = true;
              const requests = (Array.isArray(args[0]) ? args[0] : [args[0]]) as CommitTableRequest[];
              const theirs: CommitTableRequest[] = [];
              for (const request of requests) {
                const added = request.updates.find((u) => u.action === "add-snapshot");
                const summary: Record<string, string> =
                  added?.action === "add-snapshot" ? added.snapshot.summary : {};
                const delta = new RowDelta(target, await target.loadTable(request.identifier));
                for (const file of published.get(request.identifier.name) ?? []) delta.addRows(file, 0);
                for (const [key, v] of Object.entries(summary))
                  if (key.startsWith("floe.sink.")) delta.set(key, v);
                const prepared = await delta.prepare();
                theirs.push({ identifier: request.identifier, ...prepared });
              }
              await target.commitTransaction(theirs);
            }
            return value.apply(target, args);
          };
        },
      }),
  );
  const a1 = h.file(A);
  const b1 = h.file(B);
  published.set("a", [a1]);
  published.set("b", [b1]);
  await h.publish(h.written("r1", "w1", A, a1), h.written("r1", "w1", B, b1), h.complete("r1", "w1"));
  await h.waitFor("the round in the tables", async () => (await h.files(B)).length >= 1);
  const a2 = h.file(A);
  await h.publish(h.written("r2", "w1", A, a2), h.complete("r2", "w1"));
  await h.waitFor("the next round", async () => (await h.files(A)).length >= 2);
  await sleep(500);
  assert.ok(raced);
  assert.deepEqual(await h.files(A), [a1.filePath, a2.filePath].sort(), "each file of A exactly once");
  assert.deepEqual(await h.files(B), [b1.filePath], "each file of B exactly once");
  assert.equal((await h.commitsOf(A, "r1/w1")).length, 1);
  assert.ok(
    h.logs.some((line) => /another coordinator of this sink committed/.test(line)),
    h.logs.join("\n"),
  );
});
