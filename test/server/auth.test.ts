// Authentication and authorization of `floe serve` end to end, over a real port: SigV4 from
// @aws-sdk/client-s3tables (right key, wrong secret, unknown key, no credentials, a body changed after
// signing, a skewed clock, a presigned URL), the OAuth2 token endpoint and bearer tokens, resource
// policies enforced on both APIs with identical 403s for forbidden and missing tables, explicit Deny
// winning, anonymous access only when enabled, and the AWS CLI (`aws s3tables --endpoint-url`).
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createHash, createHmac } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import * as S3T from "@aws-sdk/client-s3tables";
import { SignatureV4 } from "@smithy/signature-v4";
import { CatalogError } from "../../src/catalog/errors.ts";
import { RestCatalog } from "../../src/catalog/rest-catalog.ts";
import { AuthError } from "../../src/server/auth/errors.ts";
import { Principals } from "../../src/server/auth/principals.ts";
import { issueToken } from "../../src/server/auth/tokens.ts";
import { type RunningServer, type ServerSettings, startServer } from "../../src/server/server.ts";
import { ordersSchema } from "../helpers/tables.ts";

const account = "111122223333";
const owner = { accessKeyId: "OWNERKEY", secretAccessKey: "owner-secret" };
const reader = {
  accessKeyId: "READERKEY",
  secretAccessKey: "reader-secret",
  principal: "arn:aws:iam::444455556666:user/reader",
};
const bucketArn = `arn:aws:s3tables:us-east-1:${account}:bucket/lake`;

async function authServer(
  t: { after(fn: () => unknown): void },
  auth: ServerSettings["auth"] = { keys: [owner, reader] },
): Promise<RunningServer> {
  const dataDir = mkdtempSync(join(tmpdir(), "floe-auth-"));
  const server = await startServer({
    dataDir,
    host: "127.0.0.1",
    port: 0,
    logger: false,
    accountId: account,
    maintenanceIntervalMs: 0,
    auth,
  });
  t.after(async () => {
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  return server;
}

function s3tables(
  server: RunningServer,
  credentials: { accessKeyId: string; secretAccessKey: string },
  options: Partial<S3T.S3TablesClientConfig> = {},
) {
  const client = new S3T.S3TablesClient({
    endpoint: server.url,
    region: "us-east-1",
    credentials,
    maxAttempts: 1,
    ...options,
  });
  return client;
}

async function rejects(promise: Promise<unknown>, name: string, status: number): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof S3T.S3TablesServiceException, `not an S3 Tables error: ${String(error)}`);
    assert.equal(error.name, name, error.message);
    assert.equal(error.$metadata.httpStatusCode, status);
    return error;
  }
  assert.fail(`expected ${name}`);
}

async function token(server: RunningServer, key: { accessKeyId: string; secretAccessKey: string }) {
  const response = await fetch(`${server.catalogUri}/v1/oauth/tokens`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "client_credentials",
      client_id: key.accessKeyId,
      client_secret: key.secretAccessKey,
    }).toString(),
  });
  assert.equal(response.status, 200);
  return ((await response.json()) as { access_token: string }).access_token;
}

const bearer = (value: string) => ({ authorization: `Bearer ${value}` });

/** Owner's setup: bucket lake, namespace shop, tables orders and secret; returns the orders table ARN. */
async function lake(server: RunningServer) {
  const client = s3tables(server, owner);
  await client.send(new S3T.CreateTableBucketCommand({ name: "lake" }));
  const catalog = new RestCatalog({
    uri: server.catalogUri,
    warehouse: "lake",
    credential: `${owner.accessKeyId}:${owner.secretAccessKey}`,
  });
  await catalog.createNamespace(["shop"]);
  await catalog.createTable({ namespace: ["shop"], name: "orders" }, { schema: ordersSchema });
  await catalog.createTable({ namespace: ["shop"], name: "secret" }, { schema: ordersSchema });
  const orders = await client.send(
    new S3T.GetTableCommand({ tableBucketARN: bucketArn, namespace: "shop", name: "orders" }),
  );
  return { client, catalog, ordersArn: String(orders.tableARN) };
}

