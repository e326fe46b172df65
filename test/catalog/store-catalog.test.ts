// The Catalog contract against the embedded StoreCatalog over an in-memory store and a local warehouse,
// and what it does when the store fails mid-swap.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { InMemoryCatalogStore, type PointerSwap } from "../../src/catalog/catalog-store.ts";
import { CatalogError } from "../../src/catalog/errors.ts";
import { StoreCatalog } from "../../src/catalog/store-catalog.ts";
import { LocalFileIO, localLocationOf, localPathOf } from "../../src/io/index.ts";
import { localWarehouse, ordersId, ordersSchema } from "../helpers/tables.ts";
import { catalogContract } from "./catalog-contract.ts";

catalogContract(async (t) => localWarehouse(t));

test("a store that fails while swapping: COMMIT_STATE_UNKNOWN, and the new metadata file is kept", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "floe-store-catalog-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // The swap lands, then the store reports a failure (a connection dropped during COMMIT).
  class FlakyStore extends InMemoryCatalogStore {
    failNext = false;
    override async swapPointers(swaps: readonly PointerSwap[]): Promise<boolean> {
      const swapped = await super.swapPointers(swaps);
      if (this.failNext) {
        this.failNext = false;
        throw new Error("connection terminated unexpectedly");
      }
      return swapped;
    }
  }
  const store = new FlakyStore();
  const catalog = new StoreCatalog({
    name: "t",
    store,
    io: new LocalFileIO(),
    warehouse: localLocationOf(dir),
  });
  await catalog.createNamespace(["shop"]);
  const table = await catalog.createTable(ordersId, { schema: ordersSchema });
  store.failNext = true;
  await assert.rejects(
    catalog.commitTable({
      identifier: ordersId,
      requirements: [{ type: "assert-table-uuid", uuid: table.metadata.tableUuid }],
      updates: [{ action: "set-properties", updates: { owner: "floe" } }],
    }),
    (error: unknown) => error instanceof CatalogError && error.code === "COMMIT_STATE_UNKNOWN",
  );
  // The commit is in: the table loads, from a file that still exists.
  const reloaded = await catalog.loadTable(ordersId);
  assert.equal(reloaded.metadata.properties.owner, "floe");
  assert.ok(existsSync(localPathOf(reloaded.metadataLocation)));
});
