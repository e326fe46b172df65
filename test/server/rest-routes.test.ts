import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { test } from "node:test";
import { localPathOf } from "../../src/io/index.ts";
import { errorOf, schemaJson, testServer } from "./helpers.ts";

type Json = Record<string, unknown>;

async function withTable(t: Parameters<typeof testServer>[0]) {
  const server = await testServer(t);
  assert.equal((await server.request("POST", "namespaces", { namespace: ["shop"] })).statusCode, 200);
  const created = await server.request("POST", "namespaces/shop/tables", {
    name: "orders",
    schema: schemaJson,
    properties: { owner: "test" },
  });
  assert.equal(created.statusCode, 200, created.body);
  return { ...server, created: created.data() as Json, etag: created.headers.etag as string };
}

test("config: the warehouse is a bucket name or ARN and becomes the prefix", async (t) => {
  const { request, bucket, buckets } = await testServer(t);
  const expected = {
    defaults: {},
    overrides: { prefix: "warehouse" },
  };
  for (const warehouse of ["warehouse", encodeURIComponent(bucket.arn)]) {
    const response = await request("GET", `/iceberg/v1/config?warehouse=${warehouse}`);
    assert.equal(response.statusCode, 200);
    const body = response.data() as Json;
    assert.deepEqual({ defaults: body.defaults, overrides: body.overrides }, expected);
    assert.ok((body.endpoints as string[]).includes("POST /v1/{prefix}/transactions/commit"));
  }
  assert.equal(bucket.arn, "arn:aws:s3tables:us-east-1:000000000000:bucket/warehouse");
  // With one bucket the warehouse may be left out.
  assert.equal((await request("GET", "/iceberg/v1/config")).statusCode, 200);
  const missing = await request("GET", "/iceberg/v1/config?warehouse=nope");
  assert.equal(missing.statusCode, 404);
  assert.deepEqual(
    missing.data(),
    errorOf(
      404,
      "NoSuchWarehouseException",
      'table bucket "nope" does not exist; create it with `floe bucket create NAME`',
    ),
  );
  await buckets.create("second");
  const ambiguous = await request("GET", "/iceberg/v1/config");
  assert.deepEqual(
    ambiguous.data(),
    errorOf(400, "BadRequestException", "name the table bucket as the warehouse (one of: second, warehouse)"),
  );
  const unknownPrefix = await request("GET", "/iceberg/v1/nope/namespaces");
  assert.equal(unknownPrefix.statusCode, 404);
});

test("namespaces: create, list with pagination and parent, load, exists, properties, drop", async (t) => {
  const { request } = await testServer(t);
  const created = await request("POST", "namespaces", { namespace: ["a"], properties: { owner: "me" } });
  assert.deepEqual(created.data(), { namespace: ["a"], properties: { owner: "me" } });
  const duplicate = await request("POST", "namespaces", { namespace: ["a"] });
  assert.equal(duplicate.statusCode, 409);
  assert.deepEqual(duplicate.data(), errorOf(409, "AlreadyExistsException", "namespace a already exists"));
  for (const name of ["b", "c", "d", "e"]) await request("POST", "namespaces", { namespace: [name] });
  await request("POST", "namespaces", { namespace: ["a", "x"] });
  await request("POST", "namespaces", { namespace: ["a", "x", "deep"] });

  const all = await request("GET", "namespaces");
  assert.deepEqual(all.data(), { namespaces: [["a"], ["b"], ["c"], ["d"], ["e"]], "next-page-token": null });
  const pages: string[][][] = [];
  let token = "";
  for (;;) {
    const page = (await request("GET", `namespaces?pageSize=2&pageToken=${token}`)).data() as Json;
    pages.push(page.namespaces as string[][]);
    if (page["next-page-token"] === null) break;
    token = page["next-page-token"] as string;
  }
  assert.deepEqual(pages, [[["a"], ["b"]], [["c"], ["d"]], [["e"]]]);
  assert.deepEqual((await request("GET", "namespaces?parent=a")).data(), {
    namespaces: [["a", "x"]],
    "next-page-token": null,
  });
  assert.deepEqual((await request("GET", "namespaces?parent=a%1Fx")).data(), {
    namespaces: [["a", "x", "deep"]],
    "next-page-token": null,
  });
  assert.equal((await request("GET", "namespaces?pageSize=0")).statusCode, 400);
  assert.equal((await request("GET", "namespaces?parent=zz")).statusCode, 404);

  assert.deepEqual((await request("GET", "namespaces/a%1Fx")).data(), {
    namespace: ["a", "x"],
    properties: {},
  });
  assert.equal((await request("HEAD", "namespaces/a")).statusCode, 204);
  assert.equal((await request("HEAD", "namespaces/zz")).statusCode, 404);
  const missing = await request("GET", "namespaces/zz");
  assert.deepEqual(missing.data(), errorOf(404, "NoSuchNamespaceException", "namespace zz does not exist"));

  const updated = await request("POST", "namespaces/a/properties", {
    updates: { tier: "gold" },
    removals: ["owner", "absent"],
  });
  assert.deepEqual(updated.data(), { updated: ["tier"], removed: ["owner"], missing: ["absent"] });
  assert.deepEqual((await request("GET", "namespaces/a")).data(), {
    namespace: ["a"],
    properties: { tier: "gold" },
  });
  const both = await request("POST", "namespaces/a/properties", { updates: { k: "1" }, removals: ["k"] });
  assert.deepEqual(
    both.data(),
    errorOf(
      422,
      "UnprocessableEntityException",
      "properties k are both updated and removed; send each key in one of the two",
    ),
  );

  const notEmpty = await request("DELETE", "namespaces/a");
  assert.deepEqual(
    notEmpty.data(),
    errorOf(
      409,
      "NamespaceNotEmptyException",
      "namespace a still holds 0 table(s) and 1 namespace(s); drop them first",
    ),
  );
  assert.equal((await request("DELETE", "namespaces/a%1Fx%1Fdeep")).statusCode, 204);
  assert.equal((await request("DELETE", "namespaces/a%1Fx")).statusCode, 204);
  assert.equal((await request("DELETE", "namespaces/a")).statusCode, 204);
  assert.equal((await request("DELETE", "namespaces/a")).statusCode, 404);

  const badName = await request("POST", "namespaces", { namespace: [".hidden"] });
  assert.equal(badName.statusCode, 400);
  assert.equal((badName.data() as { error: Json }).error.type, "BadRequestException");
  assert.equal((await request("POST", "namespaces", { namespace: [] })).statusCode, 400);
  assert.equal((await request("POST", "namespaces", { namespace: "a" })).statusCode, 400);
});