test("SigV4 from @aws-sdk/client-s3tables: the right key works, everything else is refused", async (t) => {
  const server = await authServer(t);
  const good = s3tables(server, owner);
  t.after(() => good.destroy());
  const created = await good.send(new S3T.CreateTableBucketCommand({ name: "lake" }));
  assert.equal(created.arn, bucketArn);

  const wrongSecret = s3tables(server, { ...owner, secretAccessKey: "guess" });
  const mismatch = await rejects(
    wrongSecret.send(new S3T.ListTableBucketsCommand({})),
    "InvalidSignatureException",
    403,
  );
  assert.match(mismatch.message, /signature we calculated does not match/);

  const unknown = s3tables(server, { accessKeyId: "NOBODY", secretAccessKey: "x" });
  const unrecognized = await rejects(
    unknown.send(new S3T.ListTableBucketsCommand({})),
    "UnrecognizedClientException",
    403,
  );
  assert.match(unrecognized.message, /access key NOBODY is not configured/);

  const unsigned = await fetch(`${server.url}/buckets`);
  assert.equal(unsigned.status, 401);
  assert.equal(unsigned.headers.get("x-amzn-errortype"), "MissingAuthenticationTokenException");
  assert.match(((await unsigned.json()) as { message: string }).message, /no credentials/);

  // A body changed after the SDK signed it (a middleware after signing rewrites it on the way out).
  const tampering = s3tables(server, owner);
  tampering.middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as { body?: string | Uint8Array };
      const text =
        typeof request.body === "string" ? request.body : Buffer.from(request.body ?? []).toString();
      request.body = text.replace("tampered-a", "tampered-b");
      return next(args);
    },
    { step: "deserialize", name: "tamperBody" },
  );
  await rejects(
    tampering.send(new S3T.CreateTableBucketCommand({ name: "tampered-a" })),
    "InvalidSignatureException",
    403,
  );
  const names = (await good.send(new S3T.ListTableBucketsCommand({}))).tableBuckets?.map((b) => b.name);
  assert.deepEqual(names, ["lake"], "nothing was created by the tampered request");

  // A client clock 20 minutes slow signs with a time the server refuses.
  const skewed = s3tables(server, owner, { systemClockOffset: -20 * 60 * 1000 });
  const expired = await rejects(
    skewed.send(new S3T.ListTableBucketsCommand({})),
    "InvalidSignatureException",
    403,
  );
  assert.match(expired.message, /Signature expired/);

  // A presigned URL (query-string SigV4) works until it expires.
  const signer = new SignatureV4({
    credentials: owner,
    region: "us-east-1",
    service: "s3tables",
    uriEscapePath: true,
    sha256: class {
      readonly hash;
      constructor(secret?: unknown) {
        this.hash = secret === undefined ? createHash("sha256") : createHmac("sha256", secret as string);
      }
      update(data: string | Uint8Array) {
        this.hash.update(data);
      }
      async digest() {
        return new Uint8Array(this.hash.digest());
      }
    },
  });
  const { host, port } = new URL(server.url);
  const presigned = (await signer.presign(
    {
      method: "GET",
      protocol: "http:",
      hostname: host.split(":")[0] as string,
      port: Number(port),
      path: "/buckets",
      query: {},
      headers: { host },
    },
    { expiresIn: 60 },
  )) as { query: Record<string, string> };
  const url = new URL(`${server.url}/buckets`);
  for (const [k, v] of Object.entries(presigned.query)) url.searchParams.set(k, v);
  const viaUrl = await fetch(url);
  assert.equal(viaUrl.status, 200);
  assert.deepEqual(
    ((await viaUrl.json()) as { tableBuckets: Array<{ name: string }> }).tableBuckets.map((b) => b.name),
    ["lake"],
  );
  for (const client of [wrongSecret, unknown, tampering, skewed]) client.destroy();
});

