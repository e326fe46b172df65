// Transaction consistency in direct mode: every PostgreSQL transaction moves money between two accounts
// AND writes the two ledger rows, across two tables. `floe replicate` commits each round's tables in one
// catalog transaction at a transaction boundary, recording the source position in each snapshot. A
// reader polling during the workload picks a cut — the accounts table's latest position — and reads
// the ledger at its newest snapshot not past that cut: every account's balance must equal the sum of
// its ledger rows at every such cut. A round that split a transaction, or tables committed one after
// the other, shows up as a balance without its ledger rows (or the reverse).
import assert from "node:assert/strict";
import { test } from "node:test";
import pg from "pg";
import { parseLsn } from "../../src/capture/lsn.ts";
import type { LoadedTable } from "../../src/catalog/catalog.ts";
import { readTable } from "../../src/iceberg/reader.ts";
import { ancestorsOf, snapshotForRef } from "../../src/iceberg/table-metadata.ts";
import { startReplication } from "../../src/replicate/run.ts";
import { SOURCE_LSN_PROPERTY } from "../../src/sink/position.ts";
import { createTestDatabase, defer, uniqueName } from "../helpers/services.ts";
import { localWarehouse } from "../helpers/tables.ts";

const ACCOUNTS = 20;

/**
 * The newest snapshot of main whose recorded source LSN — the commit LSN of the last PostgreSQL
 * transaction it includes, the same for every table of a round — is at or before `cut`.
 */
function snapshotAtCut(table: LoadedTable, cut: bigint): bigint | undefined {
  for (const snapshot of ancestorsOf(table.metadata, snapshotForRef(table.metadata))) {
    const lsn = snapshot.summary[SOURCE_LSN_PROPERTY];
    if (lsn !== undefined && parseLsn(lsn) <= cut) return snapshot.snapshotId;
  }
  return undefined;
}

test("direct mode: a reader never sees half of a multi-table transaction", {
  timeout: 180_000,
}, async (t) => {
  const { catalog } = localWarehouse(t);
  const pgUrl = await createTestDatabase(t);
  const sql = new pg.Client({ connectionString: pgUrl });
  await sql.connect();
  defer(t, () => sql.end());
  await sql.query(`
    create table accounts (id integer primary key, balance bigint not null);
    create table ledger (id bigserial primary key, account integer not null, amount bigint not null);
    insert into accounts select i, 1000 from generate_series(1, ${ACCOUNTS}) i;
    insert into ledger (account, amount) select i, 1000 from generate_series(1, ${ACCOUNTS}) i;
  `);
  const slot = uniqueName("floe_consistency");
  defer(t, async () => {
    await sql.query(
      "select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = $1 and not active",
      [slot],
    );
  });
  const replication = await startReplication({
    pgUrl,
    catalog,
    namespace: ["bank"],
    slotName: slot,
    publicationName: slot,
    commitIntervalMs: 100,
  });
  let stopped = false;
  defer(t, async () => {
    if (!stopped) await replication.stop();
  });

  let writing = true;
  let transfers = 0;
  const workload = (async () => {
    const client = new pg.Client({ connectionString: pgUrl });
    await client.connect();
    try {
      for (let i = 0; writing; i++) {
        const from = 1 + (i % ACCOUNTS);
        const to = 1 + ((i * 7 + 3) % ACCOUNTS);
        const amount = 1 + (i % 13);
        await client.query("begin");
        await client.query("update accounts set balance = balance - $2 where id = $1", [from, amount]);
        await client.query("insert into ledger (account, amount) values ($1, $2)", [from, -amount]);
        await client.query("update accounts set balance = balance + $2 where id = $1", [to, amount]);
        await client.query("insert into ledger (account, amount) values ($1, $2)", [to, amount]);
        await client.query("commit");
        transfers++;
        if (i % 5 === 0) await new Promise((resolve) => setTimeout(resolve, 2));
      }
    } finally {
      await client.end();
    }
  })();

  const accountsId = { namespace: ["bank"], name: "accounts" };
  const ledgerId = { namespace: ["bank"], name: "ledger" };
  const cuts = new Set<string>();
  const deadline = Date.now() + 12_000;
  try {
    while (Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
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
      assert.ok(ledgerSnapshot !== undefined, `the ledger has no snapshot at or before ${cut}`);
      const balances = new Map<number, bigint>();
      for (const row of await readTable(accounts)) balances.set(Number(row.id), BigInt(String(row.balance)));
      const sums = new Map<number, bigint>();
      for (const row of await readTable(ledger, { snapshotId: ledgerSnapshot })) {
        const account = Number(row.account);
        sums.set(account, (sums.get(account) ?? 0n) + BigInt(String(row.amount)));
      }
      assert.equal(balances.size, ACCOUNTS);
      for (const [account, balance] of balances) {
        assert.equal(sums.get(account), balance, `at ${cutText}: account ${account}'s balance vs its ledger`);
      }
      cuts.add(cutText);
    }
  } finally {
    writing = false;
    await workload;
  }
  assert.ok(transfers > 100, `${transfers} transfers`);
  assert.ok(cuts.size >= 5, `only ${cuts.size} distinct cuts were checked`);
  t.diagnostic(`${transfers} transfers; ${cuts.size} cuts checked, each consistent`);
  stopped = true;
  await replication.stop();
});
