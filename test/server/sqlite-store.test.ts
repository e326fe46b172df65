// The SQLite store: the shared store contract (store-contract.ts) on a file, plus what only SQLite has
// (WAL mode, the schema 1 → 2 migration of files written before the S3 Tables API).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { SqliteServerStore } from "../../src/server/store/sqlite-store.ts";
import { bucket, storeContract } from "./store-contract.ts";

function openStore(t: { after(fn: () => unknown): void }) {
  const dir = mkdtempSync(join(tmpdir(), "floe-sqlite-"));
  const path = join(dir, "nested", "catalog.db");
  const stores: SqliteServerStore[] = [];
  const open = () => {
    const store = new SqliteServerStore({ path });
    stores.push(store);
    return store;
  };
  t.after(async () => {
    for (const s of stores) await s.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { open, path };
}

storeContract("sqlite", async (t) => openStore(t));

test("sqlite: the file is in WAL mode and counts versions in the tables row", async (t) => {
  const { open } = openStore(t);
  const store = open();
  assert.equal(store.db.pragma("journal_mode", { simple: true }), "wal");
  await store.createBucket(bucket("a"));
  const a = store.catalogStore("a");
  await a.createNamespace(["ns"], {});
  await a.createTable({ namespace: ["ns"], name: "x" }, "x0");
  assert.equal(
    await a.swapPointers([{ identifier: { namespace: ["ns"], name: "x" }, expected: "x0", next: "x1" }]),
    true,
  );
  const version = store.db.prepare("SELECT version FROM tables WHERE name = 'x'").get() as {
    version: number;
  };
  assert.equal(version.version, 2);
});

test("schema 1 → 2: a file from before the S3 Tables API gets table ids and namespace times", async (t) => {
  const { open } = openStore(t);
  const first = open();
  await first.createBucket(bucket("b"));
  await first.catalogStore("b").createNamespace(["ns"], {});
  await first
    .catalogStore("b")
    .createTable({ namespace: ["ns"], name: "t" }, "file:///tmp/b/t/metadata/1.json");
  // Turn it back into a schema-1 file: no table_id / created_at values, user_version 1.
  first.db.exec("UPDATE tables SET table_id = NULL; UPDATE namespaces SET created_at = NULL");
  first.db.exec("DROP INDEX tables_by_id; DROP TABLE resource_attributes");
  first.db.pragma("user_version = 1");
  await first.close();
  const second = open();
  assert.equal(second.db.pragma("user_version", { simple: true }), 2);
  const table = await second.getTableRecord("b", ["ns"], "t");
  assert.match(table?.tableId ?? "", /^[0-9a-f]{32}$/);
  assert.ok((await second.getNamespaceRecord("b", ["ns"]))?.createdAt);
  assert.equal(await second.swapTableVersion("b", table?.tableId ?? "", 2, "file:///x"), false);
  assert.equal(
    await second.swapTableVersion("b", table?.tableId ?? "", 1, "file:///tmp/b/t/metadata/2.json"),
    true,
  );
  assert.equal((await second.getTableRecord("b", ["ns"], "t"))?.version, 2);
  await second.updateResourceAttributes("arn:b", "tag", { a: "1", b: "2" });
  await second.updateResourceAttributes("arn:b/table/x", "tag", { c: "3" });
  await second.updateResourceAttributes("arn:b", "tag", { b: undefined });
  assert.deepEqual(await second.getResourceAttributes("arn:b", "tag"), { a: "1" });
  await second.deleteResourceAttributes("arn:b");
  assert.deepEqual(await second.getResourceAttributes("arn:b/table/x", "tag"), {});
});