test("OAuth2 client credentials: tokens, refresh by token exchange, and the spec's error shapes", async (t) => {
  const server = await authServer(t);
  const endpoint = `${server.catalogUri}/v1/oauth/tokens`;
  const post = (body: Record<string, string>, headers: Record<string, string> = {}) =>
    fetch(endpoint, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
      body: new URLSearchParams(body).toString(),
    });

  const granted = await post({
    grant_type: "client_credentials",
    client_id: owner.accessKeyId,
    client_secret: owner.secretAccessKey,
    scope: "catalog",
  });
  assert.equal(granted.status, 200);
  assert.equal(granted.headers.get("cache-control"), "no-store");
  const body = (await granted.json()) as Record<string, unknown>;
  assert.deepEqual(Object.keys(body).sort(), [
    "access_token",
    "expires_in",
    "issued_token_type",
    "scope",
    "token_type",
  ]);
  assert.equal(body.token_type, "bearer");
  assert.equal(body.expires_in, 3600);
  assert.equal(body.issued_token_type, "urn:ietf:params:oauth:token-type:access_token");
  assert.equal(body.scope, "catalog");
  const accessToken = String(body.access_token);
  const [, claims] = accessToken.split(".");
  assert.equal(
    JSON.parse(Buffer.from(String(claims), "base64url").toString()).sub,
    `arn:aws:iam::${account}:root`,
  );

  // The token works on both APIs.
  const config = await fetch(`${server.catalogUri}/v1/config`, { headers: bearer(accessToken) });
  assert.equal(config.status, 400, "authenticated; no bucket exists yet");
  assert.equal((await fetch(`${server.url}/buckets`, { headers: bearer(accessToken) })).status, 200);

  // HTTP Basic client authentication (RFC 6749 §2.3.1) works too.
  const basic = Buffer.from(`${reader.accessKeyId}:${reader.secretAccessKey}`).toString("base64");
  const viaBasic = await post({ grant_type: "client_credentials" }, { authorization: `Basic ${basic}` });
  assert.equal(viaBasic.status, 200);

  // Token exchange refreshes a still-valid token for the same principal.
  const exchanged = await post({
    grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
    subject_token: accessToken,
    subject_token_type: "urn:ietf:params:oauth:token-type:access_token",
  });
  assert.equal(exchanged.status, 200);
  const refreshed = String(((await exchanged.json()) as { access_token: string }).access_token);
  assert.equal((await fetch(`${server.url}/buckets`, { headers: bearer(refreshed) })).status, 200);

  const error = async (response: Response, status: number, code: string) => {
    assert.equal(response.status, status);
    const json = (await response.json()) as { error: string; error_description: string };
    assert.equal(json.error, code);
    assert.ok(json.error_description.length > 0);
  };
  await error(
    await post({ grant_type: "client_credentials", client_id: owner.accessKeyId, client_secret: "guess" }),
    401,
    "invalid_client",
  );
  await error(
    await post({ grant_type: "client_credentials", client_id: "NOBODY", client_secret: "x" }),
    401,
    "invalid_client",
  );
  await error(await post({ grant_type: "client_credentials" }), 401, "invalid_client");
  await error(
    await post({ grant_type: "password", username: "a", password: "b" }),
    400,
    "unsupported_grant_type",
  );
  await error(
    await post({
      grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
      subject_token: `${accessToken}x`,
      subject_token_type: "urn:ietf:params:oauth:token-type:access_token",
    }),
    400,
    "invalid_grant",
  );
});

