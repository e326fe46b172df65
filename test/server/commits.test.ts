// The server's commit path under stress: multi-table transactions are atomic, concurrent commits to
// one table and to several lose nothing, and a crash between writing metadata and swapping the
// pointer leaves the table at its old state.
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type { CatalogStore, PointerSwap } from "../../src/catalog/catalog-store.ts";
import { localPathOf } from "../../src/io/index.ts";
import { SqliteServerStore } from "../../src/server/store/sqlite-store.ts";
import { TableBuckets } from "../../src/server/table-buckets.ts";
import { errorOf, schemaJson, testServer } from "./helpers.ts";

type Json = Record<string, unknown>;

async function tables(request: Awaited<ReturnType<typeof testServer>>["request"], names: string[]) {
  await request("POST", "namespaces", { namespace: ["shop"] });
  const out: Record<string, Json> = {};
  for (const name of names) {
    out[name] = (
      await request("POST", "namespaces/shop/tables", { name, schema: schemaJson })
    ).data() as Json;
  }
  return out;
}

const props = async (request: Awaited<ReturnType<typeof testServer>>["request"], name: string) =>
  ((((await request("GET", `namespaces/shop/tables/${name}`)).data() as Json).metadata as Json).properties ??
    {}) as Record<string, string>;

test("transactions/commit: one failing requirement changes no table and leaves no metadata file", async (t) => {
  const { request } = await testServer(t);
  const created = await tables(request, ["a", "b", "c"]);
  const change = (name: string, requirements: unknown[] = []) => ({
    identifier: { namespace: ["shop"], name },
    requirements,
    updates: [{ action: "set-properties", updates: { tx: "1" } }],
  });
  const failed = await request("POST", "transactions/commit", {
    "table-changes": [
      change("a"),
      change("b"),
      change("c", [{ type: "assert-current-schema-id", "current-schema-id": 9 }]),
    ],
  });
  assert.deepEqual(
    failed.data(),
    errorOf(409, "CommitFailedException", "shop.c: requirement failed: current schema id is 0, expected 9"),
  );
  for (const name of ["a", "b", "c"]) {
    assert.deepEqual(await props(request, name), {}, name);
    const location = String((created[name]!.metadata as Json).location);
    assert.equal(readdirSync(`${localPathOf(location, { allowDirectory: true })}/metadata`).length, 1, name);
  }
  const missing = await request("POST", "transactions/commit", {
    "table-changes": [change("a"), change("zz")],
  });
  assert.deepEqual(missing.data(), errorOf(404, "NoSuchTableException", "table shop.zz does not exist"));
  const noIdentifier = await request("POST", "transactions/commit", {
    "table-changes": [{ requirements: [], updates: [] }],
  });
  assert.deepEqual(
    noIdentifier.data(),
    errorOf(400, "BadRequestException", "table-changes[0] needs an identifier"),
  );
  const twice = await request("POST", "transactions/commit", { "table-changes": [change("a"), change("a")] });
  assert.equal(twice.statusCode, 400);

  const ok = await request("POST", "transactions/commit", { "table-changes": [change("a"), change("b")] });
  assert.equal(ok.statusCode, 204, ok.body);
  assert.equal((await props(request, "a")).tx, "1");
  assert.equal((await props(request, "b")).tx, "1");
  assert.deepEqual(await props(request, "c"), {});
});

test("concurrent commits to one table and across tables: none is lost, metadata versions line up", async (t) => {
  const { request, metrics } = await testServer(t);
  await tables(request, ["one", "x", "y"]);
  // 8 commits without requirements at once: the server re-runs losers of a pointer race on the new head.
  const results = await Promise.all(
    Array.from({ length: 8 }, (_, i) =>
      request("POST", "namespaces/shop/tables/one", {
        requirements: [],
        updates: [{ action: "set-properties", updates: { [`k${i}`]: String(i) } }],
      }),
    ),
  );
  assert.deepEqual(
    results.map((r) => r.statusCode),
    Array(8).fill(200),
  );
  const one = (await request("GET", "namespaces/shop/tables/one")).data() as Json;
  assert.deepEqual(Object.keys((one.metadata as Json).properties as Json).sort(), [
    "k0",
    "k1",
    "k2",
    "k3",
    "k4",
    "k5",
    "k6",
    "k7",
  ]);
  assert.match(String(one["metadata-location"]), /\/00008-/);
  assert.equal(((one.metadata as Json)["metadata-log"] as unknown[]).length, 8);

  const transactions = await Promise.all(
    Array.from({ length: 8 }, (_, i) =>
      request("POST", "transactions/commit", {
        "table-changes": ["x", "y"].map((name) => ({
          identifier: { namespace: ["shop"], name },
          requirements: [],
          updates: [{ action: "set-properties", updates: { [`t${i}`]: "1" } }],
        })),
      }),
    ),
  );
  assert.deepEqual(
    transactions.map((r) => r.statusCode),
    Array(8).fill(204),
  );
  for (const name of ["x", "y"]) assert.equal(Object.keys(await props(request, name)).length, 8, name);
  assert.match(await metrics.text(), /floe_table_commits_total\{outcome="committed"\} 24/);
});

/** A store whose next pointer swap dies, as if the process crashed after writing the metadata file. */
class CrashingStore extends SqliteServerStore {
  crashNextSwap = false;
  override catalogStore(bucketName: string): CatalogStore {
    const inner = super.catalogStore(bucketName);
    return new Proxy(inner, {
      get: (target, property, receiver) => {
        if (property === "swapPointers") {
          return async (swaps: readonly PointerSwap[]) => {
            if (this.crashNextSwap) {
              this.crashNextSwap = false;
              throw new Error("simulated crash before the pointer swap");
            }
            return target.swapPointers(swaps);
          };
        }
        const value = Reflect.get(target, property, receiver);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
  }
}

test("a crash between writing metadata and swapping the pointer leaves the table at its old state", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "floe-crash-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = new CrashingStore({ path: join(dir, "catalog.db") });
  const buckets = new TableBuckets({ store, dataDir: dir });
  const { request } = await testServer(t, { buckets });
  const created = await tables(request, ["t"]);
  store.crashNextSwap = true;
  const crashed = await request("POST", "namespaces/shop/tables/t", {
    requirements: [],
    updates: [{ action: "set-properties", updates: { lost: "yes" } }],
  });
  assert.deepEqual(
    crashed.data(),
    errorOf(
      500,
      "CommitStateUnknownException",
      "commit to shop.t: the catalog store failed while swapping the metadata pointers, so the commit may or may not be in; reload the tables to see",
    ),
  );
  const after = (await request("GET", "namespaces/shop/tables/t")).data() as Json;
  assert.equal(after["metadata-location"], created.t?.["metadata-location"]);
  assert.deepEqual((after.metadata as Json).properties, {});
  // The next commit goes through as version 1.
  const next = await request("POST", "namespaces/shop/tables/t", {
    requirements: [],
    updates: [{ action: "set-properties", updates: { kept: "yes" } }],
  });
  assert.equal(next.statusCode, 200);
  assert.match(String((next.data() as Json)["metadata-location"]), /\/00001-/);
});
