/**
 * The bank workload of the transaction-consistency tests: every PostgreSQL transaction moves money
 * between two accounts AND writes the two ledger rows, across two tables, so at any consistent point
 * every account's balance equals the sum of its ledger rows. {@link checkBankCut} reads the Iceberg
 * tables the way a consistency-aware reader does — at the commit LSN they record — and asserts that.
 */
import assert from "node:assert/strict";
import type pg from "pg";
import { parseLsn } from "../../src/capture/lsn.ts";
import type { Catalog, LoadedTable, Namespace } from "../../src/catalog/catalog.ts";
import { readTable } from "../../src/iceberg/reader.ts";
import { ancestorsOf, snapshotForRef } from "../../src/iceberg/table-metadata.ts";
import { SOURCE_LSN_PROPERTY } from "../../src/sink/position.ts";

export const ACCOUNTS = 20;

export const BANK_DDL = `
  create table accounts (id integer primary key, balance bigint not null);
  create table ledger (id bigserial primary key, account integer not null, amount bigint not null);`;

/** The opening balances and their ledger rows, in one transaction. */
export const BANK_OPENING = `begin;
  insert into accounts select i, 1000 from generate_series(1, ${ACCOUNTS}) i;
  insert into ledger (account, amount) select i, 1000 from generate_series(1, ${ACCOUNTS}) i;
  commit;`;

/** PostgreSQL queries whose rows the Iceberg tables must end up holding. */
export const BANK_TABLES = {
  accounts: "select id::text as id, balance::text as balance from accounts",
  ledger: "select id::text as id, account::text as account, amount::text as amount from ledger",
};

/** Transfer number `i`: one transaction over both tables. */
export async function transfer(client: pg.Client, i: number): Promise<void> {
  const from = 1 + (i % ACCOUNTS);
  const to = 1 + ((i * 7 + 3) % ACCOUNTS);
  const amount = 1 + (i % 13);
  await client.query("begin");
  await client.query("update accounts set balance = balance - $2 where id = $1", [from, amount]);
  await client.query("insert into ledger (account, amount) values ($1, $2)", [from, -amount]);
  await client.query("update accounts set balance = balance + $2 where id = $1", [to, amount]);
  await client.query("insert into ledger (account, amount) values ($1, $2)", [to, amount]);
  await client.query("commit");
}

/** The newest snapshot of main whose recorded source LSN is at or before `cut` (any, without a cut). */
function snapshotAtCut(table: LoadedTable, cut?: bigint): { id: bigint; lsn: string } | undefined {
  for (const snapshot of ancestorsOf(table.metadata, snapshotForRef(table.metadata))) {
    const lsn = snapshot.summary[SOURCE_LSN_PROPERTY];
    if (lsn !== undefined && (cut === undefined || parseLsn(lsn) <= cut))
      return { id: snapshot.snapshotId, lsn };
  }
  return undefined;
}

/**
 * Picks a cut — the accounts table's newest recorded commit LSN — and reads accounts there and the
 * ledger at its newest snapshot not past it; asserts every balance equals its ledger sum. Returns the
 * cut, or undefined while the tables have none. Accounts are loaded first: the ledger, loaded after, has
 * every snapshot up to the cut.
 */
export async function checkBankCut(catalog: Catalog, namespace: Namespace): Promise<string | undefined> {
  const accountsId = { namespace, name: "accounts" };
  const ledgerId = { namespace, name: "ledger" };
  if (!(await catalog.tableExists(accountsId)) || !(await catalog.tableExists(ledgerId))) return undefined;
  const accounts = await catalog.loadTable(accountsId);
  const ledger = await catalog.loadTable(ledgerId);
  const at = snapshotAtCut(accounts);
  if (!at) return undefined;
  const ledgerAt = snapshotAtCut(ledger, parseLsn(at.lsn));
  assert.ok(ledgerAt !== undefined, `the ledger has no snapshot at or before ${at.lsn}`);
  const balances = new Map<number, bigint>();
  for (const row of await readTable(accounts, { snapshotId: at.id }))
    balances.set(Number(row.id), BigInt(String(row.balance)));
  const sums = new Map<number, bigint>();
  for (const row of await readTable(ledger, { snapshotId: ledgerAt.id })) {
    const account = Number(row.account);
    sums.set(account, (sums.get(account) ?? 0n) + BigInt(String(row.amount)));
  }
  assert.equal(balances.size, ACCOUNTS, `at ${at.lsn}: every opening balance`);
  for (const [account, balance] of balances) {
    assert.equal(sums.get(account), balance, `at ${at.lsn}: account ${account}'s balance vs its ledger`);
  }
  return at.lsn;
}
