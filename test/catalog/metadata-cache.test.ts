// src/catalog/metadata-cache.ts and its use by StoreCatalog: a table committed by this catalog is loaded
// and committed again without reading its metadata file, another writer's commit is still seen, a lost
// commit leaves nothing cached, and cached metadata cannot be edited in place.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { InMemoryCatalogStore } from "../../src/catalog/catalog-store.ts";
import { CatalogError } from "../../src/catalog/errors.ts";
import { TableMetadataCache } from "../../src/catalog/metadata-cache.ts";
import { StoreCatalog } from "../../src/catalog/store-catalog.ts";
import { FastAppend } from "../../src/iceberg/operations/append.ts";
import { currentSnapshot, newTableMetadata, type TableMetadata } from "../../src/iceberg/table-metadata.ts";
import { LocalFileIO, localLocationOf } from "../../src/io/index.ts";
import { dataFile, ordersId, ordersSchema } from "../helpers/tables.ts";

const metadata = (name: string): TableMetadata =>
  newTableMetadata({ location: `file:///w/${name}`, schema: ordersSchema, nowMs: 1 });

test("keeps entries up to the text budget, least recently used out first", () => {
  const cache = new TableMetadataCache(100);
  cache.set("a", metadata("a"), 40);
  cache.set("b", metadata("b"), 40);
  assert.equal(cache.get("a")?.location, "file:///w/a"); // a is now the most recent
  cache.set("c", metadata("c"), 40); // over 100: b goes
  assert.equal(cache.get("b"), undefined);
  assert.equal(cache.get("a")?.location, "file:///w/a");
  assert.equal(cache.get("c")?.location, "file:///w/c");
  assert.deepEqual(cache.stats, { entries: 2, chars: 80, hits: 3, misses: 1 });
  cache.delete("a");
  assert.deepEqual({ ...cache.stats, hits: 0, misses: 0 }, { entries: 1, chars: 40, hits: 0, misses: 0 });
  // Larger than the whole budget: handed back frozen, not kept, nothing else evicted.
  const huge = cache.set("d", metadata("d"), 101);
  assert.ok(Object.isFrozen(huge));
  assert.equal(cache.get("d"), undefined);
  assert.equal(cache.get("c")?.location, "file:///w/c");
});

test("cached metadata is frozen with its arrays and maps: editing it in place throws", () => {
  const cache = new TableMetadataCache();
  const cached = cache.set("a", metadata("a"), 10);
  assert.throws(() => cached.snapshots.push(cached.snapshots[0]!), TypeError);
  assert.throws(() => {
    cached.properties.owner = "me";
  }, TypeError);
  assert.throws(() => {
    (cached as { lastUpdatedMs: number }).lastUpdatedMs = 2;
  }, TypeError);
});

/** A StoreCatalog over a local warehouse whose FileIO counts reads of metadata files. */
function countingWarehouse(t: { after(fn: () => void): void }) {
  const dir = mkdtempSync(join(tmpdir(), "floe-metadata-cache-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const io = new LocalFileIO();
  const reads: string[] = [];
  const read = io.read.bind(io);
  io.read = async (location: string) => {
    if (location.endsWith(".metadata.json")) reads.push(location);
    return read(location);
  };
  const store = new InMemoryCatalogStore();
  const open = (cache?: TableMetadataCache) =>
    new StoreCatalog({
      name: "t",
      store,
      io,
      warehouse: localLocationOf(dir),
      ...(cache ? { metadataCache: cache } : {}),
    });
  return { io, reads, open };
}

test("loads and commits after this catalog's own commits read no metadata file", async (t) => {
  const { reads, open } = countingWarehouse(t);
  const catalog = open();
  await catalog.createNamespace(["shop"]);
  let table = await catalog.createTable(ordersId, { schema: ordersSchema });
  for (let i = 1; i <= 5; i++) {
    table = (await new FastAppend(catalog, table).appendFile(dataFile(table.metadata.location, i)).commit())
      .table;
    const loaded = await catalog.loadTable(ordersId);
    assert.equal(loaded.metadataLocation, table.metadataLocation);
    assert.equal(loaded.metadata, table.metadata, "the very metadata the commit produced");
  }
  assert.deepEqual(reads, []);
  assert.equal(currentSnapshot(table.metadata)?.summary["total-records"], "15");

  // A second catalog (another process, say) reads the file once, then commits from memory too.
  const other = open();
  const seen = await other.loadTable(ordersId);
  assert.deepEqual(reads, [table.metadataLocation]);
  assert.deepEqual(seen.metadata, table.metadata);
  const next = await new FastAppend(other, seen).appendFile(dataFile(seen.metadata.location, 6)).commit();
  assert.equal(reads.length, 1);

  // The first catalog sees that commit: its cache is by location, the pointer comes from the store.
  const reloaded = await catalog.loadTable(ordersId);
  assert.equal(reloaded.metadataLocation, next.table.metadataLocation);
  assert.equal(currentSnapshot(reloaded.metadata)?.summary["total-records"], "21");
  assert.deepEqual(reads.slice(1), [next.table.metadataLocation]);
});

test("a commit that lost the race caches nothing and deletes its file; the next load reads the winner's", async (t) => {
  const { io, reads, open } = countingWarehouse(t);
  const cache = new TableMetadataCache();
  const catalog = open(cache);
  await catalog.createNamespace(["shop"]);
  const base = await catalog.createTable(ordersId, { schema: ordersSchema });
  const winner = await open().commitTable({
    identifier: ordersId,
    requirements: [],
    updates: [{ action: "set-properties", updates: { winner: "yes" } }],
  });
  reads.length = 0; // the winner's catalog read the base once
  const entriesBefore = cache.stats.entries;
  // A writer still pointed at the base (its store's swap finds the pointer moved) loses the race.
  const staleStore = new InMemoryCatalogStore();
  await staleStore.createNamespace(["shop"], {});
  await staleStore.createTable(ordersId, base.metadataLocation);
  staleStore.swapPointers = async () => false;
  await assert.rejects(
    new StoreCatalog({
      name: "t",
      store: staleStore,
      io,
      warehouse: "file:///unused",
      metadataCache: cache,
    }).commitTable({
      identifier: ordersId,
      requirements: [],
      updates: [{ action: "set-properties", updates: { loser: "yes" } }],
    }),
    (e: unknown) => e instanceof CatalogError && e.code === "COMMIT_FAILED",
  );
  assert.equal(cache.stats.entries, entriesBefore, "the loser's metadata is not cached");
  const files: string[] = [];
  for await (const file of io.list(`${base.metadata.location}/metadata/`)) files.push(file.location);
  assert.deepEqual(files.sort(), [base.metadataLocation, winner.metadataLocation].sort());
  const loaded = await catalog.loadTable(ordersId);
  assert.equal(loaded.metadata.properties.winner, "yes");
  assert.equal(loaded.metadata.properties.loser, undefined);
  assert.deepEqual(reads, [winner.metadataLocation]);
});
