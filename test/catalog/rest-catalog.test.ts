// The scenarios of store-catalog.test.ts, through RestCatalog against `floe serve` on a real port: the
// REST client must behave as the embedded catalog does (codes, atomicity, retries), plus concurrent
// FastAppend commits to one table and to several tables, none lost. It authenticates with OAuth2 client
// credentials, fetching a new token before the old one expires or when the server refuses it.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { RestCatalog } from "../../src/catalog/rest-catalog.ts";
import { FastAppend } from "../../src/iceberg/operations/append.ts";
import { ancestorsOf, currentSnapshot, metadataFileVersion } from "../../src/iceberg/table-metadata.ts";
import { Principals } from "../../src/server/auth/principals.ts";
import { issueToken } from "../../src/server/auth/tokens.ts";
import { startServer } from "../../src/server/server.ts";
import { dataFile, ordersSchema } from "../helpers/tables.ts";
import { catalogContract } from "./catalog-contract.ts";

const key = { accessKeyId: "catalog-client", secretAccessKey: "catalog-secret" };

async function restWarehouse(t: { after(fn: () => unknown): void }) {
  const dataDir = mkdtempSync(join(tmpdir(), "floe-rest-catalog-"));
  const server = await startServer({ dataDir, host: "127.0.0.1", port: 0, auth: { keys: [key] } });
  const bucket = await server.buckets.create("tables");
  const catalog = new RestCatalog({
    uri: server.catalogUri,
    warehouse: bucket.arn,
    credential: `${key.accessKeyId}:${key.secretAccessKey}`,
  });
  t.after(async () => {
    catalog.close();
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  return { catalog, server, bucket, io: server.buckets.io(bucket) };
}

catalogContract(restWarehouse);

test("the REST catalog is named after its bucket's ARN", async (t) => {
  const { catalog } = await restWarehouse(t);
  assert.equal(catalog.name, "arn:aws:s3tables:us-east-1:000000000000:bucket/tables");
});

test("8 concurrent FastAppends to one table and to several tables: none is lost", async (t) => {
  const { catalog } = await restWarehouse(t);
  await catalog.createNamespace(["shop"]);
  const ids = [0, 1, 2].map((i) => ({ namespace: ["shop"], name: `t${i}` }));
  const tables = await Promise.all(ids.map((id) => catalog.createTable(id, { schema: ordersSchema })));
  const [single] = tables;
  assert.ok(single);
  // Each writer starts from the same base; losers reload and retry.
  const oneTable = await Promise.all(
    Array.from({ length: 8 }, (_, i) =>
      new FastAppend(catalog, single)
        .appendFile(dataFile(single.metadata.location, i + 1))
        .commit({ minWaitMs: 1, maxWaitMs: 20, retries: 50 }),
    ),
  );
  const head = await catalog.loadTable(ids[0]!);
  const chain = ancestorsOf(head.metadata, currentSnapshot(head.metadata));
  assert.equal(chain.length, 8);
  assert.equal(currentSnapshot(head.metadata)?.summary["total-records"], String((8 * 9) / 2));
  assert.deepEqual(
    new Set(chain.map((s) => s.snapshotId)),
    new Set(oneTable.map((o) => o.result.snapshotId)),
  );
  assert.equal(metadataFileVersion(head.metadataLocation), 8);

  await Promise.all(
    Array.from({ length: 8 }, async (_, i) => {
      const table = tables[i % tables.length]!;
      const base = await catalog.loadTable(table.identifier);
      return new FastAppend(catalog, base)
        .appendFile(dataFile(base.metadata.location, 100))
        .commit({ minWaitMs: 1, maxWaitMs: 20, retries: 50 });
    }),
  );
  const counts = await Promise.all(
    ids.map(async (id) => {
      const m = (await catalog.loadTable(id)).metadata;
      return ancestorsOf(m, currentSnapshot(m)).length;
    }),
  );
  assert.deepEqual(counts, [8 + 3, 3, 2]);
});

/**
 * A token endpoint in front of the server's: hands out the server's tokens with `expires_in` rewritten,
 * or (first call, when asked) a token that has already expired; counts the grants.
 */
async function tokenProxy(
  t: { after(fn: () => unknown): void },
  serverTokens: string,
  options: { expiresIn?: number; firstExpired?: boolean },
) {
  let grants = 0;
  const proxy = createServer(async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    grants++;
    const upstream = await fetch(serverTokens, {
      method: "POST",
      headers: { "content-type": String(request.headers["content-type"]) },
      body: Buffer.concat(chunks),
    });
    const body = (await upstream.json()) as Record<string, unknown>;
    if (options.firstExpired && grants === 1) {
      const expiredKey = new Principals({ keys: [key] }, "000000000000").key(key.accessKeyId);
      assert.ok(expiredKey);
      body.access_token = issueToken(expiredKey, {
        ttlSeconds: 60,
        scope: "catalog",
        nowMs: Date.now() - 600_000,
      }).token;
    }
    if (options.expiresIn !== undefined) body.expires_in = options.expiresIn;
    response.writeHead(upstream.status, { "content-type": "application/json" }).end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  t.after(() => new Promise<void>((resolve) => proxy.close(() => resolve())));
  const address = proxy.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return { uri: `http://127.0.0.1:${port}/token`, grants: () => grants };
}

test("OAuth2 credential: one token is reused, fetched again shortly before it expires", async (t) => {
  const { server, bucket } = await restWarehouse(t);
  const proxy = await tokenProxy(t, `${server.catalogUri}/v1/oauth/tokens`, { expiresIn: 1 });
  const catalog = new RestCatalog({
    uri: server.catalogUri,
    warehouse: bucket.name,
    credential: `${key.accessKeyId}:${key.secretAccessKey}`,
    oauth2ServerUri: proxy.uri,
  });
  t.after(() => catalog.close());
  await catalog.createNamespace(["a"]);
  await catalog.listNamespaces();
  assert.equal(proxy.grants(), 1, "the token is cached");
  await new Promise((resolve) => setTimeout(resolve, 1000));
  assert.deepEqual(await catalog.listNamespaces(), [["a"]]);
  assert.equal(proxy.grants(), 2, "a new token before the old one expired");
});

test("OAuth2 credential: a token the server refuses (419) is replaced and the request sent again", async (t) => {
  const { server, bucket } = await restWarehouse(t);
  const proxy = await tokenProxy(t, `${server.catalogUri}/v1/oauth/tokens`, { firstExpired: true });
  const catalog = new RestCatalog({
    uri: server.catalogUri,
    warehouse: bucket.name,
    credential: `${key.accessKeyId}:${key.secretAccessKey}`,
    oauth2ServerUri: proxy.uri,
  });
  t.after(() => catalog.close());
  assert.deepEqual(await catalog.listNamespaces(), []);
  assert.equal(proxy.grants(), 2);
  // A static token is sent as given; a bad one is NOT_AUTHORIZED, not retried.
  const fixed = new RestCatalog({ uri: server.catalogUri, warehouse: bucket.name, token: "not-a-token" });
  await assert.rejects(
    fixed.listNamespaces(),
    (e: unknown) => e instanceof Error && /NotAuthorizedException/.test(e.message),
  );
  assert.throws(
    () => new RestCatalog({ uri: server.catalogUri, credential: "no-colon" }),
    /CLIENT_ID:CLIENT_SECRET/,
  );
});
