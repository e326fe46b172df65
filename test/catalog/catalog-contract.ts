/**
 * The behaviour every `Catalog` implementation must share — namespaces, create/load/commit with metadata
 * versions, retries between two writers, failed requirements leaving no orphan, atomic multi-table
 * transactions, rename/register/drop — run against the embedded StoreCatalog and against RestCatalog
 * talking to `floe serve`.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Catalog } from "../../src/catalog/catalog.ts";
import { CatalogError } from "../../src/catalog/errors.ts";
import { FastAppend } from "../../src/iceberg/operations/append.ts";
import { currentSnapshot, metadataFileVersion } from "../../src/iceberg/table-metadata.ts";
import type { FileIO } from "../../src/io/index.ts";
import { dataFile, ordersId, ordersSchema } from "../helpers/tables.ts";

export const isCatalogError = (code: string) => (e: unknown) => e instanceof CatalogError && e.code === code;

export type WarehouseFactory = (t: {
  after(fn: () => unknown): void;
}) => Promise<{ catalog: Catalog; io: FileIO }>;

export function catalogContract(makeWarehouse: WarehouseFactory): void {
  test("namespaces: create, list, properties, and drop only when empty", async (t) => {
    const { catalog } = await makeWarehouse(t);
    await catalog.createNamespace(["shop"], { owner: "data" });
    await catalog.createNamespace(["shop", "eu"]);
    await assert.rejects(catalog.createNamespace(["shop"]), isCatalogError("ALREADY_EXISTS"));
    await assert.rejects(catalog.createNamespace(["nope", "child"]), isCatalogError("NO_SUCH_NAMESPACE"));
    assert.deepEqual(await catalog.listNamespaces(), [["shop"]]);
    assert.deepEqual(await catalog.listNamespaces(["shop"]), [["shop", "eu"]]);
    await catalog.updateNamespaceProperties(["shop"], { tier: "gold" }, ["owner"]);
    assert.deepEqual(await catalog.loadNamespaceProperties(["shop"]), { tier: "gold" });
    await assert.rejects(catalog.dropNamespace(["shop"]), isCatalogError("NAMESPACE_NOT_EMPTY"));
    await catalog.dropNamespace(["shop", "eu"]);
    await catalog.dropNamespace(["shop"]);
    assert.equal(await catalog.namespaceExists(["shop"]), false);
    await assert.rejects(catalog.createNamespace(["bad/name"]), isCatalogError("INVALID_INPUT"));
  });

  test("create, load, commit: metadata files count up and the pointer follows", async (t) => {
    const { catalog, io } = await makeWarehouse(t);
    await catalog.createNamespace(["shop"]);
    const created = await catalog.createTable(ordersId, { schema: ordersSchema, properties: { a: "1" } });
    assert.equal(metadataFileVersion(created.metadataLocation), 0);
    assert.match(created.metadataLocation, /\/metadata\/00000-[0-9a-f-]{36}\.metadata\.json$/);
    await assert.rejects(
      catalog.createTable(ordersId, { schema: ordersSchema }),
      isCatalogError("ALREADY_EXISTS"),
    );
    const appended = await new FastAppend(catalog, created)
      .appendFile(dataFile(created.metadata.location, 10))
      .commit();
    assert.equal(metadataFileVersion(appended.table.metadataLocation), 1);
    const loaded = await catalog.loadTable(ordersId);
    assert.equal(loaded.metadataLocation, appended.table.metadataLocation);
    assert.equal(currentSnapshot(loaded.metadata)?.summary["total-records"], "10");
    // Snapshot ids are 63-bit: they survive the HTTP round trip exactly.
    assert.equal(currentSnapshot(loaded.metadata)?.snapshotId, appended.result.snapshotId);
    assert.deepEqual(
      loaded.metadata.metadataLog.map((e) => e.metadataFile),
      [created.metadataLocation],
    );
    assert.ok(await io.exists(created.metadataLocation), "old metadata stays for time travel");
    assert.deepEqual(await catalog.listTables(["shop"]), [ordersId]);
    assert.equal(await catalog.tableExists(ordersId), true);
    assert.equal(await catalog.tableExists({ namespace: ["shop"], name: "nope" }), false);
    await assert.rejects(
      catalog.loadTable({ namespace: ["shop"], name: "nope" }),
      isCatalogError("NO_SUCH_TABLE"),
    );
  });

  test("two writers from the same base: the loser retries on the new head and both appends land", async (t) => {
    const { catalog } = await makeWarehouse(t);
    await catalog.createNamespace(["shop"]);
    const base = await catalog.createTable(ordersId, { schema: ordersSchema });
    const a = new FastAppend(catalog, base).appendFile(dataFile(base.metadata.location, 1));
    const b = new FastAppend(catalog, base).appendFile(dataFile(base.metadata.location, 2));
    const first = await a.commit();
    const second = await b.commit({ minWaitMs: 1 });
    assert.equal(first.attempts, 1);
    assert.equal(second.attempts, 2);
    const head = currentSnapshot((await catalog.loadTable(ordersId)).metadata);
    assert.equal(head?.summary["total-records"], "3");
    assert.equal(head?.sequenceNumber, 2n);
    assert.equal(head?.parentSnapshotId, first.result.snapshotId);
  });

  test("a failed requirement is COMMIT_FAILED and leaves no orphan metadata file", async (t) => {
    const { catalog, io } = await makeWarehouse(t);
    await catalog.createNamespace(["shop"]);
    const base = await catalog.createTable(ordersId, { schema: ordersSchema });
    await catalog.commitTable({
      identifier: ordersId,
      requirements: [],
      updates: [{ action: "set-properties", updates: { x: "1" } }],
    });
    await assert.rejects(
      catalog.commitTable({
        identifier: ordersId,
        requirements: [{ type: "assert-current-schema-id", currentSchemaId: 5 }],
        updates: [{ action: "set-properties", updates: { y: "1" } }],
      }),
      isCatalogError("COMMIT_FAILED"),
    );
    const files: string[] = [];
    for await (const f of io.list(`${base.metadata.location}/metadata/`)) files.push(f.location);
    assert.equal(files.length, 2, files.join("\n"));
  });

  test("commitTransaction is all-or-nothing across tables", async (t) => {
    const { catalog } = await makeWarehouse(t);
    await catalog.createNamespace(["shop"]);
    const orders = await catalog.createTable(ordersId, { schema: ordersSchema });
    const customersId = { namespace: ["shop"], name: "customers" };
    await catalog.createTable(customersId, { schema: ordersSchema });
    const ordersAppend = await new FastAppend(catalog, orders)
      .appendFile(dataFile(orders.metadata.location, 5))
      .prepare();
    await assert.rejects(
      catalog.commitTransaction([
        { identifier: ordersId, requirements: ordersAppend.requirements, updates: ordersAppend.updates },
        {
          identifier: customersId,
          requirements: [{ type: "assert-ref-snapshot-id", ref: "main", snapshotId: 99n }],
          updates: [{ action: "set-properties", updates: { touched: "yes" } }],
        },
      ]),
      isCatalogError("COMMIT_FAILED"),
    );
    assert.equal(currentSnapshot((await catalog.loadTable(ordersId)).metadata), undefined);
    const both = await catalog.commitTransaction([
      { identifier: ordersId, requirements: ordersAppend.requirements, updates: ordersAppend.updates },
      {
        identifier: customersId,
        requirements: [],
        updates: [{ action: "set-properties", updates: { touched: "yes" } }],
      },
    ]);
    assert.equal(both.length, 2);
    assert.equal(
      currentSnapshot((await catalog.loadTable(ordersId)).metadata)?.summary["total-records"],
      "5",
    );
    assert.equal((await catalog.loadTable(customersId)).metadata.properties.touched, "yes");
  });

  test("rename, register and drop with purge", async (t) => {
    const { catalog, io } = await makeWarehouse(t);
    await catalog.createNamespace(["shop"]);
    const created = await catalog.createTable(ordersId, { schema: ordersSchema });
    const renamed = { namespace: ["shop"], name: "orders_v2" };
    await catalog.renameTable(ordersId, renamed);
    await assert.rejects(catalog.loadTable(ordersId), isCatalogError("NO_SUCH_TABLE"));
    const registered = { namespace: ["shop"], name: "orders_copy" };
    await catalog.registerTable(registered, created.metadataLocation);
    assert.equal((await catalog.loadTable(registered)).metadata.tableUuid, created.metadata.tableUuid);
    await catalog.dropTable(renamed, { purge: true });
    assert.equal(await io.exists(created.metadataLocation), false);
    assert.equal(await catalog.tableExists(renamed), false);
  });
}
