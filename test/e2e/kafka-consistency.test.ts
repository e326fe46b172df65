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
import { parseLsn } from "../../src/capture/lsn.ts";
import type { LoadedTable } from "../../src/catalog/catalog.ts";
import { readTable } from "../../src/iceberg/reader.ts";
import { ancestorsOf, snapshotForRef } from "../../src/iceberg/table-metadata.ts";
import { KafkaCapture } from "../../src/kafka/kafka-capture.ts";
import { createDebeziumDecoder } from "../../src/sink/kafka/decode.ts";
import { type KafkaSink, startKafkaSink } from "../../src/sink/kafka/sink.ts";
import { SOURCE_LSN_PROPERTY } from "../../src/sink/position.ts";
import { waitForEquality } from "../helpers/equality.ts";
import { defer, uniqueName } from "../helpers/services.ts";
import { localWarehouse } from "../helpers/tables.ts";
import { captureFixture } from "../services/kafka/helpers.ts";

const ACCOUNTS = 20;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The newest snapshot of main whose recorded source LSN is at or before `cut`. */
function snapshotAtCut(table: LoadedTable, cut: bigint): bigint | undefined {
  for (const snapshot of ancestorsOf(table.metadata, snapshotForRef(table.metadata))) {
    const lsn = snapshot.summary[SOURCE_LSN_PROPERTY];
    if (lsn !== undefined && parseLsn(lsn) <= cut) return snapshot.snapshotId;
  }
  return undefined;
}

test("Kafka sink, transaction-consistent mode: a reader never sees half of a multi-table transaction", {
  timeout: 240_000,
}, async (t) => {
  const fixture = await captureFixture(
    t,
    `create table accounts (id integer primary key, balance bigint not null);
     create table ledger (id bigserial primary key, account integer not null, amount bigint not null);`,
  );
  const { catalog } = localWarehouse(t);
  const capture = await KafkaCapture.open(
    fixture.settings({ "snapshot.mode": "never", "topic.creation.default.partitions": 3 }),
  );
  defer(t, () => capture.stop());
  await capture.start();
  // The opening balances and their ledger rows: one transaction, after the slot exists.
  await fixture.sql.query(`begin;
    insert into accounts select i, 1000 from generate_series(1, ${ACCOUNTS}) i;
    insert into ledger (account, amount) select i, 1000 from generate_series(1, ${ACCOUNTS}) i;
    commit;`);

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
      const from = 1 + (i % ACCOUNTS);
      const to = 1 + ((i * 7 + 3) % ACCOUNTS);
      const amount = 1 + (i % 13);
      await fixture.sql.query("begin");
      await fixture.sql.query("update accounts set balance = balance - $2 where id = $1", [from, amount]);
      await fixture.sql.query("insert into ledger (account, amount) values ($1, $2)", [from, -amount]);
      await fixture.sql.query("update accounts set balance = balance + $2 where id = $1", [to, amount]);
      await fixture.sql.query("insert into ledger (account, amount) values ($1, $2)", [to, amount]);
      await fixture.sql.query("commit");
      transfers++;
      if (i % 5 === 0) await sleep(2);
    }
  })();

  const accountsId = { namespace: ["bank"], name: "accounts" };
  const ledgerId = { namespace: ["bank"], name: "ledger" };
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
      if (!(await catalog.tableExists(accountsId)) || !(await catalog.tableExists(ledgerId))) continue;
      // Accounts first, ledger second: the ledger is at least as new, so it has every snapshot up to the cut.
      const accounts = await catalog.loadTable(accountsId);
      const ledger = await catalog.loadTable(ledgerId);
      const cutText = ancestorsOf(accounts.metadata, snapshotForRef(accounts.metadata))
        .map((s) => s.summary[SOURCE_LSN_PROPERTY])
        .find((p) => p !== undefined);
      if (cutText === undefined || cuts.has(cutText)) continue;
      const cut = parseLsn(cutText);
      const ledgerSnapshot = snapshotAtCut(ledger, cut);
      assert.ok(ledgerSnapshot !== undefined, `the ledger has no snapshot at or before ${cutText}`);
      const balances = new Map<number, bigint>();
      for (const row of await readTable(accounts)) balances.set(Number(row.id), BigInt(String(row.balance)));
      const sums = new Map<number, bigint>();
      for (const row of await readTable(ledger, { snapshotId: ledgerSnapshot })) {
        const account = Number(row.account);
        sums.set(account, (sums.get(account) ?? 0n) + BigInt(String(row.amount)));
      }
      assert.equal(balances.size, ACCOUNTS, `at ${cutText}: every opening balance`);
      for (const [account, balance] of balances) {
        assert.equal(sums.get(account), balance, `at ${cutText}: account ${account}'s balance vs its ledger`);
      }
      cuts.add(cutText);
    }
  } finally {
    writing = false;
    await workload;
  }
  await waitForEquality(
    fixture.sql,
    catalog,
    {
      accounts: "select id::text as id, balance::text as balance from accounts",
      ledger: "select id::text as id, account::text as account, amount::text as amount from ledger",
    },
    { namespace: ["bank"], timeoutMs: 90_000, debug: () => logs.slice(-40).join("\n") },
  );
  assert.ok(transfers > 100, `${transfers} transfers`);
  assert.ok(cuts.size >= 10, `only ${cuts.size} distinct cuts were checked`);
  t.diagnostic(`${transfers} transfers; ${cuts.size} cuts checked, each consistent`);
});
