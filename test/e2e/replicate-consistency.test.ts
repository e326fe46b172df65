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
import { startReplication } from "../../src/replicate/run.ts";
import { BANK_DDL, BANK_OPENING, checkBankCut, transfer } from "../helpers/bank.ts";
import { createTestDatabase, defer, uniqueName } from "../helpers/services.ts";
import { localWarehouse } from "../helpers/tables.ts";

test("direct mode: a reader never sees half of a multi-table transaction", {
  timeout: 180_000,
}, async (t) => {
  const { catalog } = localWarehouse(t);
  const pgUrl = await createTestDatabase(t);
  const sql = new pg.Client({ connectionString: pgUrl });
  await sql.connect();
  defer(t, () => sql.end());
  await sql.query(BANK_DDL);
  await sql.query(BANK_OPENING);
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
        await transfer(client, i);
        transfers++;
        if (i % 5 === 0) await new Promise((resolve) => setTimeout(resolve, 2));
      }
    } finally {
      await client.end();
    }
  })();

  const cuts = new Set<string>();
  const deadline = Date.now() + 12_000;
  try {
    while (Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      const cut = await checkBankCut(catalog, ["bank"]);
      if (cut !== undefined) cuts.add(cut);
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
