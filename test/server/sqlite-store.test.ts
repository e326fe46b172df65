import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { CatalogError } from "../../src/catalog/errors.ts";
import { ServerError } from "../../src/server/errors.ts";
import { SqliteServerStore } from "../../src/server/store/sqlite-store.ts";

const isCode = (code: string) => (e: unknown) =>
  (e instanceof CatalogError || e instanceof ServerError) && e.code === code;

function openStore(t: { after(fn: () => void): void }) {
  const dir = mkdtempSync(join(tmpdir(), "floe-sqlite-"));
  const path = join(dir, "nested", "catalog.db");
  const stores: SqliteServerStore[] = [];
  const open = () => {
    const store = new SqliteServerStore({ path });
    stores.push(store);
    return store;
  };
  t.after(() => {
    for (const s of stores) s.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { open, path };
}

const bucket = (name: string) => ({
  name,
  arn: `arn:aws:s3tables:us-east-1:000000000000:bucket/${name}`,
  storage: `file:///tmp/${name}`,
  createdAt: "2026-01-01T00:00:00.000Z",
});

test("buckets: create, find by name or ARN, list, usage, delete; WAL mode", async (t) => {
  const { open } = openStore(t);
  const store = open();
  assert.equal(store.db.pragma("journal_mode", { simple: true }), "wal");
  await store.createBucket(bucket("b"));
  await store.createBucket(bucket("a"));
  await assert.rejects(store.createBucket(bucket("a")), isCode("BUCKET_ALREADY_EXISTS"));
  assert.deepEqual(await store.getBucket("a"), bucket("a"));
  assert.deepEqual(await store.getBucket(bucket("b").arn), bucket("b"));
  assert.equal(await store.getBucket("c"), undefined);
  assert.deepEqual(
    (await store.listBuckets()).map((b) => b.name),
    ["a", "b"],
  );
  await store.catalogStore("a").createNamespace(["ns"], {});
  assert.deepEqual(await store.bucketUsage("a"), { namespaces: 1, tables: 0 });
  await store.deleteBucket("b");
  assert.deepEqual(
    (await store.listBuckets()).map((b) => b.name),
    ["a"],
  );
});

test("catalog store: namespaces and tables are per bucket; constraints map to catalog codes", async (t) => {
  const { open } = openStore(t);
  const store = open();
  await store.createBucket(bucket("a"));
  await store.createBucket(bucket("b"));
  const a = store.catalogStore("a");
  const b = store.catalogStore("b");
  await a.createNamespace(["ns"], { k: "v" });
  await a.createNamespace(["ns", "child"], {});
  await b.createNamespace(["ns"], {});
  await assert.rejects(a.createNamespace(["ns"], {}), isCode("ALREADY_EXISTS"));
  assert.deepEqual(await a.listNamespaces(), [["ns"]]);
  assert.deepEqual(await a.listNamespaces(["ns"]), [["ns", "child"]]);
  assert.deepEqual(await a.getNamespace(["ns"]), { k: "v" });
  await a.setNamespaceProperties(["ns"], { k2: "v2" });
  assert.deepEqual(await a.getNamespace(["ns"]), { k2: "v2" });
  await assert.rejects(a.setNamespaceProperties(["zz"], {}), isCode("NO_SUCH_NAMESPACE"));

  const t1 = { namespace: ["ns"], name: "t1" };
  await a.createTable(t1, "file:///m/0.json");
  await assert.rejects(a.createTable(t1, "file:///m/x.json"), isCode("ALREADY_EXISTS"));
  await assert.rejects(a.createTable({ namespace: ["zz"], name: "t" }, "x"), isCode("NO_SUCH_NAMESPACE"));
  assert.equal(await b.getTable(t1), undefined, "bucket b does not see bucket a's table");
  assert.deepEqual(await a.listTables(["ns"]), [t1]);
  await assert.rejects(a.dropNamespace(["ns"]), isCode("NAMESPACE_NOT_EMPTY"));

  const renamed = { namespace: ["ns", "child"], name: "t2" };
  await a.renameTable(t1, renamed);
  assert.equal(await a.getTable(t1), undefined);
  assert.equal(await a.getTable(renamed), "file:///m/0.json");
  await assert.rejects(a.renameTable(t1, renamed), isCode("NO_SUCH_TABLE"));
  await a.dropTable(renamed);
  assert.equal(await a.getTable(renamed), undefined);
});

test("swapPointers: all tables or none, compare-and-swap, version counts commits, across connections", async (t) => {
  const { open } = openStore(t);
  const store = open();
  await store.createBucket(bucket("a"));
  const a = store.catalogStore("a");
  await a.createNamespace(["ns"], {});
  const x = { namespace: ["ns"], name: "x" };
  const y = { namespace: ["ns"], name: "y" };
  await a.createTable(x, "x0");
  await a.createTable(y, "y0");
  assert.equal(
    await a.swapPointers([
      { identifier: x, expected: "x0", next: "x1" },
      { identifier: y, expected: "stale", next: "y1" },
    ]),
    false,
  );
  assert.equal(await a.getTable(x), "x0", "the first swap was rolled back");
  assert.equal(await a.getTable(y), "y0");
  assert.equal(
    await a.swapPointers([
      { identifier: x, expected: "x0", next: "x1" },
      { identifier: y, expected: "y0", next: "y1" },
    ]),
    true,
  );
  assert.equal(
    await a.swapPointers([{ identifier: { namespace: ["ns"], name: "gone" }, expected: "", next: "z" }]),
    false,
  );
  const version = store.db.prepare("SELECT version FROM tables WHERE name = 'x'").get() as {
    version: number;
  };
  assert.equal(version.version, 2);

  // A second connection to the same file (another process, e.g. `floe bucket`) sees committed state
  // and loses a race against the first.
  const other = open().catalogStore("a");
  assert.equal(await other.getTable(x), "x1");
  assert.equal(await other.swapPointers([{ identifier: x, expected: "x1", next: "x2" }]), true);
  assert.equal(await a.swapPointers([{ identifier: x, expected: "x1", next: "x3" }]), false);
  assert.equal(await a.getTable(x), "x2");
});

test("the store survives reopening", async (t) => {
  const { open } = openStore(t);
  const first = open();
  await first.createBucket(bucket("a"));
  await first.catalogStore("a").createNamespace(["ns"], {});
  await first.close();
  const second = open();
  assert.deepEqual(
    (await second.listBuckets()).map((b) => b.name),
    ["a"],
  );
  assert.deepEqual(await second.catalogStore("a").listNamespaces(), [["ns"]]);
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
