// Transaction consistency through Kafka: PostgreSQL → `KafkaCapture` (table topics with 3 partitions +
// the one-partition transaction topic) → two `floe sink` workers in transaction-consistent mode
// (`transactionTopic`) → Iceberg. Every PostgreSQL transaction moves money between two accounts AND
// writes the two ledger rows, across two tables, so a transaction's events are spread over both topics,
// several partitions and both workers. A reader polling during the workload takes a cut — the accounts
// table's latest `floe.source.lsn` — and reads the ledger at its newest snapshot not past that cut:
// every account's balance must equal the sum of its ledger rows at every cut. Half of a transaction in
// a commit (a worker writing its part before the other worker read theirs) shows up as a balance
// without its ledger rows, or the reverse. Midway one worker leaves (its partitions, and the changes it
// held back, move to the other), and at the end both tables equal PostgreSQL row for row.
import assert from "node:assert/strict";
import { test } from "node:test";
import { KafkaCapture } from "../../src/kafka/kafka-capture.ts";
import { createDebeziumDecoder } from "../../src/sink/kafka/decode.ts";
import { type KafkaSink, startKafkaSink } from "../../src/sink/kafka/sink.ts";
import { BANK_DDL, BANK_OPENING, BANK_TABLES, checkBankCut, transfer } from "../helpers/bank.ts";
import { waitForEquality } from "../helpers/equality.ts";
import { defer, uniqueName } from "../helpers/services.ts";
import { localWarehouse } from "../helpers/tables.ts";
import { captureFixture } from "../services/kafka/helpers.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test("Kafka sink, transaction-consistent mode: a reader never sees half of a multi-table transaction", {
  timeout: 240_000,
}, async (t) => {
  const fixture = await captureFixture(t, BANK_DDL);
  const { catalog } = localWarehouse(t);
  const capture = await KafkaCapture.open(
    fixture.settings({ "snapshot.mode": "never", "topic.creation.default.partitions": 3 }),
  );
  defer(t, () => capture.stop());
  await capture.start();
  await fixture.sql.query(BANK_OPENING); // after the slot exists (snapshot.mode never)

  const topics = ["accounts", "ledger"].map((table) => `${fixture.prefix}.public.${table}`);
  const sinkId = uniqueName("floe-sink");
  const logs: string[] = [];
  const start = async (workerId: string) => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await startKafkaSink({
          sinkId,
          brokers: fixture.brokers,
          topics,
          controlTopic: `${fixture.prefix}.control`,
          transactionTopic: `${fixture.prefix}.transaction`,
          catalog,
          namespace: ["bank"],
          decode: createDebeziumDecoder(),
          commitIntervalMs: 300,
          commitTimeoutMs: 2000,
          workerId,
          log: (line) => logs.push(`${workerId}: ${line}`),
        });
      } catch (error) {
        // The capture creates the topics with the first transaction's events.
        if (attempt > 50) throw error;
        await sleep(200);
      }
    }
  };
  const sinks: KafkaSink[] = [];
  defer(t, async () => {
    for (const sink of sinks) await sink.close();
  });
  sinks.push(await start("w1"), await start("w2"));

  let writing = true;
  let transfers = 0;
  const workload = (async () => {
    for (let i = 0; writing; i++) {
      await transfer(fixture.sql, i);
      transfers++;
      if (i % 5 === 0) await sleep(2);
    }
  })();

  const cuts = new Set<string>();
  const started = Date.now();
  let left = false;
  try {
    while (Date.now() - started < 25_000) {
      await sleep(100);
      if (!left && Date.now() - started > 10_000) {
        left = true; // one worker leaves: its partitions and held changes move to the other
        await sinks.pop()?.close();
      }
      const cut = await checkBankCut(catalog, ["bank"]);
      if (cut !== undefined) cuts.add(cut);
    }
  } finally {
    writing = false;
    await workload;
  }
  await waitForEquality(fixture.sql, catalog, BANK_TABLES, {
    namespace: ["bank"],
    timeoutMs: 90_000,
    debug: () => logs.slice(-40).join("\n"),
  });
  assert.ok(transfers > 100, `${transfers} transfers`);
  assert.ok(cuts.size >= 10, `only ${cuts.size} distinct cuts were checked`);
  t.diagnostic(`${transfers} transfers; ${cuts.size} cuts checked, each consistent`);
});