test("tables: create, list, load with ETag and If-None-Match, exists, snapshots=refs", async (t) => {
  const { request, created, etag, bucket } = await withTable(t);
  const metadata = created.metadata as Json;
  assert.match(String(metadata.location), new RegExp(`^${bucket.storage}/shop/orders-[0-9a-f]{32}$`));
  assert.deepEqual(metadata.properties, { owner: "test" });
  assert.match(String(created["metadata-location"]), /\/metadata\/00000-[0-9a-f-]{36}\.metadata\.json$/);
  assert.deepEqual(created.config, {});

  const duplicate = await request("POST", "namespaces/shop/tables", { name: "orders", schema: schemaJson });
  assert.deepEqual(
    duplicate.data(),
    errorOf(409, "AlreadyExistsException", "table shop.orders already exists"),
  );
  const noNamespace = await request("POST", "namespaces/nope/tables", { name: "t", schema: schemaJson });
  assert.deepEqual(
    noNamespace.data(),
    errorOf(404, "NoSuchNamespaceException", "namespace nope does not exist"),
  );
  assert.equal((await request("POST", "namespaces/shop/tables", { name: "t" })).statusCode, 400);

  assert.deepEqual((await request("GET", "namespaces/shop/tables")).data(), {
    identifiers: [{ namespace: ["shop"], name: "orders" }],
    "next-page-token": null,
  });

  const loaded = await request("GET", "namespaces/shop/tables/orders");
  assert.equal(loaded.statusCode, 200);
  assert.equal(loaded.headers.etag, etag);
  assert.equal((loaded.data() as Json)["metadata-location"], created["metadata-location"]);
  const notModified = await request("GET", "namespaces/shop/tables/orders", undefined, {
    "if-none-match": etag,
  });
  assert.equal(notModified.statusCode, 304);
  assert.equal(notModified.body, "");
  const stale = await request("GET", "namespaces/shop/tables/orders", undefined, {
    "if-none-match": '"other"',
  });
  assert.equal(stale.statusCode, 200);
  const refs = await request("GET", "namespaces/shop/tables/orders?snapshots=refs");
  assert.notEqual(refs.headers.etag, etag, "refs and all are different representations");
  assert.equal((await request("GET", "namespaces/shop/tables/orders?snapshots=some")).statusCode, 400);

  assert.equal((await request("HEAD", "namespaces/shop/tables/orders")).statusCode, 204);
  assert.equal((await request("HEAD", "namespaces/shop/tables/nope")).statusCode, 404);
  const missing = await request("GET", "namespaces/shop/tables/nope");
  assert.deepEqual(missing.data(), errorOf(404, "NoSuchTableException", "table shop.nope does not exist"));

  // A commit changes the ETag; the old one no longer matches.
  const committed = await request("POST", "namespaces/shop/tables/orders", {
    requirements: [],
    updates: [{ action: "set-properties", updates: { x: "1" } }],
  });
  assert.notEqual(committed.headers.etag, etag);
  assert.equal(
    (await request("GET", "namespaces/shop/tables/orders", undefined, { "if-none-match": etag })).statusCode,
    200,
  );
});