test("Iceberg REST: 401 NotAuthorizedException without valid credentials, 419 for an expired token", async (t) => {
  const server = await authServer(t);
  const errorOf = async (response: Response) =>
    (await response.json()) as { error: { message: string; type: string; code: number } };

  const none = await fetch(`${server.catalogUri}/v1/config?warehouse=lake`);
  assert.equal(none.status, 401);
  const noneBody = await errorOf(none);
  assert.equal(noneBody.error.type, "NotAuthorizedException");
  assert.equal(noneBody.error.code, 401);
  assert.match(noneBody.error.message, /oauth\/tokens/);

  const forged = await fetch(`${server.catalogUri}/v1/config`, { headers: bearer("a.b.c") });
  assert.equal(forged.status, 401);
  assert.equal((await errorOf(forged)).error.type, "NotAuthorizedException");

  const basic = await fetch(`${server.catalogUri}/v1/config`, { headers: { authorization: "Basic eDp5" } });
  assert.equal(basic.status, 401);

  const principals = new Principals({ keys: [owner, reader] }, account);
  const key = principals.key(owner.accessKeyId);
  assert.ok(key);
  const stale = issueToken(key, { ttlSeconds: 60, scope: "catalog", nowMs: Date.now() - 120_000 }).token;
  const expired = await fetch(`${server.catalogUri}/v1/config`, { headers: bearer(stale) });
  assert.equal(expired.status, 419);
  assert.equal((await errorOf(expired)).error.type, "AuthenticationTimeoutException");

  // A token of a key the server does not have (another server's secret) is refused.
  const foreign = new Principals({ keys: [{ ...owner, secretAccessKey: "other" }] }, account).key(
    owner.accessKeyId,
  );
  assert.ok(foreign);
  const wrong = await fetch(`${server.catalogUri}/v1/config`, {
    headers: bearer(issueToken(foreign, { ttlSeconds: 600, scope: "catalog" }).token),
  });
  assert.equal(wrong.status, 401);

  // RestCatalog without credentials says how to pass them; with a wrong one, the token endpoint's refusal.
  const anonymous = new RestCatalog({ uri: server.catalogUri, warehouse: "lake" });
  await assert.rejects(
    anonymous.listNamespaces(),
    (e: unknown) =>
      e instanceof CatalogError && e.code === "NOT_AUTHORIZED" && /--credential/.test(e.message),
  );
  const guessing = new RestCatalog({
    uri: server.catalogUri,
    warehouse: "lake",
    credential: "OWNERKEY:guess",
  });
  await assert.rejects(
    guessing.listNamespaces(),
    (e: unknown) =>
      e instanceof CatalogError && e.code === "NOT_AUTHORIZED" && /invalid_client/.test(e.message),
  );
});

