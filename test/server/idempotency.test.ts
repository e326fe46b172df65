// Idempotency-Key on the REST catalog's mutation routes (src/server/rest/idempotency.ts): a retried
// create-table or commit replays the first response byte for byte and changes nothing; a key reused
// for another request is 422; final 4xx are replayed, 5xx are not stored; concurrent duplicates run
// once; a lapsed reservation (crashed request) is taken over; `/v1/config` advertises the lifetime.
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { test } from "node:test";
import { localPathOf } from "../../src/io/index.ts";
import { ServerError } from "../../src/server/errors.ts";
import { ServerMetrics } from "../../src/server/metrics.ts";
import { ENDPOINTS } from "../../src/server/rest/config.ts";
import { errorResponse } from "../../src/server/rest/error-model.ts";
import { IDEMPOTENT_ROUTES, IdempotencyKeys, isoDuration } from "../../src/server/rest/idempotency.ts";
import { idempotencyStoreFor } from "../../src/server/store/idempotency-store.ts";
import { SqliteServerStore } from "../../src/server/store/sqlite-store.ts";
import { errorOf, schemaJson, testServer } from "./helpers.ts";

type Json = Record<string, unknown>;

const keyA = "017f22e2-79b0-7cc3-98c4-dc0c0c07398f";
const keyB = "017f22e2-79b0-7cc3-98c4-dc0c0c07398a";
const keyC = "0190b6a4-4f3e-7a61-9d2b-0c5e8f1a2b3c";

function metadataFiles(location: string): string[] {
  return readdirSync(localPathOf(`${location}/metadata`, { allowDirectory: true })).filter((f) =>
    f.endsWith(".metadata.json"),
  );
}

test("config advertises idempotency-key-lifetime; every idempotent route is a served endpoint", async (t) => {
  const { request } = await testServer(t);
  const config = (await request("GET", "/iceberg/v1/config")).data() as Json;
  assert.equal(config["idempotency-key-lifetime"], "PT30M");
  for (const route of IDEMPOTENT_ROUTES) assert.ok(ENDPOINTS.includes(route), route);
  assert.deepEqual([1800, 86400, 90, 5, 3661].map(isoDuration), [
    "PT30M",
    "PT24H",
    "PT1M30S",
    "PT5S",
    "PT1H1M1S",
  ]);

  const off = await testServer(t, { idempotencyKeyLifetimeSeconds: 0 });
  const offConfig = (await off.request("GET", "/iceberg/v1/config")).data() as Json;
  assert.equal("idempotency-key-lifetime" in offConfig, false);
  // Switched off, the header is ignored: the retry runs again and meets the first one's namespace.
  const headers = { "idempotency-key": keyA };
  assert.equal((await off.request("POST", "namespaces", { namespace: ["a"] }, headers)).statusCode, 200);
  assert.equal((await off.request("POST", "namespaces", { namespace: ["a"] }, headers)).statusCode, 409);
});

test("a retried create-table replays the first response and creates nothing more", async (t) => {
  const { request } = await testServer(t);
  await request("POST", "namespaces", { namespace: ["shop"] });
  const body = { name: "orders", schema: schemaJson };
  const headers = { "idempotency-key": keyA };
  const first = await request("POST", "namespaces/shop/tables", body, headers);
  assert.equal(first.statusCode, 200, first.body);
  assert.equal(first.headers["idempotent-replayed"], undefined);
  const retry = await request("POST", "namespaces/shop/tables", body, headers);
  assert.equal(retry.statusCode, 200, retry.body); // run again, it would be 409 AlreadyExists
  assert.equal(retry.headers["idempotent-replayed"], "true");
  assert.equal(retry.body, first.body);
  assert.equal(retry.headers.etag, first.headers.etag);
  assert.equal(retry.headers["content-type"], first.headers["content-type"]);
  const created = first.data() as Json;
  const location = (created.metadata as Json).location as string;
  assert.deepEqual(metadataFiles(location).length, 1);
  const loaded = (await request("GET", "namespaces/shop/tables/orders")).data() as Json;
  assert.equal(loaded["metadata-location"], created["metadata-location"]);

  // A new key is a new operation: it runs and meets the table.
  const again = await request("POST", "namespaces/shop/tables", body, { "idempotency-key": keyB });
  assert.deepEqual(again.data(), errorOf(409, "AlreadyExistsException", "table shop.orders already exists"));
});