test("commit: every requirement type is checked; failures are 409 CommitFailedException and write nothing", async (t) => {
  const { request, created } = await withTable(t);
  const metadata = created.metadata as Json;
  const holding = [
    { type: "assert-table-uuid", uuid: metadata["table-uuid"] },
    { type: "assert-ref-snapshot-id", ref: "main", "snapshot-id": null },
    { type: "assert-last-assigned-field-id", "last-assigned-field-id": 2 },
    { type: "assert-current-schema-id", "current-schema-id": 0 },
    { type: "assert-last-assigned-partition-id", "last-assigned-partition-id": 999 },
    { type: "assert-default-spec-id", "default-spec-id": 0 },
    { type: "assert-default-sort-order-id", "default-sort-order-id": 0 },
  ];
  const ok = await request("POST", "namespaces/shop/tables/orders", {
    identifier: { namespace: ["shop"], name: "orders" },
    requirements: holding,
    updates: [{ action: "set-properties", updates: { ok: "yes" } }],
  });
  assert.equal(ok.statusCode, 200, ok.body);
  const okBody = ok.data() as Json;
  assert.match(String(okBody["metadata-location"]), /\/00001-/);
  assert.equal(((okBody.metadata as Json).properties as Json).ok, "yes");

  const failing = [
    [
      { type: "assert-table-uuid", uuid: "00000000-0000-0000-0000-000000000000" },
      "requirement failed: table uuid",
    ],
    [
      { type: "assert-ref-snapshot-id", ref: "main", "snapshot-id": 1 },
      "requirement failed: ref 'main' is missing",
    ],
    [{ type: "assert-last-assigned-field-id", "last-assigned-field-id": 7 }, "last assigned field id is 2"],
    [{ type: "assert-current-schema-id", "current-schema-id": 3 }, "current schema id is 0"],
    [
      { type: "assert-last-assigned-partition-id", "last-assigned-partition-id": 1 },
      "last assigned partition id",
    ],
    [{ type: "assert-default-spec-id", "default-spec-id": 4 }, "default spec id is 0"],
    [{ type: "assert-default-sort-order-id", "default-sort-order-id": 4 }, "default sort order id is 0"],
    [{ type: "assert-create" }, "table shop.orders already exists"],
  ] as const;
  for (const [requirement, message] of failing) {
    const response = await request("POST", "namespaces/shop/tables/orders", {
      requirements: [requirement],
      updates: [{ action: "set-properties", updates: { bad: "yes" } }],
    });
    assert.equal(response.statusCode, 409, `${requirement.type}: ${response.body}`);
    const error = (response.data() as { error: Json }).error;
    assert.ok(
      error.type === "CommitFailedException" || error.type === "AlreadyExistsException",
      String(error.type),
    );
    assert.ok(String(error.message).includes(message), String(error.message));
  }
  const location = String((metadata.location as string) ?? "");
  const files = readdirSync(`${localPathOf(location, { allowDirectory: true })}/metadata`);
  assert.equal(files.length, 2, files.join(", "));
  const current = (await request("GET", "namespaces/shop/tables/orders")).data() as Json;
  assert.equal(((current.metadata as Json).properties as Json).bad, undefined);
});

