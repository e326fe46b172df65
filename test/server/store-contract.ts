/**
 * The behaviour every ServerStore shares, as tests: `sqlite-store.test.ts` runs it against the SQLite
 * file and `test/services/postgres-store.test.ts` against the development PostgreSQL. `setup` gives a
 * fresh, empty catalog for one test; each `open()` is a new store (a new connection, as another process
 * or server replica would have) on that same catalog.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { CatalogError } from "../../src/catalog/errors.ts";
import { ServerError } from "../../src/server/errors.ts";
import type { ServerStore } from "../../src/server/store/store.ts";

export interface StoreFixture {
  open(): ServerStore;
}

export type StoreSetup = (t: { after(fn: () => unknown): void }) => Promise<StoreFixture>;

export const isCode = (code: string) => (e: unknown) =>
  (e instanceof CatalogError || e instanceof ServerError) && e.code === code;

export const bucket = (name: string) => ({
  name,
  arn: `arn:aws:s3tables:us-east-1:000000000000:bucket/${name}`,
  storage: `file:///tmp/${name}`,
  createdAt: "2026-01-01T00:00:00.000Z",
});

export function storeContract(label: string, setup: StoreSetup): void {
  test(`${label}: buckets: create, find by name or ARN, list, usage, delete`, async (t) => {
    const store = (await setup(t)).open();
    await store.createBucket(bucket("b"));
    await store.createBucket(bucket("a"));
    await assert.rejects(store.createBucket(bucket("a")), isCode("BUCKET_ALREADY_EXISTS"));
    await assert.rejects(
      store.createBucket({ ...bucket("other"), arn: bucket("a").arn }),
      isCode("BUCKET_ALREADY_EXISTS"),
    );
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
    await assert.rejects(store.catalogStore("b").createNamespace(["ns"], {}), isCode("NO_SUCH_WAREHOUSE"));
    await store.ping();
  });

  test(`${label}: namespaces and tables are per bucket; constraints map to catalog codes`, async (t) => {
    const store = (await setup(t)).open();
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
    assert.equal(await a.getNamespace(["zz"]), undefined);
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
    assert.deepEqual(await store.bucketUsage("a"), { namespaces: 2, tables: 1 });

    const record = await store.getTableRecord("a", ["ns"], "t1");
    assert.equal(record?.version, 1);
    assert.equal(record?.metadataLocation, "file:///m/0.json");
    assert.deepEqual(await store.getTableRecordById("a", record?.tableId ?? ""), record);
    assert.equal(await store.getTableRecordById("b", record?.tableId ?? ""), undefined);

    const renamed = { namespace: ["ns", "child"], name: "t2" };
    await a.createTable({ namespace: ["ns"], name: "t3" }, "file:///m/3.json");
    await assert.rejects(a.renameTable(t1, { namespace: ["ns"], name: "t3" }), isCode("ALREADY_EXISTS"));
    await assert.rejects(a.renameTable(t1, { namespace: ["zz"], name: "t" }), isCode("NO_SUCH_NAMESPACE"));
    await a.renameTable(t1, renamed);
    assert.equal(await a.getTable(t1), undefined);
    assert.equal(await a.getTable(renamed), "file:///m/0.json");
    assert.equal((await store.getTableRecordById("a", record?.tableId ?? ""))?.name, "t2", "the id survives");
    await assert.rejects(a.renameTable(t1, renamed), isCode("NO_SUCH_TABLE"));
    await a.dropTable(renamed);
    assert.equal(await a.getTable(renamed), undefined);
    assert.ok(await store.getNamespaceRecord("a", ["ns", "child"]));
    await a.dropNamespace(["ns", "child"]);
    assert.equal(await store.getNamespaceRecord("a", ["ns", "child"]), undefined);
  });

  test(`${label}: swapPointers: all tables or none, compare-and-swap, version counts commits, across connections`, async (t) => {
    const fixture = await setup(t);
    const store = fixture.open();
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
    assert.equal((await store.getTableRecord("a", ["ns"], "x"))?.version, 1);
    assert.equal(
      await a.swapPointers([
        { identifier: y, expected: "y0", next: "y1" },
        { identifier: x, expected: "x0", next: "x1" },
      ]),
      true,
    );
    assert.equal(
      await a.swapPointers([{ identifier: { namespace: ["ns"], name: "gone" }, expected: "", next: "z" }]),
      false,
    );
    assert.equal((await store.getTableRecord("a", ["ns"], "x"))?.version, 2);
    assert.equal((await store.getTableRecord("a", ["ns"], "y"))?.version, 2);

    // A second connection to the same catalog (another process or replica) sees committed state
    // and loses a race against the first.
    const other = fixture.open().catalogStore("a");
    assert.equal(await other.getTable(x), "x1");
    assert.equal(await other.swapPointers([{ identifier: x, expected: "x1", next: "x2" }]), true);
    assert.equal(await a.swapPointers([{ identifier: x, expected: "x1", next: "x3" }]), false);
    assert.equal(await a.getTable(x), "x2");
  });

  test(`${label}: swapTableVersion compares the version, not the location`, async (t) => {
    const store = (await setup(t)).open();
    await store.createBucket(bucket("a"));
    await store.catalogStore("a").createNamespace(["ns"], {});
    await store.catalogStore("a").createTable({ namespace: ["ns"], name: "t" }, "m0");
    const record = await store.getTableRecord("a", ["ns"], "t");
    const id = record?.tableId ?? "";
    assert.equal(await store.swapTableVersion("a", id, 2, "m1"), false);
    assert.equal(await store.swapTableVersion("a", id, 1, "m1"), true);
    assert.equal(await store.swapTableVersion("a", id, 2, "m0"), true, "A→B→A");
    assert.equal(
      await store.swapTableVersion("a", id, 2, "m2"),
      false,
      "version 2 is gone although m0 is back",
    );
    const after = await store.getTableRecord("a", ["ns"], "t");
    assert.equal(after?.version, 3);
    assert.equal(after?.metadataLocation, "m0");
    assert.equal(await store.swapTableVersion("b", id, 3, "m3"), false, "another bucket");
  });

  test(`${label}: versioned delete and rename are compare-and-swaps on name, id and version`, async (t) => {
    const store = (await setup(t)).open();
    await store.createBucket(bucket("a"));
    const a = store.catalogStore("a");
    await a.createNamespace(["ns"], {});
    await a.createNamespace(["other"], {});
    await a.createTable({ namespace: ["ns"], name: "t" }, "m0");
    await a.createTable({ namespace: ["ns"], name: "taken" }, "m0");
    const read = async (name: string, namespace = ["ns"]) => {
      const record = await store.getTableRecord("a", namespace, name);
      assert.ok(record, `${namespace.join(".")}.${name} exists`);
      return record;
    };
    const t0 = await read("t");
    const arn = `${bucket("a").arn}/table/${t0.tableId}`;
    await store.updateResourceAttributes(arn, "tag", { k: "v" });

    assert.equal(await store.swapTableVersion("a", t0.tableId, t0.version, "m1"), true);
    assert.equal(await store.deleteTableAtVersion("a", t0, arn), false, "a commit moved the version on");
    assert.equal(await store.renameTableAtVersion("a", t0, { namespace: ["ns"], name: "u" }), false);
    const t1 = await read("t");
    await assert.rejects(
      store.renameTableAtVersion("a", t1, { namespace: ["ns"], name: "taken" }),
      isCode("ALREADY_EXISTS"),
    );
    await assert.rejects(
      store.renameTableAtVersion("a", t1, { namespace: ["missing"], name: "u" }),
      isCode("NO_SUCH_NAMESPACE"),
    );
    assert.equal(await store.renameTableAtVersion("a", t1, { namespace: ["other"], name: "u" }), true);
    assert.equal(await store.getTableRecord("a", ["ns"], "t"), undefined);
    const u = await read("u", ["other"]);
    assert.equal(u.tableId, t1.tableId, "the id survives the rename");
    assert.equal(await store.deleteTableAtVersion("a", t1, arn), false, "the old name is gone");
    assert.equal(
      await store.deleteTableAtVersion("a", { ...u, tableId: "someone-else" }, arn),
      false,
      "another table id at the same name and version",
    );
    assert.deepEqual(await store.getResourceAttributes(arn, "tag"), { k: "v" });
    assert.equal(await store.deleteTableAtVersion("a", u, arn), true);
    assert.equal(await store.getTableRecord("a", ["other"], "u"), undefined);
    assert.deepEqual(
      await store.getResourceAttributes(arn, "tag"),
      {},
      "its attributes went in the same transaction",
    );
  });

  test(`${label}: concurrent versioned deletes, renames and commits through two connections: exactly one wins`, async (t) => {
    const fixture = await setup(t);
    const stores = [fixture.open(), fixture.open()] as [ServerStore, ServerStore];
    await stores[0].createBucket(bucket("a"));
    await stores[0].catalogStore("a").createNamespace(["ns"], {});
    for (let round = 0; round < 5; round++) {
      const name = `t${round}`;
      await stores[0].catalogStore("a").createTable({ namespace: ["ns"], name }, "m0");
      const expected = await stores[0].getTableRecord("a", ["ns"], name);
      assert.ok(expected);
      const arn = `${bucket("a").arn}/table/${expected.tableId}`;
      // Eight clients holding the same versionToken race: deletes, renames to distinct names, commits.
      const outcomes = await Promise.all(
        Array.from({ length: 8 }, (_, i) => {
          const store = stores[i % 2] as ServerStore;
          if (i % 3 === 0) return store.deleteTableAtVersion("a", expected, arn);
          if (i % 3 === 1)
            return store.renameTableAtVersion("a", expected, { namespace: ["ns"], name: `${name}-r${i}` });
          return store.swapTableVersion("a", expected.tableId, expected.version, `m-${i}`);
        }),
      );
      assert.equal(outcomes.filter(Boolean).length, 1, `round ${round}: exactly one of ${outcomes} won`);
      const left = (await stores[1].listTableRecords("a", { namespace: ["ns"], limit: 100 })).filter(
        (r) => r.tableId === expected.tableId,
      );
      const winner = outcomes.indexOf(true);
      if (winner % 3 === 0) assert.deepEqual(left, []);
      else if (winner % 3 === 1)
        assert.deepEqual(
          left.map((r) => r.name),
          [`${name}-r${winner}`],
        );
      else
        assert.deepEqual(
          left.map((r) => [r.name, r.metadataLocation, r.version]),
          [[name, `m-${winner}`, 2]],
        );
    }
  });

  test(`${label}: concurrent compare-and-swaps through two connections: every success is one version`, async (t) => {
    const fixture = await setup(t);
    const stores = [fixture.open(), fixture.open()];
    const [first] = stores as [ServerStore, ServerStore];
    await first.createBucket(bucket("a"));
    const setupStore = first.catalogStore("a");
    await setupStore.createNamespace(["ns"], {});
    const x = { namespace: ["ns"], name: "x" };
    const y = { namespace: ["ns"], name: "y" };
    await setupStore.createTable(x, "0");
    await setupStore.createTable(y, "0");
    // 8 writers, each retrying on a lost race until it has landed 5 commits on x alone and on x+y.
    const writer = async (w: number) => {
      const store = stores[w % 2]?.catalogStore("a");
      assert.ok(store);
      for (let i = 0; i < 5; i++) {
        for (;;) {
          const current = (await store.getTable(x)) ?? "";
          if (await store.swapPointers([{ identifier: x, expected: current, next: `${current}.${w}` }]))
            break;
        }
        for (;;) {
          const [cx, cy] = [(await store.getTable(x)) ?? "", (await store.getTable(y)) ?? ""];
          const swaps = [
            { identifier: x, expected: cx, next: `${cx}.${w}` },
            { identifier: y, expected: cy, next: `${cy}.${w}` },
          ];
          if (await store.swapPointers(w % 2 ? swaps.reverse() : swaps)) break;
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, (_, w) => writer(w)));
    const rx = await first.getTableRecord("a", ["ns"], "x");
    const ry = await first.getTableRecord("a", ["ns"], "y");
    assert.equal(rx?.version, 1 + 80);
    assert.equal(ry?.version, 1 + 40);
    // Each pointer is the chain of every commit on it: nothing was overwritten.
    assert.equal(rx?.metadataLocation.split(".").length, 1 + 80);
    assert.equal(ry?.metadataLocation.split(".").length, 1 + 40);
  });

  test(`${label}: listings page in byte order with prefixes and cursors`, async (t) => {
    const store = (await setup(t)).open();
    await store.createBucket(bucket("a"));
    const a = store.catalogStore("a");
    // Upper case before lower case, "_" between, non-ASCII last: byte order, whatever the locale.
    const namespaces = ["b", "B", "a_x", "ab", "é", "a"];
    for (const ns of namespaces) await a.createNamespace([ns], {});
    await a.createNamespace(["a", "nested"], {});
    const all = await store.listNamespaceRecords("a", { limit: 100 });
    assert.deepEqual(
      all.map((r) => r.namespace),
      [["B"], ["a"], ["a_x"], ["ab"], ["b"], ["é"]],
    );
    assert.ok(all.every((r) => typeof r.createdAt === "string" && r.createdAt.length > 0));
    assert.deepEqual(
      (await store.listNamespaceRecords("a", { prefix: "a", limit: 100 })).map((r) => r.namespace),
      [["a"], ["a_x"], ["ab"]],
    );
    assert.deepEqual(
      (await store.listNamespaceRecords("a", { prefix: "a", after: "a", limit: 1 })).map((r) => r.namespace),
      [["a_x"]],
    );
    assert.deepEqual(
      (await store.listNamespaceRecords("a", { after: "b", limit: 100 })).map((r) => r.namespace),
      [["é"]],
    );
    assert.deepEqual(await store.listNamespaceRecords("a", { prefix: "%", limit: 100 }), []);
    assert.deepEqual(await a.listNamespaces(), [["B"], ["a"], ["a_x"], ["ab"], ["b"], ["é"]]);

    for (const [ns, name] of [
      ["b", "t2"],
      ["b", "T1"],
      ["a", "t_1"],
      ["a", "t1"],
      ["a", "x"],
      ["B", "t"],
    ] as const) {
      await a.createTable({ namespace: [ns], name }, `${ns}/${name}`);
    }
    const names = (rows: Array<{ namespace: string[]; name: string }>) =>
      rows.map((r) => `${r.namespace.join(".")}.${r.name}`);
    const tables = await store.listTableRecords("a", { limit: 100 });
    assert.deepEqual(names(tables), ["B.t", "a.t1", "a.t_1", "a.x", "b.T1", "b.t2"]);
    assert.deepEqual(names(await store.listTableRecords("a", { namespace: ["a"], limit: 100 })), [
      "a.t1",
      "a.t_1",
      "a.x",
    ]);
    assert.deepEqual(names(await store.listTableRecords("a", { prefix: "t", limit: 100 })), [
      "B.t",
      "a.t1",
      "a.t_1",
      "b.t2",
    ]);
    // Paging with the cursor of the last row returned.
    const seen: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await store.listTableRecords("a", { limit: 2, ...(after ? { after } : {}) });
      if (page.length === 0) break;
      seen.push(...names(page));
      const last = page.at(-1);
      assert.ok(last);
      after = JSON.stringify([JSON.stringify(last.namespace), last.name]);
    }
    assert.deepEqual(seen, names(tables));
    assert.deepEqual(await a.listTables(["b"]), [
      { namespace: ["b"], name: "T1" },
      { namespace: ["b"], name: "t2" },
    ]);
  });

  test(`${label}: resource attributes: set and delete in one call, bucket deletion drops its tables'`, async (t) => {
    const store = (await setup(t)).open();
    await store.updateResourceAttributes("arn:b", "tag", { a: "1", b: "2" });
    await store.updateResourceAttributes("arn:b", "policy", { "": "{}" });
    await store.updateResourceAttributes("arn:b/table/x", "tag", { c: "3" });
    await store.updateResourceAttributes("arn:bb", "tag", { d: "4" });
    await store.updateResourceAttributes("arn:b", "tag", { b: undefined, a: "10" });
    assert.deepEqual(await store.getResourceAttributes("arn:b", "tag"), { a: "10" });
    assert.deepEqual(await store.getResourceAttributes("arn:b", "policy"), { "": "{}" });
    assert.deepEqual(await store.getResourceAttributes("arn:b", "maintenance"), {});
    await store.deleteResourceAttributes("arn:b");
    assert.deepEqual(await store.getResourceAttributes("arn:b", "tag"), {});
    assert.deepEqual(await store.getResourceAttributes("arn:b", "policy"), {});
    assert.deepEqual(await store.getResourceAttributes("arn:b/table/x", "tag"), {});
    assert.deepEqual(await store.getResourceAttributes("arn:bb", "tag"), { d: "4" }, "only arn:b's tables");
  });

  test(`${label}: the store survives reopening`, async (t) => {
    const fixture = await setup(t);
    const first = fixture.open();
    await first.createBucket(bucket("a"));
    await first.catalogStore("a").createNamespace(["ns"], {});
    await first.close();
    const second = fixture.open();
    assert.deepEqual(
      (await second.listBuckets()).map((b) => b.name),
      ["a"],
    );
    assert.deepEqual(await second.catalogStore("a").listNamespaces(), [["ns"]]);
  });
}
