// The PostgreSQL store against the development PostgreSQL: the shared store contract
// (test/server/store-contract.ts) on a fresh database per test, plus what only this store has.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import pg from "pg";
import { CliError, loadSettings, serveEnv, serveSettingsSchema } from "../../src/cli/config.ts";
import { openTableBuckets } from "../../src/server/server.ts";
import { PostgresServerStore, redactUrl } from "../../src/server/store/postgres-store.ts";
import { SqliteServerStore } from "../../src/server/store/sqlite-store.ts";
import { createTestDatabase, defer } from "../helpers/services.ts";
import { bucket, isCode, storeContract } from "../server/store-contract.ts";

async function openStore(t: { after(fn: () => unknown): void }) {
  const url = await createTestDatabase(t, "floe_store");
  const open = () => {
    const store = new PostgresServerStore({ url });
    // Closed before the database is dropped (defer unwinds last-registered first).
    defer(t, () => store.close());
    return store;
  };
  return { open, url };
}

storeContract("postgres", async (t) => openStore(t));

test("postgres: replicas opening one new database at once create the schema once", async (t) => {
  const { open, url } = await openStore(t);
  const stores = Array.from({ length: 4 }, () => open());
  await Promise.all(stores.map((s) => s.ping()));
  await stores[0]?.createBucket(bucket("a"));
  assert.deepEqual(
    (await stores[3]?.listBuckets())?.map((b) => b.name),
    ["a"],
  );
  const sql = new pg.Client({ connectionString: url });
  await sql.connect();
  defer(t, () => sql.end());
  const { rows } = await sql.query<{ value: string }>(
    "SELECT value FROM floe_catalog.meta WHERE key = 'schema'",
  );
  assert.deepEqual(rows, [{ value: "1" }]);
});

test("postgres: a newer schema or an unreachable server is STORE_FAILED, without the password", async (t) => {
  const { open, url } = await openStore(t);
  await open().ping();
  const sql = new pg.Client({ connectionString: url });
  await sql.connect();
  defer(t, () => sql.end());
  await sql.query("UPDATE floe_catalog.meta SET value = '99' WHERE key = 'schema'");
  await assert.rejects(open().ping(), isCode("STORE_FAILED"));

  const unreachable = new PostgresServerStore({ url: "postgres://floe:secret@127.0.0.1:1/none" });
  defer(t, () => unreachable.close());
  await assert.rejects(unreachable.ping(), (e: unknown) => {
    assert.ok(isCode("STORE_FAILED")(e));
    assert.doesNotMatch(String((e as Error).message), /secret/);
    return true;
  });
  assert.equal(redactUrl("postgres://u:p@h:1/d"), "postgres://u@h:1/d");
});

test("settings: FLOE_CATALOG_STORE / --catalog-store select the PostgreSQL store; SQLite stays the default", async (t) => {
  const url = await createTestDatabase(t, "floe_store");
  const fromEnv = loadSettings(serveSettingsSchema, serveEnv, {
    flags: {},
    env: { FLOE_CATALOG_STORE: url },
  });
  assert.equal(fromEnv.catalogStore, url);
  const fromFlag = loadSettings(serveSettingsSchema, serveEnv, {
    flags: { catalogStore: "postgresql://other/db" },
    env: { FLOE_CATALOG_STORE: url },
  });
  assert.equal(fromFlag.catalogStore, "postgresql://other/db");
  assert.throws(
    () =>
      loadSettings(serveSettingsSchema, serveEnv, { flags: { catalogStore: "/tmp/catalog.db" }, env: {} }),
    (e: unknown) => e instanceof CliError && /catalog store/.test(e.message),
  );
  assert.equal(loadSettings(serveSettingsSchema, serveEnv, { flags: {}, env: {} }).catalogStore, undefined);

  const dataDir = mkdtempSync(join(tmpdir(), "floe-store-select-"));
  defer(t, () => rmSync(dataDir, { recursive: true, force: true }));
  const shared = openTableBuckets({ dataDir, catalogStore: url });
  defer(t, () => shared.store.close());
  assert.ok(shared.store instanceof PostgresServerStore);
  await shared.create("sel");
  const local = openTableBuckets({ dataDir });
  defer(t, () => local.store.close());
  assert.ok(local.store instanceof SqliteServerStore);
  assert.deepEqual(await local.list(), [], "the SQLite file does not see the PostgreSQL catalog");
});
