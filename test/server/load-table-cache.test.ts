// The loadTable serialization cache (src/server/rest/load-table-cache.ts): a cached load answers the
// same bytes as a server without the cache (64-bit snapshot ids intact, both snapshot modes), reads and
// serializes nothing, is filled by commits, keeps ETag / If-None-Match, and stays within its size.
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { test } from "node:test";
import { Schema } from "../../src/iceberg/schema.ts";
import { newTableMetadata } from "../../src/iceberg/table-metadata.ts";
import { primitive } from "../../src/iceberg/types.ts";
import { localPathOf } from "../../src/io/index.ts";
import { buildApp } from "../../src/server/app.ts";
import { LoadTableCache } from "../../src/server/rest/load-table-cache.ts";
import { schemaJson, testServer } from "./helpers.ts";

type Json = Record<string, unknown>;

/** Two snapshots with ids beyond 2^53 (JSON.parse would round them); `main` points at the first. */
function snapshotCommit(location: string): string {
  const snapshot = (id: string, parent: string | null, sequence: number) =>
    `{"snapshot-id":${id},${parent ? `"parent-snapshot-id":${parent},` : ""}"sequence-number":${sequence},"timestamp-ms":1700000000000,"manifest-list":"${location}/metadata/snap-${id}.avro","summary":{"operation":"append"},"schema-id":0}`;
  return `{"requirements":[],"updates":[{"action":"add-snapshot","snapshot":${snapshot("9007199254740993", null, 1)}},{"action":"set-snapshot-ref","ref-name":"main","type":"branch","snapshot-id":9007199254740993},{"action":"add-snapshot","snapshot":${snapshot("9007199254740995", "9007199254740993", 2)}}]}`;
}

function hits(metricsText: string): number {
  return Number(/floe_load_table_cache_total\{result="hit"\} (\d+)/.exec(metricsText)?.[1] ?? 0);
}

test("cached loads are byte-identical to uncached ones, need no metadata file read, and keep ETags", async (t) => {
  const server = await testServer(t);
  const { request, buckets, metrics } = server;
  // A second app on the same buckets with the cache off: the reference serialization.
  const uncached = await buildApp({ buckets, auth: { anonymous: true }, loadTableCacheBytes: 0 });
  t.after(() => uncached.app.close());
  const plain = (url: string, headers: Record<string, string> = {}) =>
    uncached.app.inject({ method: "GET", url: `/iceberg/v1/warehouse/${url}`, headers });

  await request("POST", "namespaces", { namespace: ["shop"] });
  const created = (
    await request("POST", "namespaces/shop/tables", { name: "orders", schema: schemaJson })
  ).data() as Json;
  const location = (created.metadata as Json).location as string;
  const committed = await request("POST", "namespaces/shop/tables/orders", snapshotCommit(location));
  assert.equal(committed.statusCode, 200, committed.body);
  assert.match(committed.body, /"snapshot-id":9007199254740995/);
  const metadataLocation = (committed.data() as Json)["metadata-location"] as string;

  const before = hits(await metrics.text());
  for (const mode of ["", "?snapshots=all", "?snapshots=refs"]) {
    const cached = await request("GET", `namespaces/shop/tables/orders${mode}`);
    const reference = await plain(`namespaces/shop/tables/orders${mode}`);
    assert.equal(cached.statusCode, 200);
    assert.equal(cached.body, reference.body, `snapshots mode ${mode || "default"}`);
    assert.equal(cached.headers.etag, reference.headers.etag);
    assert.equal(cached.headers["content-type"], reference.headers["content-type"]);
    const snapshots = ((cached.data() as Json).metadata as Json).snapshots as unknown[];
    assert.equal(snapshots.length, mode === "?snapshots=refs" ? 1 : 2);
  }
  // The commit's response filled the cache for "all"; "refs" was serialized by its first load.
  assert.equal(hits(await metrics.text()) - before, 2);
  assert.equal((await request("GET", "namespaces/shop/tables/orders?snapshots=refs")).statusCode, 200);
  assert.equal(hits(await metrics.text()) - before, 3);

  // A hit is answered from the pointer and the cached text: no metadata file read, nothing serialized.
  const etag = (await request("GET", "namespaces/shop/tables/orders")).headers.etag as string;
  rmSync(localPathOf(metadataLocation));
  const hitsBefore = hits(await metrics.text());
  const withoutFile = await request("GET", "namespaces/shop/tables/orders");
  assert.equal(withoutFile.statusCode, 200);
  assert.equal((withoutFile.data() as Json)["metadata-location"], metadataLocation);
  assert.equal(hits(await metrics.text()), hitsBefore + 1);

  // If-None-Match still answers 304 from the pointer; a commit moves the ETag.
  const notModified = await request("GET", "namespaces/shop/tables/orders", undefined, {
    "if-none-match": etag,
  });
  assert.equal(notModified.statusCode, 304);
  assert.equal(notModified.headers.etag, etag);
  const missing = await request("GET", "namespaces/shop/tables/nope");
  assert.equal(missing.statusCode, 404);
  assert.equal(
    (missing.data() as { error: { message: string } }).error.message,
    "table shop.nope does not exist",
  );
});

test("LoadTableCache keeps the most recently used entries within its size and skips oversize ones", () => {
  const schema = new Schema(0, [{ id: 1, name: "id", required: true, type: primitive("long") }], [1]);
  const metadata = (n: number) => newTableMetadata({ location: `file:///t/${n}`, schema, properties: {} });
  const one = new LoadTableCache(Number.MAX_SAFE_INTEGER).serialize("m0", "all", metadata(0)).length;
  const cache = new LoadTableCache(one * 2 + one / 2); // room for two entries
  const first = cache.serialize("m1", "all", metadata(1));
  cache.serialize("m2", "all", metadata(2));
  assert.equal(cache.get("m1", "all"), first); // m1 is now the most recent
  assert.equal(cache.get("m1", "refs"), undefined, "modes are cached apart");
  cache.serialize("m3", "all", metadata(3));
  assert.deepEqual(cache.size, { entries: 2, bytes: first.length * 2 });
  assert.equal(cache.get("m2", "all"), undefined, "the least recently used went out");
  assert.ok(cache.get("m1", "all") && cache.get("m3", "all"));
  assert.equal(JSON.parse(first.toString()).location, "file:///t/1");

  const tiny = new LoadTableCache(10);
  assert.ok(tiny.serialize("m1", "all", metadata(1)).length > 10);
  assert.deepEqual(tiny.size, { entries: 0, bytes: 0 });
  assert.deepEqual(new LoadTableCache(0).size, { entries: 0, bytes: 0 });
});