test("policies on both APIs: a reader allowed to read one table loads it, cannot commit, and gets the same 403 for a forbidden and a missing table", async (t) => {
  const server = await authServer(t);
  const { client: ownerClient, ordersArn } = await lake(server);
  t.after(() => ownerClient.destroy());
  // Clients connect through /v1/config (GetTableBucket on the bucket); reading a table is
  // GetTableMetadataLocation + GetTableData on it, as on AWS's S3 Tables Iceberg endpoint.
  await ownerClient.send(
    new S3T.PutTableBucketPolicyCommand({
      tableBucketARN: bucketArn,
      resourcePolicy: JSON.stringify({
        Statement: [
          {
            Effect: "Allow",
            Principal: { AWS: reader.principal },
            Action: "s3tables:GetTableBucket",
            Resource: bucketArn,
          },
        ],
      }),
    }),
  );
  await ownerClient.send(
    new S3T.PutTablePolicyCommand({
      tableBucketARN: bucketArn,
      namespace: "shop",
      name: "orders",
      resourcePolicy: JSON.stringify({
        Version: "2012-10-17",
        Statement: [
          {
            Effect: "Allow",
            Principal: { AWS: reader.principal },
            Action: ["s3tables:GetTableData", "s3tables:GetTableMetadataLocation"],
            Resource: ordersArn,
          },
        ],
      }),
    }),
  );

  // Iceberg REST, as the reader through RestCatalog (OAuth2 client credentials).
  const catalog = new RestCatalog({
    uri: server.catalogUri,
    warehouse: "lake",
    credential: `${reader.accessKeyId}:${reader.secretAccessKey}`,
  });
  const readerToken = await token(server, reader);
  const rest = (method: string, path: string, body?: unknown) =>
    fetch(`${server.catalogUri}/v1/lake/${path}`, {
      method,
      headers: { ...bearer(readerToken), ...(body ? { "content-type": "application/json" } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
  const load = await rest("GET", "namespaces/shop/tables/orders");
  assert.equal(load.status, 200);
  assert.match(((await load.json()) as { "metadata-location": string })["metadata-location"], /orders/);
  assert.equal((await rest("GET", "namespaces/shop/tables/orders/credentials")).status, 200);

  const forbidden = await rest("GET", "namespaces/shop/tables/secret");
  const missing = await rest("GET", "namespaces/shop/tables/nothere");
  assert.equal(forbidden.status, 403);
  assert.equal(missing.status, 403);
  const forbiddenBody = (await forbidden.json()) as { error: { message: string; type: string } };
  const missingBody = (await missing.json()) as { error: { message: string; type: string } };
  assert.equal(forbiddenBody.error.type, "ForbiddenException");
  assert.deepEqual(
    {
      ...forbiddenBody,
      error: { ...forbiddenBody.error, message: forbiddenBody.error.message.replace("secret", "T") },
    },
    {
      ...missingBody,
      error: { ...missingBody.error, message: missingBody.error.message.replace("nothere", "T") },
    },
    "a forbidden table and a missing one are indistinguishable",
  );
  assert.match(
    forbiddenBody.error.message,
    /arn:aws:iam::444455556666:user\/reader is not authorized to perform: s3tables:GetTableMetadataLocation/,
  );
  assert.equal((await rest("HEAD", "namespaces/shop/tables/secret")).status, 403);
  assert.equal((await rest("HEAD", "namespaces/shop/tables/nothere")).status, 403);
  assert.equal((await rest("GET", "namespaces/shop/tables")).status, 403, "no ListTables");
  assert.equal((await rest("GET", "namespaces")).status, 403, "no ListNamespaces");
  assert.equal((await rest("DELETE", "namespaces/shop/tables/orders")).status, 403, "no DeleteTable");

  // Committing needs UpdateTableMetadataLocation + PutTableData: refused, and the table is unchanged.
  const loaded = await catalog.loadTable({ namespace: ["shop"], name: "orders" });
  await assert.rejects(
    catalog.commitTable({
      identifier: loaded.identifier,
      requirements: [{ type: "assert-table-uuid", uuid: loaded.metadata.tableUuid }],
      updates: [{ action: "set-properties", updates: { touched: "yes" } }],
    }),
    (e: unknown) => e instanceof CatalogError && e.code === "FORBIDDEN",
  );
  const commit = await rest("POST", "transactions/commit", {
    "table-changes": [{ identifier: { namespace: ["shop"], name: "orders" }, requirements: [], updates: [] }],
  });
  assert.equal(commit.status, 403);
  assert.equal(
    (await catalog.loadTable({ namespace: ["shop"], name: "orders" })).metadataLocation,
    loaded.metadataLocation,
  );

  // The S3 Tables API, as the reader signing with SigV4: the same rules.
  const readerClient = s3tables(server, reader);
  t.after(() => readerClient.destroy());
  const location = await readerClient.send(
    new S3T.GetTableMetadataLocationCommand({ tableBucketARN: bucketArn, namespace: "shop", name: "orders" }),
  );
  assert.equal(location.metadataLocation, loaded.metadataLocation);
  const deniedSecret = await rejects(
    readerClient.send(
      new S3T.GetTableMetadataLocationCommand({
        tableBucketARN: bucketArn,
        namespace: "shop",
        name: "secret",
      }),
    ),
    "AccessDeniedException",
    403,
  );
  const deniedMissing = await rejects(
    readerClient.send(
      new S3T.GetTableMetadataLocationCommand({
        tableBucketARN: bucketArn,
        namespace: "shop",
        name: "nothere",
      }),
    ),
    "AccessDeniedException",
    403,
  );
  assert.equal(deniedSecret.message.replace("secret", "T"), deniedMissing.message.replace("nothere", "T"));
  await rejects(
    readerClient.send(
      new S3T.UpdateTableMetadataLocationCommand({
        tableBucketARN: bucketArn,
        namespace: "shop",
        name: "orders",
        versionToken: String(location.versionToken),
        metadataLocation: String(location.metadataLocation),
      }),
    ),
    "AccessDeniedException",
    403,
  );
  await rejects(
    readerClient.send(new S3T.GetTableCommand({ tableArn: ordersArn })),
    "AccessDeniedException",
    403,
  );
  await rejects(readerClient.send(new S3T.ListTableBucketsCommand({})), "AccessDeniedException", 403);
  await rejects(
    readerClient.send(new S3T.GetTableBucketPolicyCommand({ tableBucketARN: bucketArn })),
    "AccessDeniedException",
    403,
  );
  await rejects(
    readerClient.send(new S3T.CreateNamespaceCommand({ tableBucketARN: bucketArn, namespace: ["mine"] })),
    "AccessDeniedException",
    403,
  );

  // A bucket policy granting reads on every table: now a missing table is a plain 404 (it may see all).
  await ownerClient.send(
    new S3T.PutTableBucketPolicyCommand({
      tableBucketARN: bucketArn,
      resourcePolicy: JSON.stringify({
        Statement: [
          {
            Effect: "Allow",
            Principal: { AWS: "444455556666" },
            Action: "s3tables:Get*",
            Resource: `${bucketArn}/table/*`,
          },
        ],
      }),
    }),
  );
  assert.equal((await rest("GET", "namespaces/shop/tables/secret")).status, 200);
  assert.equal((await rest("GET", "namespaces/shop/tables/nothere")).status, 404);
});

test("an explicit Deny wins over the owner and over Allows; the owner can still remove the policy", async (t) => {
  const server = await authServer(t);
  const { client: ownerClient, catalog, ordersArn } = await lake(server);
  t.after(() => ownerClient.destroy());
  await ownerClient.send(
    new S3T.PutTableBucketPolicyCommand({
      tableBucketARN: bucketArn,
      resourcePolicy: JSON.stringify({
        Statement: [
          { Effect: "Allow", Principal: { AWS: reader.principal }, Action: "s3tables:*", Resource: "*" },
          {
            Effect: "Deny",
            Principal: "*",
            Action: ["s3tables:PutTableData", "s3tables:DeleteTable"],
            Resource: ordersArn,
          },
        ],
      }),
    }),
  );
  const table = await catalog.loadTable({ namespace: ["shop"], name: "orders" });
  const change = {
    identifier: table.identifier,
    requirements: [],
    updates: [{ action: "set-properties" as const, updates: { frozen: "no" } }],
  };
  await assert.rejects(
    catalog.commitTable(change),
    (e: unknown) => e instanceof CatalogError && e.code === "FORBIDDEN",
  );
  const readerCatalog = new RestCatalog({
    uri: server.catalogUri,
    warehouse: "lake",
    credential: `${reader.accessKeyId}:${reader.secretAccessKey}`,
  });
  await assert.rejects(
    readerCatalog.commitTable(change),
    (e: unknown) => e instanceof CatalogError && e.code === "FORBIDDEN",
  );
  await rejects(
    ownerClient.send(
      new S3T.DeleteTableCommand({ tableBucketARN: bucketArn, namespace: "shop", name: "orders" }),
    ),
    "AccessDeniedException",
    403,
  );
  // Everything else stays allowed: the reader commits to the other table, the owner lifts the Deny.
  await readerCatalog.commitTable({ ...change, identifier: { namespace: ["shop"], name: "secret" } });
  await ownerClient.send(new S3T.DeleteTableBucketPolicyCommand({ tableBucketARN: bucketArn }));
  await catalog.commitTable(change);
});

test("policy Conditions on both APIs: namespace and table-name keys scope a reader, a source-IP Deny binds the owner", async (t) => {
  const server = await authServer(t);
  const { client: ownerClient, catalog } = await lake(server);
  t.after(() => ownerClient.destroy());
  await catalog.createNamespace(["hr"]);
  await catalog.createTable({ namespace: ["hr"], name: "salaries" }, { schema: ordersSchema });
  const readShopExceptSecrets = {
    Effect: "Allow",
    Principal: { AWS: reader.principal },
    Action: ["s3tables:GetTable", "s3tables:GetTableData", "s3tables:GetTableMetadataLocation"],
    Resource: `${bucketArn}/table/*`,
    Condition: {
      StringEquals: { "s3tables:namespace": "shop" },
      StringNotLike: { "s3tables:tableName": "secret*" },
    },
  };
  await ownerClient.send(
    new S3T.PutTableBucketPolicyCommand({
      tableBucketARN: bucketArn,
      resourcePolicy: JSON.stringify({
        Statement: [
          {
            Effect: "Allow",
            Principal: { AWS: reader.principal },
            Action: "s3tables:GetTableBucket",
            Resource: bucketArn,
          },
          readShopExceptSecrets,
        ],
      }),
    }),
  );
  const readerToken = await token(server, reader);
  const load = (table: string) =>
    fetch(`${server.catalogUri}/v1/lake/namespaces/${table}`, { headers: bearer(readerToken) }).then(
      (r) => r.status,
    );
  assert.equal(await load("shop/tables/orders"), 200);
  assert.equal(await load("shop/tables/secret"), 403);
  assert.equal(await load("hr/tables/salaries"), 403);
  const readerClient = s3tables(server, reader);
  t.after(() => readerClient.destroy());
  const got = await readerClient.send(
    new S3T.GetTableCommand({ tableBucketARN: bucketArn, namespace: "shop", name: "orders" }),
  );
  assert.equal(got.name, "orders");
  // By ARN the keys are the table's own name and namespace.
  await rejects(
    readerClient.send(
      new S3T.GetTableCommand({
        tableArn: String(
          (
            await ownerClient.send(
              new S3T.GetTableCommand({ tableBucketARN: bucketArn, namespace: "hr", name: "salaries" }),
            )
          ).tableARN,
        ),
      }),
    ),
    "AccessDeniedException",
    403,
  );
  await rejects(
    readerClient.send(
      new S3T.GetTableCommand({ tableBucketARN: bucketArn, namespace: "shop", name: "secret" }),
    ),
    "AccessDeniedException",
    403,
  );

  // A Deny unless the caller is in 10.0.0.0/8: the owner on 127.0.0.1 may no longer drop tables.
  await ownerClient.send(
    new S3T.PutTableBucketPolicyCommand({
      tableBucketARN: bucketArn,
      resourcePolicy: JSON.stringify({
        Statement: [
          {
            Effect: "Deny",
            Principal: "*",
            Action: "s3tables:DeleteTable",
            Resource: `${bucketArn}/table/*`,
            Condition: { NotIpAddress: { "aws:SourceIp": "10.0.0.0/8" } },
          },
        ],
      }),
    }),
  );
  await rejects(
    ownerClient.send(
      new S3T.DeleteTableCommand({ tableBucketARN: bucketArn, namespace: "hr", name: "salaries" }),
    ),
    "AccessDeniedException",
    403,
  );
  await ownerClient.send(
    new S3T.PutTableBucketPolicyCommand({
      tableBucketARN: bucketArn,
      resourcePolicy: JSON.stringify({
        Statement: [
          {
            Effect: "Deny",
            Principal: "*",
            Action: "s3tables:DeleteTable",
            Resource: `${bucketArn}/table/*`,
            Condition: { NotIpAddress: { "aws:SourceIp": ["10.0.0.0/8", "127.0.0.0/8", "::1/128"] } },
          },
        ],
      }),
    }),
  );
  await ownerClient.send(
    new S3T.DeleteTableCommand({ tableBucketARN: bucketArn, namespace: "hr", name: "salaries" }),
  );

  // A Condition Floe cannot evaluate is refused when put, with the reason.
  const refused = await rejects(
    ownerClient.send(
      new S3T.PutTableBucketPolicyCommand({
        tableBucketARN: bucketArn,
        resourcePolicy: JSON.stringify({
          Statement: [
            {
              Effect: "Deny",
              Principal: "*",
              Action: "*",
              Condition: { Bool: { "aws:SecureTransport": "false" } },
            },
          ],
        }),
      }),
    ),
    "BadRequestException",
    400,
  );
  assert.match(refused.message, /Condition\.Bool: floe serve evaluates only the operators/);
});

test("anonymous access only when enabled; no keys and no anonymous refuses to start", async (t) => {
  await assert.rejects(
    authServer(t, {}),
    (e: unknown) =>
      e instanceof AuthError &&
      e.code === "NOT_CONFIGURED" &&
      /--auth-key/.test(e.message) &&
      /--allow-anonymous/.test(e.message),
  );
  const open = await authServer(t, { anonymous: true, keys: [owner] });
  const created = await fetch(`${open.url}/buckets`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name: "lake" }),
  });
  assert.equal(created.status, 200, "anonymous callers act as the owner");
  // Credentials that are present but wrong are never treated as anonymous.
  const wrong = s3tables(open, { ...owner, secretAccessKey: "guess" });
  t.after(() => wrong.destroy());
  await rejects(wrong.send(new S3T.ListTableBucketsCommand({})), "InvalidSignatureException", 403);
  // An explicit Deny for everyone binds anonymous callers too.
  const ownerClient = s3tables(open, owner);
  t.after(() => ownerClient.destroy());
  await ownerClient.send(
    new S3T.PutTableBucketPolicyCommand({
      tableBucketARN: bucketArn,
      resourcePolicy: JSON.stringify({
        Statement: [
          { Effect: "Deny", Principal: "*", Action: "s3tables:CreateNamespace", Resource: bucketArn },
        ],
      }),
    }),
  );
  const denied = await fetch(`${open.catalogUri}/v1/lake/namespaces`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ namespace: ["x"] }),
  });
  assert.equal(denied.status, 403);
  assert.equal(((await denied.json()) as { error: { type: string } }).error.type, "ForbiddenException");

  const closed = await authServer(t, { keys: [owner] });
  const refused = await fetch(`${closed.url}/buckets`);
  assert.equal(refused.status, 401);
  assert.equal((await fetch(`${closed.url}/healthz`)).status, 200, "health stays open");
  assert.equal((await fetch(`${closed.url}/metrics`)).status, 200, "metrics stay open");
  assert.match(
    await (await fetch(`${closed.url}/metrics`)).text(),
    /floe_auth_rejections_total\{reason="MISSING_CREDENTIALS"\} 1/,
  );
});