test("a retried commit does not apply twice and returns the original response", async (t) => {
  const { request, metrics } = await testServer(t);
  await request("POST", "namespaces", { namespace: ["shop"] });
  const created = (
    await request("POST", "namespaces/shop/tables", { name: "orders", schema: schemaJson })
  ).data() as Json;
  const location = (created.metadata as Json).location as string;
  const commit = {
    requirements: [{ type: "assert-table-uuid", uuid: (created.metadata as Json)["table-uuid"] }],
    updates: [{ action: "set-properties", updates: { step: "1" } }],
  };
  const headers = { "idempotency-key": keyA };
  const first = await request("POST", "namespaces/shop/tables/orders", commit, headers);
  assert.equal(first.statusCode, 200, first.body);
  const retries = await Promise.all(
    [1, 2].map(() => request("POST", "namespaces/shop/tables/orders", commit, headers)),
  );
  for (const retry of retries) {
    assert.equal(retry.statusCode, 200);
    assert.equal(retry.body, first.body);
    assert.equal(retry.headers["idempotent-replayed"], "true");
  }
  // One commit: the create's metadata file and this commit's, and the table points at the latter.
  assert.equal(metadataFiles(location).length, 2);
  const loaded = (await request("GET", "namespaces/shop/tables/orders")).data() as Json;
  assert.equal(loaded["metadata-location"], (first.data() as Json)["metadata-location"]);
  assert.equal(((loaded.metadata as Json)["metadata-log"] as unknown[]).length, 1);
  assert.match(await metrics.text(), /floe_idempotency_keys_total\{outcome="replayed"\} 2/);

  // Multi-table transactions and drops replay too (204, empty body).
  const tx = {
    "table-changes": [
      {
        identifier: { namespace: ["shop"], name: "orders" },
        requirements: [],
        updates: [{ action: "set-properties", updates: { step: "2" } }],
      },
    ],
  };
  const txHeaders = { "idempotency-key": keyB };
  assert.equal((await request("POST", "transactions/commit", tx, txHeaders)).statusCode, 204);
  const txRetry = await request("POST", "transactions/commit", tx, txHeaders);
  assert.equal(txRetry.statusCode, 204);
  assert.equal(txRetry.headers["idempotent-replayed"], "true");
  assert.equal(metadataFiles(location).length, 3);
  const dropHeaders = { "idempotency-key": keyC };
  assert.equal(
    (await request("DELETE", "namespaces/shop/tables/orders", undefined, dropHeaders)).statusCode,
    204,
  );
  const dropRetry = await request("DELETE", "namespaces/shop/tables/orders", undefined, dropHeaders);
  assert.equal(dropRetry.statusCode, 204); // run again, it would be 404 NoSuchTable
  assert.equal(dropRetry.headers["idempotent-replayed"], "true");
});

test("concurrent requests with one key run once; the others wait and replay", async (t) => {
  const { request } = await testServer(t);
  await request("POST", "namespaces", { namespace: ["shop"] });
  const body = { name: "orders", schema: schemaJson };
  const responses = await Promise.all(
    Array.from({ length: 4 }, () =>
      request("POST", "namespaces/shop/tables", body, { "idempotency-key": keyA }),
    ),
  );
  const bodies = new Set(responses.map((r) => r.body));
  assert.deepEqual(
    responses.map((r) => r.statusCode),
    [200, 200, 200, 200],
  );
  assert.equal(bodies.size, 1);
  assert.equal(responses.filter((r) => r.headers["idempotent-replayed"] === "true").length, 3);
  const [first] = responses;
  assert.ok(first);
  const location = ((first.data() as Json).metadata as Json).location as string;
  assert.equal(metadataFiles(location).length, 1);
});

test("a key reused for another request is 422; a final 4xx is replayed; a bad key is 400", async (t) => {
  const { request } = await testServer(t);
  const headers = { "idempotency-key": keyA };
  assert.equal((await request("POST", "namespaces", { namespace: ["a"] }, headers)).statusCode, 200);
  const otherBody = await request("POST", "namespaces", { namespace: ["b"] }, headers);
  const reused = errorOf(
    422,
    "UnprocessableEntityException",
    `Idempotency-Key ${keyA} was used for a different request (another route, body or caller); send a new key for each operation and reuse a key only to retry the same request`,
  );
  assert.deepEqual(otherBody.data(), reused);
  assert.deepEqual((await request("DELETE", "namespaces/a", undefined, headers)).data(), reused);
  assert.equal((await request("GET", "namespaces/b")).statusCode, 404, "the 422 request did not run");
  // The key is compared without regard to case.
  const upper = await request(
    "POST",
    "namespaces",
    { namespace: ["a"] },
    { "idempotency-key": keyA.toUpperCase() },
  );
  assert.equal(upper.headers["idempotent-replayed"], "true");

  // 409 is a final answer: replayed even after the conflict went away.
  const conflictHeaders = { "idempotency-key": keyB };
  const conflict = await request("POST", "namespaces", { namespace: ["a"] }, conflictHeaders);
  assert.equal(conflict.statusCode, 409);
  assert.equal((await request("DELETE", "namespaces/a")).statusCode, 204);
  const replayed = await request("POST", "namespaces", { namespace: ["a"] }, conflictHeaders);
  assert.equal(replayed.statusCode, 409);
  assert.equal(replayed.body, conflict.body);
  assert.equal(replayed.headers["x-amzn-errortype"], "AlreadyExistsException");
  assert.equal((await request("GET", "namespaces/a")).statusCode, 404);

  for (const bad of ["not-a-uuid", `${keyA},${keyB}`, keyA.replaceAll("-", "")]) {
    const response = await request("POST", "namespaces", { namespace: ["c"] }, { "idempotency-key": bad });
    assert.equal(response.statusCode, 400, bad);
    assert.match(
      (response.data() as { error: { message: string } }).error.message,
      /Idempotency-Key must be one UUID/,
    );
  }
  assert.equal((await request("GET", "namespaces/c")).statusCode, 404);
  // Reads ignore the header.
  assert.equal((await request("GET", "namespaces", undefined, { "idempotency-key": "x" })).statusCode, 200);
});