test("commit: bad input is 4xx with the spec's error body", async (t) => {
  const { request } = await withTable(t);
  const url = "namespaces/shop/tables/orders";
  const unknownAction = await request("POST", url, {
    requirements: [],
    updates: [{ action: "make-coffee" }],
  });
  assert.deepEqual(
    unknownAction.data(),
    errorOf(400, "BadRequestException", 'unknown table update action "make-coffee"'),
  );
  const unknownRequirement = await request("POST", url, {
    requirements: [{ type: "assert-luck" }],
    updates: [],
  });
  assert.deepEqual(
    unknownRequirement.data(),
    errorOf(400, "BadRequestException", 'unknown table requirement type "assert-luck"'),
  );
  const malformed = await request("POST", url, "{not json");
  assert.equal(malformed.statusCode, 400);
  assert.equal((malformed.data() as { error: Json }).error.type, "BadRequestException");
  assert.match(
    String((malformed.data() as { error: Json }).error.message),
    /^the request body is not valid JSON/,
  );
  assert.deepEqual(
    (await request("POST", url, [1, 2])).data(),
    errorOf(400, "BadRequestException", "the request body must be a JSON object (CommitTableRequest)"),
  );
  assert.deepEqual(
    (await request("POST", url, { requirements: [] })).data(),
    errorOf(400, "BadRequestException", "field 'updates' must be a list"),
  );
  const wrongIdentifier = await request("POST", url, {
    identifier: { namespace: ["shop"], name: "other" },
    requirements: [],
    updates: [],
  });
  assert.equal(wrongIdentifier.statusCode, 400);
  const invalidUpdate = await request("POST", url, {
    requirements: [],
    updates: [{ action: "set-current-schema", "schema-id": 42 }],
  });
  assert.deepEqual(
    invalidUpdate.data(),
    errorOf(400, "BadRequestException", "shop.orders: set-current-schema: no schema with id 42"),
  );
  const missingTable = await request("POST", "namespaces/shop/tables/nope", {
    requirements: [],
    updates: [],
  });
  assert.deepEqual(
    missingTable.data(),
    errorOf(404, "NoSuchTableException", "table shop.nope does not exist"),
  );
  const encrypted = await request("POST", url, {
    requirements: [],
    updates: [{ action: "add-encryption-key" }],
  });
  assert.equal(encrypted.statusCode, 406);
});

test("oversize bodies are 413 with an error body", async (t) => {
  const { request } = await testServer(t, { bodyLimitBytes: 1024 });
  const response = await request("POST", "namespaces", {
    namespace: ["a"],
    properties: { big: "x".repeat(4096) },
  });
  assert.equal(response.statusCode, 413);
  const error = (response.data() as { error: Json }).error;
  assert.equal(error.type, "RequestEntityTooLargeException");
  assert.equal(error.code, 413);
  assert.equal((await request("GET", "namespaces")).data() instanceof Object, true);
  assert.deepEqual((await request("GET", "namespaces")).data(), { namespaces: [], "next-page-token": null });
});

test("stage-create then a commit with assert-create creates the table; locations stay in the bucket", async (t) => {
  const { request, bucket } = await withTable(t);
  const staged = await request("POST", "namespaces/shop/tables", {
    name: "staged",
    schema: schemaJson,
    "partition-spec": { fields: [{ "source-id": 1, transform: "bucket[4]", name: "id_bucket" }] },
    "stage-create": true,
  });
  assert.equal(staged.statusCode, 200, staged.body);
  const stagedBody = staged.data() as Json;
  assert.equal(stagedBody["metadata-location"], null);
  assert.equal((await request("HEAD", "namespaces/shop/tables/staged")).statusCode, 404);
  const m = stagedBody.metadata as Json;
  const updates = [
    { action: "assign-uuid", uuid: m["table-uuid"] },
    { action: "upgrade-format-version", "format-version": 2 },
    { action: "add-schema", schema: schemaJson },
    { action: "set-current-schema", "schema-id": -1 },
    {
      action: "add-spec",
      spec: {
        "spec-id": 0,
        fields: [{ "source-id": 1, "field-id": 1000, transform: "bucket[4]", name: "id_bucket" }],
      },
    },
    { action: "set-default-spec", "spec-id": -1 },
    { action: "add-sort-order", "sort-order": { "order-id": 0, fields: [] } },
    { action: "set-default-sort-order", "sort-order-id": -1 },
    { action: "set-location", location: m.location },
    { action: "set-properties", updates: { created: "staged" } },
  ];
  const committed = await request("POST", "namespaces/shop/tables/staged", {
    requirements: [{ type: "assert-create" }],
    updates,
  });
  assert.equal(committed.statusCode, 200, committed.body);
  const table = (committed.data() as Json).metadata as Json;
  assert.equal(table["table-uuid"], m["table-uuid"]);
  assert.deepEqual(
    (table["partition-specs"] as Json[]).map((s) => s["spec-id"]),
    [0],
    "the staged spec is the table's only spec",
  );
  assert.equal(table["last-partition-id"], 1000);
  assert.match(String((committed.data() as Json)["metadata-location"]), /\/00000-/);
  const again = await request("POST", "namespaces/shop/tables/staged", {
    requirements: [{ type: "assert-create" }],
    updates,
  });
  assert.deepEqual(again.data(), errorOf(409, "AlreadyExistsException", "table shop.staged already exists"));

  const outside = await request("POST", "namespaces/shop/tables", {
    name: "elsewhere",
    schema: schemaJson,
    location: "file:///etc/floe",
  });
  assert.deepEqual(
    outside.data(),
    errorOf(
      400,
      "BadRequestException",
      `table location file:///etc/floe is outside table bucket warehouse's storage ${bucket.storage}`,
    ),
  );
});