/** Runs the AWS CLI without blocking the event loop (the server answering it runs in this process). */
function awsCli(args: string[], credentials: { accessKeyId: string; secretAccessKey: string }) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn("aws", args, {
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        AWS_ACCESS_KEY_ID: credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
        AWS_DEFAULT_REGION: "us-east-1",
        AWS_CONFIG_FILE: "/dev/null",
        AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
        AWS_EC2_METADATA_DISABLED: "true",
        AWS_MAX_ATTEMPTS: "1",
      },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
    });
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

const hasAwsCli = spawnSync("aws", ["--version"], { encoding: "utf8" }).status === 0;

test("the AWS CLI (aws s3tables --endpoint-url) signs with SigV4 and is verified", {
  skip: !hasAwsCli && "no aws CLI",
}, async (t) => {
  const server = await authServer(t);
  const endpoint = ["--endpoint-url", server.url, "--output", "json"];
  const created = await awsCli(["s3tables", "create-table-bucket", "--name", "lake", ...endpoint], owner);
  assert.equal(created.code, 0, created.stderr);
  assert.equal(JSON.parse(created.stdout).arn, bucketArn);
  const got = await awsCli(
    ["s3tables", "get-table-bucket", "--table-bucket-arn", bucketArn, ...endpoint],
    owner,
  );
  assert.equal(got.code, 0, got.stderr);
  assert.equal(JSON.parse(got.stdout).name, "lake");
  const listed = await awsCli(["s3tables", "list-table-buckets", ...endpoint], owner);
  assert.deepEqual(
    JSON.parse(listed.stdout).tableBuckets.map((b: { name: string }) => b.name),
    ["lake"],
  );
  const wrong = await awsCli(["s3tables", "list-table-buckets", ...endpoint], {
    ...owner,
    secretAccessKey: "guess",
  });
  assert.notEqual(wrong.code, 0);
  assert.match(wrong.stderr, /InvalidSignatureException/);
  const reading = await awsCli(["s3tables", "list-table-buckets", ...endpoint], reader);
  assert.notEqual(reading.code, 0);
  assert.match(reading.stderr, /AccessDeniedException/);
});