test("keys of different callers do not mix", async (t) => {
  const keys = [
    { accessKeyId: "AKONE", secretAccessKey: "one-secret" },
    { accessKeyId: "AKTWO", secretAccessKey: "two-secret", principal: "arn:aws:iam::000000000000:user/two" },
  ];
  const { request } = await testServer(t, { auth: { keys } });
  const tokenOf = async (id: string, secret: string) => {
    const response = await request(
      "POST",
      "/iceberg/v1/oauth/tokens",
      `grant_type=client_credentials&client_id=${id}&client_secret=${secret}`,
      { "content-type": "application/x-www-form-urlencoded" },
    );
    return (response.data() as { access_token: string }).access_token;
  };
  const one = { authorization: `Bearer ${await tokenOf("AKONE", "one-secret")}`, "idempotency-key": keyA };
  const two = { authorization: `Bearer ${await tokenOf("AKTWO", "two-secret")}`, "idempotency-key": keyA };
  assert.equal((await request("POST", "namespaces", { namespace: ["a"] }, one)).statusCode, 200);
  const other = await request("POST", "namespaces", { namespace: ["a"] }, two);
  assert.equal(other.statusCode, 422, "another caller's identical request is not answered from the first's");
  // Unauthenticated retries are refused before the key is looked at.
  const anonymous = await request("POST", "namespaces", { namespace: ["a"] }, { "idempotency-key": keyA });
  assert.equal(anonymous.statusCode, 401);
});

test("IdempotencyKeys: 5xx frees the key, in-flight retries wait then 503, lapsed leases and expired keys are taken over", async (t) => {
  const store = new SqliteServerStore({ path: ":memory:" });
  t.after(() => store.close());
  const keys = idempotencyStoreFor(store);
  let now = 1_000_000;
  const idempotency = new IdempotencyKeys(keys, new ServerMetrics(), {
    lifetimeSeconds: 60,
    graceSeconds: 10,
    leaseMs: 5_000,
    waitMs: 0,
    now: () => now,
  });
  const ok = { status: 200, headers: { "content-type": "application/json" }, body: Buffer.from('{"ok":1}') };

  assert.equal(await idempotency.begin(keyA, "f1"), undefined, "first use reserves");
  await assert.rejects(idempotency.begin(keyA, "f1"), (error: unknown) => {
    assert.ok(error instanceof ServerError && error.code === "REQUEST_IN_PROGRESS");
    assert.equal(errorResponse(error).status, 503);
    assert.equal(errorResponse(error).body.error.type, "ServiceUnavailableException");
    return true;
  });
  await assert.rejects(idempotency.begin(keyA, "f2"), { code: "IDEMPOTENCY_KEY_REUSED" });
  await idempotency.finish(keyA, "f1", { status: 503, headers: {}, body: Buffer.alloc(0) });
  assert.equal(await keys.get(keyA), undefined, "a 5xx is not stored");
  assert.equal(await idempotency.begin(keyA, "f1"), undefined, "so the retry runs");
  await idempotency.finish(keyA, "f1", ok);
  assert.deepEqual(await idempotency.begin(keyA, "f1"), ok);

  // A request that died holding a key: after its lease another attempt of the same request takes over.
  assert.equal(await idempotency.begin(keyB, "f1"), undefined);
  now += 4_000;
  await assert.rejects(idempotency.begin(keyB, "f1"), { code: "REQUEST_IN_PROGRESS" });
  await assert.rejects(idempotency.begin(keyB, "f2"), { code: "IDEMPOTENCY_KEY_REUSED" });
  now += 2_000;
  await assert.rejects(idempotency.begin(keyB, "f2"), { code: "IDEMPOTENCY_KEY_REUSED" });
  assert.equal(await idempotency.begin(keyB, "f1"), undefined, "taken over");

  // After lifetime + grace a key is forgotten: free for any request, and purged (begin purges once a minute).
  now += 71_000;
  assert.equal(await idempotency.begin(keyA, "f9"), undefined);
  assert.equal((await keys.get(keyA))?.fingerprint, "f9");
  assert.equal(await keys.get(keyB), undefined, "purged on the way");
  assert.equal(await keys.purgeExpired(now + 100_000), 1);
  assert.equal(await keys.get(keyA), undefined);
});
