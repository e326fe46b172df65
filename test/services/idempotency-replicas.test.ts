// Idempotency-Key across two `floe serve` replicas sharing one PostgreSQL catalog store: a commit sent
// to replica A and retried on replica B is replayed by B from the shared store (same bytes, no second
// commit); concurrent duplicates on both replicas run once; a key reused on B for another request is 422.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { localLocationOf } from "../../src/io/index.ts";
import { type RunningServer, startServer } from "../../src/server/server.ts";
import { createTestDatabase, defer } from "../helpers/services.ts";

const key = { accessKeyId: "replicas", secretAccessKey: "replicas-secret" };
const schema = {
  type: "struct",
  "schema-id": 0,
  fields: [{ id: 1, name: "id", required: true, type: "long" }],
};

async function twoReplicas(t: { after(fn: () => unknown): void }): Promise<RunningServer[]> {
  const catalogStore = await createTestDatabase(t, "floe_idempotency");
  const root = mkdtempSync(join(tmpdir(), "floe-idempotency-replicas-"));
  defer(t, () => rmSync(root, { recursive: true, force: true }));
  const servers: RunningServer[] = [];
  for (const name of ["a", "b"]) {
    const server = await startServer({
      dataDir: join(root, name),
      catalogStore,
      storageRoot: localLocationOf(join(root, "shared")), // both replicas reach it
      host: "127.0.0.1",
      port: 0,
      logger: false,
      auth: { keys: [key] },
    });
    defer(t, () => server.close());
    servers.push(server);
  }
  return servers;
}

async function tokenOf(server: RunningServer): Promise<string> {
  const response = await fetch(`${server.catalogUri}/v1/oauth/tokens`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "client_credentials",
      client_id: key.accessKeyId,
      client_secret: key.secretAccessKey,
    }),
  });
  return ((await response.json()) as { access_token: string }).access_token;
}

test("a retry on another replica replays the response stored by the first (PostgreSQL store)", async (t) => {
  const [a, b] = await twoReplicas(t);
  assert.ok(a && b);
  await a.buckets.create("lake");
  const token = await tokenOf(a);
  const call = (
    server: RunningServer,
    method: string,
    path: string,
    body: unknown,
    idempotencyKey?: string,
  ) =>
    fetch(`${server.catalogUri}/v1/lake/${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        "content-type": "application/json",
        ...(idempotencyKey ? { "idempotency-key": idempotencyKey } : {}),
      },
      body: JSON.stringify(body),
    }).then(async (response) => ({
      status: response.status,
      replayed: response.headers.get("idempotent-replayed"),
      etag: response.headers.get("etag"),
      text: await response.text(),
    }));

  const config = await fetch(`${b.catalogUri}/v1/config?warehouse=lake`, {
    headers: { authorization: `Bearer ${token}` },
  }).then((r) => r.json() as Promise<Record<string, unknown>>);
  assert.equal(config["idempotency-key-lifetime"], "PT30M");

  assert.equal((await call(a, "POST", "namespaces", { namespace: ["shop"] })).status, 200);
  const createKey = "0190b6a4-4f3e-7a61-9d2b-0c5e8f1a2b01";
  const created = await call(a, "POST", "namespaces/shop/tables", { name: "orders", schema }, createKey);
  assert.equal(created.status, 200, created.text);
  const createdOnB = await call(b, "POST", "namespaces/shop/tables", { name: "orders", schema }, createKey);
  assert.deepEqual(createdOnB, { ...created, replayed: "true" });

  const uuid = (JSON.parse(created.text) as { metadata: { "table-uuid": string } }).metadata["table-uuid"];
  const commit = {
    requirements: [{ type: "assert-table-uuid", uuid }],
    updates: [{ action: "set-properties", updates: { step: "1" } }],
  };
  const commitKey = "0190b6a4-4f3e-7a61-9d2b-0c5e8f1a2b02";
  // The same commit sent to both replicas at once, twice each: it runs once.
  const commits = await Promise.all(
    [a, b, a, b].map((server) => call(server, "POST", "namespaces/shop/tables/orders", commit, commitKey)),
  );
  assert.deepEqual(
    commits.map((c) => c.status),
    [200, 200, 200, 200],
  );
  assert.equal(new Set(commits.map((c) => c.text)).size, 1);
  assert.equal(commits.filter((c) => c.replayed === "true").length, 3);
  const table = await b.buckets
    .catalog(await b.buckets.get("lake"))
    .loadTable({ namespace: ["shop"], name: "orders" });
  assert.equal(table.metadata.metadataLog.length, 1, "one commit after the create");
  assert.equal(
    table.metadataLocation,
    (JSON.parse(commits[0]?.text ?? "{}") as { "metadata-location": string })["metadata-location"],
  );

  const reused = await call(b, "POST", "namespaces", { namespace: ["other"] }, commitKey);
  assert.equal(reused.status, 422);
  assert.equal(
    (JSON.parse(reused.text) as { error: { type: string } }).error.type,
    "UnprocessableEntityException",
  );
});