test("rename, register, unregister, drop with purge, credentials, metrics reports", async (t) => {
  const { request, created } = await withTable(t);
  const location = String((created.metadata as Json).location);
  assert.equal(
    (
      await request("POST", "tables/rename", {
        source: { namespace: ["shop"], name: "orders" },
        destination: { namespace: ["shop"], name: "orders2" },
      })
    ).statusCode,
    204,
  );
  assert.equal((await request("HEAD", "namespaces/shop/tables/orders")).statusCode, 404);
  const renameMissing = await request("POST", "tables/rename", {
    source: { namespace: ["shop"], name: "orders" },
    destination: { namespace: ["shop"], name: "x" },
  });
  assert.deepEqual(
    renameMissing.data(),
    errorOf(404, "NoSuchTableException", "table shop.orders does not exist"),
  );
  const renameToMissingNamespace = await request("POST", "tables/rename", {
    source: { namespace: ["shop"], name: "orders2" },
    destination: { namespace: ["nope"], name: "x" },
  });
  assert.equal(renameToMissingNamespace.statusCode, 404);

  const registered = await request("POST", "namespaces/shop/register", {
    name: "copy",
    "metadata-location": created["metadata-location"],
  });
  assert.equal(registered.statusCode, 200, registered.body);
  assert.equal((registered.data() as Json)["metadata-location"], created["metadata-location"]);
  const registerMissing = await request("POST", "namespaces/shop/register", {
    name: "ghost",
    "metadata-location": `${location}/metadata/99999-none.metadata.json`,
  });
  assert.equal(registerMissing.statusCode, 400);

  const unregistered = await request("POST", "namespaces/shop/tables/copy/unregister");
  assert.equal(unregistered.statusCode, 200);
  assert.equal((unregistered.data() as Json)["metadata-location"], created["metadata-location"]);
  assert.equal((await request("HEAD", "namespaces/shop/tables/copy")).statusCode, 404);

  const credentials = await request("GET", "namespaces/shop/tables/orders2/credentials");
  assert.deepEqual(credentials.data(), { "storage-credentials": [] });

  const report = await request("POST", "namespaces/shop/tables/orders2/metrics", {
    "report-type": "scan-report",
    "table-name": "shop.orders2",
  });
  assert.equal(report.statusCode, 204);
  assert.equal(
    (await request("POST", "namespaces/shop/tables/nope/metrics", { "report-type": "scan-report" }))
      .statusCode,
    404,
  );

  const dir = localPathOf(location, { allowDirectory: true });
  assert.ok(readdirSync(`${dir}/metadata`).length > 0);
  assert.equal(
    (await request("DELETE", "namespaces/shop/tables/orders2?purgeRequested=true")).statusCode,
    204,
  );
  const left = (() => {
    try {
      return readdirSync(`${dir}/metadata`);
    } catch {
      return [];
    }
  })();
  assert.deepEqual(left, [], "purge deletes every file of the table");
  assert.equal((await request("DELETE", "namespaces/shop/tables/orders2")).statusCode, 404);
});

test("unsupported and unknown routes, health and metrics", async (t) => {
  const { request } = await withTable(t);
  const views = await request("GET", "namespaces/shop/views");
  assert.deepEqual(views.data(), { identifiers: [], "next-page-token": null });
  const view = await request("GET", "namespaces/shop/views/v");
  assert.deepEqual(
    view.data(),
    errorOf(406, "UnsupportedOperationException", "Floe's catalog does not serve views"),
  );
  const unknown = await request("GET", "/iceberg/v2/whatever");
  assert.deepEqual(
    unknown.data(),
    errorOf(404, "NotFoundException", "no route for GET /iceberg/v2/whatever"),
  );
  assert.deepEqual((await request("GET", "/healthz")).data(), { status: "ok" });
  const metrics = await request("GET", "/metrics");
  assert.equal(metrics.statusCode, 200);
  assert.match(metrics.headers["content-type"] as string, /^text\/plain/);
  assert.match(
    metrics.body,
    /floe_http_requests_total\{method="POST",route="\/iceberg\/v1\/:prefix\/namespaces",status="200"\} 1/,
  );
  assert.match(metrics.body, /floe_table_commits_total/);
});
