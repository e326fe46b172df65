import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import * as S3T from "@aws-sdk/client-s3tables";
import { RestCatalog } from "../../src/catalog/rest-catalog.ts";
import { startServer } from "../../src/server/server.ts";

async function s3tablesServer(t: { after(fn: () => unknown): void }) {
  const dataDir = mkdtempSync(join(tmpdir(), "floe-s3tables-"));
  const server = await startServer({
    dataDir,
    host: "127.0.0.1",
    port: 0,
    region: "eu-west-1",
    accountId: "123456789012",
    auth: { keys: [{ accessKeyId: "test", secretAccessKey: "test" }] },
  });
  const client = new S3T.S3TablesClient({
    endpoint: server.url,
    region: "eu-west-1",
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
    maxAttempts: 1,
  });
  t.after(async () => {
    client.destroy();
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  return { server, client };
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

const schema = {
  fields: [
    { name: "id", type: "long", required: true },
    { name: "amount", type: "decimal(10,2)" },
    { name: "at", type: "timestamptz" },
  ],
};

test("table buckets: create, get, list with prefix and pagination, delete; naming rules", async (t) => {
  const { client } = await s3tablesServer(t);
  const created = await client.send(
    new S3T.CreateTableBucketCommand({ name: "lake", tags: { team: "data" } }),
  );
  assert.equal(created.arn, "arn:aws:s3tables:eu-west-1:123456789012:bucket/lake");
  const bucket = await client.send(new S3T.GetTableBucketCommand({ tableBucketARN: created.arn }));
  assert.equal(bucket.name, "lake");
  assert.equal(bucket.ownerAccountId, "123456789012");
  assert.equal(bucket.type, "customer");
  assert.ok(bucket.createdAt instanceof Date && !Number.isNaN(bucket.createdAt.getTime()));
  assert.match(bucket.tableBucketId ?? "", /^[0-9a-f-]{36}$/);
  for (const name of ["lake-2", "lake-3", "other"])
    await client.send(new S3T.CreateTableBucketCommand({ name }));

  const names: string[][] = [];
  let continuationToken: string | undefined;
  do {
    const page = await client.send(
      new S3T.ListTableBucketsCommand({ prefix: "lake", maxBuckets: 2, continuationToken }),
    );
    names.push((page.tableBuckets ?? []).map((b) => String(b.name)));
    continuationToken = page.continuationToken;
  } while (continuationToken);
  assert.deepEqual(names, [["lake", "lake-2"], ["lake-3"]]);
  const all = [];
  for await (const page of S3T.paginateListTableBuckets({ client, pageSize: 1 }, {}))
    all.push(...(page.tableBuckets ?? []));
  assert.equal(all.length, 4);

  for (const bad of ["ab", "Lake", "lake_1", "-lake", "aws-lake", "xn--lake", "lake--table-s3", "my.lake"]) {
    await rejects(client.send(new S3T.CreateTableBucketCommand({ name: bad })), "BadRequestException", 400);
  }
  await rejects(client.send(new S3T.CreateTableBucketCommand({ name: "lake" })), "ConflictException", 409);
  const missing = "arn:aws:s3tables:eu-west-1:123456789012:bucket/nope";
  await rejects(
    client.send(new S3T.GetTableBucketCommand({ tableBucketARN: missing })),
    "NotFoundException",
    404,
  );
  await rejects(
    client.send(new S3T.GetTableBucketCommand({ tableBucketARN: "not-an-arn" })),
    "BadRequestException",
    400,
  );

  await client.send(new S3T.CreateNamespaceCommand({ tableBucketARN: created.arn, namespace: ["sales"] }));
  await rejects(
    client.send(new S3T.DeleteTableBucketCommand({ tableBucketARN: created.arn })),
    "ConflictException",
    409,
  );
  await client.send(new S3T.DeleteNamespaceCommand({ tableBucketARN: created.arn, namespace: "sales" }));
  await client.send(new S3T.DeleteTableBucketCommand({ tableBucketARN: created.arn }));
  await rejects(
    client.send(new S3T.GetTableBucketCommand({ tableBucketARN: created.arn })),
    "NotFoundException",
    404,
  );
});

test("namespaces: create, get, list with prefix and pagination, delete; naming rules", async (t) => {
  const { client } = await s3tablesServer(t);
  const { arn } = await client.send(new S3T.CreateTableBucketCommand({ name: "lake" }));
  const created = await client.send(
    new S3T.CreateNamespaceCommand({ tableBucketARN: arn, namespace: ["sales"] }),
  );
  assert.deepEqual({ arn: created.tableBucketARN, ns: created.namespace }, { arn, ns: ["sales"] });
  for (const ns of ["sales_eu", "sales_us", "hr"]) {
    await client.send(new S3T.CreateNamespaceCommand({ tableBucketARN: arn, namespace: [ns] }));
  }
  const got = await client.send(new S3T.GetNamespaceCommand({ tableBucketARN: arn, namespace: "sales" }));
  assert.deepEqual(got.namespace, ["sales"]);
  assert.equal(got.ownerAccountId, "123456789012");
  assert.ok(got.createdAt instanceof Date);
  const pages: string[][] = [];
  let continuationToken: string | undefined;
  do {
    const page = await client.send(
      new S3T.ListNamespacesCommand({
        tableBucketARN: arn,
        prefix: "sales",
        maxNamespaces: 2,
        continuationToken,
      }),
    );
    pages.push((page.namespaces ?? []).map((n) => (n.namespace ?? []).join(".")));
    continuationToken = page.continuationToken;
  } while (continuationToken);
  assert.deepEqual(pages, [["sales", "sales_eu"], ["sales_us"]]);

  for (const bad of ["Sales", "sales-eu", "_x", "x_", "aws_data", "a.b", "x".repeat(256)]) {
    await rejects(
      client.send(new S3T.CreateNamespaceCommand({ tableBucketARN: arn, namespace: [bad] })),
      "BadRequestException",
      400,
    );
  }
  await rejects(
    client.send(new S3T.CreateNamespaceCommand({ tableBucketARN: arn, namespace: ["sales"] })),
    "ConflictException",
    409,
  );
  await client.send(new S3T.DeleteNamespaceCommand({ tableBucketARN: arn, namespace: "hr" }));
  await rejects(
    client.send(new S3T.GetNamespaceCommand({ tableBucketARN: arn, namespace: "hr" })),
    "NotFoundException",
    404,
  );
  await rejects(
    client.send(
      new S3T.ListNamespacesCommand({
        tableBucketARN: "arn:aws:s3tables:eu-west-1:123456789012:bucket/nope",
      }),
    ),
    "NotFoundException",
    404,
  );
});

test("tables: create with a schema, get, list, rename, metadata location CAS, delete", async (t) => {
  const { client, server } = await s3tablesServer(t);
  const { arn } = await client.send(new S3T.CreateTableBucketCommand({ name: "lake" }));
  await client.send(new S3T.CreateNamespaceCommand({ tableBucketARN: arn, namespace: ["sales"] }));
  const created = await client.send(
    new S3T.CreateTableCommand({
      tableBucketARN: arn,
      namespace: "sales",
      name: "orders",
      format: "ICEBERG",
      metadata: { iceberg: { schema, properties: { owner: "me" } } },
      tags: { pii: "no" },
    }),
  );
  assert.match(
    String(created.tableARN),
    /^arn:aws:s3tables:eu-west-1:123456789012:bucket\/lake\/table\/[0-9a-f-]+$/,
  );
  const table = await client.send(
    new S3T.GetTableCommand({ tableBucketARN: arn, namespace: "sales", name: "orders" }),
  );
  assert.equal(table.tableARN, created.tableARN);
  assert.equal(table.versionToken, created.versionToken);
  assert.equal(table.format, "ICEBERG");
  assert.equal(table.type, "customer");
  assert.deepEqual(table.namespace, ["sales"]);
  assert.ok(table.metadataLocation?.startsWith(`${table.warehouseLocation}/metadata/`));
  const byArn = await client.send(new S3T.GetTableCommand({ tableArn: created.tableARN }));
  assert.equal(byArn.name, "orders");

  // The table is a real Iceberg table, visible through the REST catalog with its schema.
  const rest = new RestCatalog({ uri: server.catalogUri, warehouse: "lake", credential: "test:test" });
  const loaded = await rest.loadTable({ namespace: ["sales"], name: "orders" });
  assert.deepEqual(
    loaded.metadata.schemas[0]?.fields.map((f) => [f.name, f.required]),
    [
      ["id", true],
      ["amount", false],
      ["at", false],
    ],
  );
  assert.equal(loaded.metadata.properties.owner, "me");

  // A table created through REST shows up here; a REST commit moves the versionToken on.
  await rest.createTable(
    { namespace: ["sales"], name: "refunds" },
    { schema: loaded.metadata.schemas[0] as NonNullable<(typeof loaded.metadata.schemas)[0]> },
  );
  const before = await client.send(
    new S3T.GetTableMetadataLocationCommand({ tableBucketARN: arn, namespace: "sales", name: "refunds" }),
  );
  await rest.commitTable({
    identifier: { namespace: ["sales"], name: "refunds" },
    requirements: [],
    updates: [{ action: "set-properties", updates: { k: "v" } }],
  });
  const after = await client.send(
    new S3T.GetTableMetadataLocationCommand({ tableBucketARN: arn, namespace: "sales", name: "refunds" }),
  );
  assert.notEqual(after.versionToken, before.versionToken);
  assert.notEqual(after.metadataLocation, before.metadataLocation);

  // UpdateTableMetadataLocation: a stale token conflicts; the current one swaps (back to the old file).
  await rejects(
    client.send(
      new S3T.UpdateTableMetadataLocationCommand({
        tableBucketARN: arn,
        namespace: "sales",
        name: "refunds",
        versionToken: before.versionToken,
        metadataLocation: before.metadataLocation,
      }),
    ),
    "ConflictException",
    409,
  );
  const swapped = await client.send(
    new S3T.UpdateTableMetadataLocationCommand({
      tableBucketARN: arn,
      namespace: "sales",
      name: "refunds",
      versionToken: after.versionToken,
      metadataLocation: before.metadataLocation,
    }),
  );
  assert.equal(swapped.metadataLocation, before.metadataLocation);
  assert.notEqual(swapped.versionToken, before.versionToken);
  assert.equal(
    (await rest.loadTable({ namespace: ["sales"], name: "refunds" })).metadataLocation,
    before.metadataLocation,
  );
  // A file of another table, or one that does not exist, is refused.
  for (const metadataLocation of [
    table.metadataLocation,
    `${after.warehouseLocation}/metadata/missing.metadata.json`,
  ]) {
    await rejects(
      client.send(
        new S3T.UpdateTableMetadataLocationCommand({
          tableBucketARN: arn,
          namespace: "sales",
          name: "refunds",
          versionToken: swapped.versionToken,
          metadataLocation,
        }),
      ),
      "BadRequestException",
      400,
    );
  }

  // Listing, with prefix and pagination.
  await client.send(
    new S3T.CreateTableCommand({
      tableBucketARN: arn,
      namespace: "sales",
      name: "order_lines",
      format: "ICEBERG",
    }),
  );
  const pages: string[][] = [];
  let continuationToken: string | undefined;
  do {
    const page = await client.send(
      new S3T.ListTablesCommand({
        tableBucketARN: arn,
        namespace: "sales",
        prefix: "order",
        maxTables: 1,
        continuationToken,
      }),
    );
    pages.push((page.tables ?? []).map((x) => String(x.name)));
    continuationToken = page.continuationToken;
  } while (continuationToken);
  assert.deepEqual(pages, [["order_lines"], ["orders"]]);
  assert.equal((await client.send(new S3T.ListTablesCommand({ tableBucketARN: arn }))).tables?.length, 3);

  // Rename keeps the ARN; a stale token conflicts.
  await client.send(new S3T.CreateNamespaceCommand({ tableBucketARN: arn, namespace: ["archive"] }));
  await rejects(
    client.send(
      new S3T.RenameTableCommand({
        tableBucketARN: arn,
        namespace: "sales",
        name: "orders",
        newName: "x",
        versionToken: "stale",
      }),
    ),
    "ConflictException",
    409,
  );
  await client.send(
    new S3T.RenameTableCommand({
      tableBucketARN: arn,
      namespace: "sales",
      name: "orders",
      newNamespaceName: "archive",
      newName: "orders_2024",
      versionToken: table.versionToken,
    }),
  );
  const renamed = await client.send(new S3T.GetTableCommand({ tableArn: created.tableARN }));
  assert.deepEqual([renamed.namespace, renamed.name], [["archive"], "orders_2024"]);
  await rest.loadTable({ namespace: ["archive"], name: "orders_2024" });

  for (const name of ["Orders", "orders-1", "_x"]) {
    await rejects(
      client.send(
        new S3T.CreateTableCommand({ tableBucketARN: arn, namespace: "sales", name, format: "ICEBERG" }),
      ),
      "BadRequestException",
      400,
    );
  }
  await rejects(
    client.send(
      new S3T.CreateTableCommand({
        tableBucketARN: arn,
        namespace: "sales",
        name: "bad_type",
        format: "ICEBERG",
        metadata: { iceberg: { schema: { fields: [{ name: "x", type: "varchar" }] } } },
      }),
    ),
    "BadRequestException",
    400,
  );
  assert.equal(await rest.tableExists({ namespace: ["sales"], name: "bad_type" }), false);
  await rejects(
    client.send(
      new S3T.CreateTableCommand({ tableBucketARN: arn, namespace: "nope", name: "t", format: "ICEBERG" }),
    ),
    "NotFoundException",
    404,
  );

  await rejects(
    client.send(
      new S3T.DeleteTableCommand({
        tableBucketARN: arn,
        namespace: "sales",
        name: "refunds",
        versionToken: "stale",
      }),
    ),
    "ConflictException",
    409,
  );
  await client.send(new S3T.DeleteTableCommand({ tableBucketARN: arn, namespace: "sales", name: "refunds" }));
  await rejects(
    client.send(new S3T.GetTableCommand({ tableBucketARN: arn, namespace: "sales", name: "refunds" })),
    "NotFoundException",
    404,
  );
  assert.equal(await rest.tableExists({ namespace: ["sales"], name: "refunds" }), false);
});

test("maintenance configuration and job status, policies, tags", async (t) => {
  const { client } = await s3tablesServer(t);
  const { arn } = await client.send(new S3T.CreateTableBucketCommand({ name: "lake", tags: { a: "1" } }));
  await client.send(new S3T.CreateNamespaceCommand({ tableBucketARN: arn, namespace: ["sales"] }));
  const { tableARN } = await client.send(
    new S3T.CreateTableCommand({
      tableBucketARN: arn,
      namespace: "sales",
      name: "orders",
      format: "ICEBERG",
    }),
  );
  const tableRef = { tableBucketARN: arn, namespace: "sales", name: "orders" };

  const bucketDefaults = await client.send(
    new S3T.GetTableBucketMaintenanceConfigurationCommand({ tableBucketARN: arn }),
  );
  assert.deepEqual(bucketDefaults.configuration, {
    icebergUnreferencedFileRemoval: {
      status: "enabled",
      settings: { icebergUnreferencedFileRemoval: { unreferencedDays: 3, nonCurrentDays: 10 } },
    },
  });
  await client.send(
    new S3T.PutTableBucketMaintenanceConfigurationCommand({
      tableBucketARN: arn,
      type: "icebergUnreferencedFileRemoval",
      value: { status: "enabled", settings: { icebergUnreferencedFileRemoval: { unreferencedDays: 5 } } },
    }),
  );
  const bucketConfig = await client.send(
    new S3T.GetTableBucketMaintenanceConfigurationCommand({ tableBucketARN: arn }),
  );
  assert.deepEqual(bucketConfig.configuration?.icebergUnreferencedFileRemoval?.settings, {
    icebergUnreferencedFileRemoval: { unreferencedDays: 5, nonCurrentDays: 10 },
  });

  const tableDefaults = await client.send(new S3T.GetTableMaintenanceConfigurationCommand(tableRef));
  assert.equal(tableDefaults.tableARN, tableARN);
  assert.deepEqual(tableDefaults.configuration?.icebergCompaction, {
    status: "enabled",
    settings: { icebergCompaction: { targetFileSizeMB: 512, strategy: "auto" } },
  });
  await client.send(
    new S3T.PutTableMaintenanceConfigurationCommand({
      ...tableRef,
      type: "icebergCompaction",
      value: {
        status: "enabled",
        settings: { icebergCompaction: { targetFileSizeMB: 128, strategy: "binpack" } },
      },
    }),
  );
  await client.send(
    new S3T.PutTableMaintenanceConfigurationCommand({
      ...tableRef,
      type: "icebergSnapshotManagement",
      value: { status: "disabled", settings: { icebergSnapshotManagement: { minSnapshotsToKeep: 2 } } },
    }),
  );
  const tableConfig = await client.send(new S3T.GetTableMaintenanceConfigurationCommand(tableRef));
  assert.deepEqual(tableConfig.configuration, {
    icebergCompaction: {
      status: "enabled",
      settings: { icebergCompaction: { targetFileSizeMB: 128, strategy: "binpack" } },
    },
    icebergSnapshotManagement: {
      status: "disabled",
      settings: { icebergSnapshotManagement: { minSnapshotsToKeep: 2, maxSnapshotAgeHours: 120 } },
    },
  });
  await rejects(
    client.send(
      new S3T.PutTableMaintenanceConfigurationCommand({
        ...tableRef,
        type: "icebergCompaction",
        value: { status: "enabled", settings: { icebergCompaction: { targetFileSizeMB: 32 } } },
      }),
    ),
    "BadRequestException",
    400,
  );
  const jobs = await client.send(new S3T.GetTableMaintenanceJobStatusCommand(tableRef));
  assert.deepEqual(jobs.status, {
    icebergCompaction: { status: "Not_Yet_Run" },
    icebergSnapshotManagement: { status: "Disabled" },
    icebergUnreferencedFileRemoval: { status: "Not_Yet_Run" },
  });

  // Policies.
  const policy = JSON.stringify({ Version: "2012-10-17", Statement: [] });
  await rejects(
    client.send(new S3T.GetTableBucketPolicyCommand({ tableBucketARN: arn })),
    "NotFoundException",
    404,
  );
  await client.send(new S3T.PutTableBucketPolicyCommand({ tableBucketARN: arn, resourcePolicy: policy }));
  assert.equal(
    (await client.send(new S3T.GetTableBucketPolicyCommand({ tableBucketARN: arn }))).resourcePolicy,
    policy,
  );
  await rejects(
    client.send(new S3T.PutTableBucketPolicyCommand({ tableBucketARN: arn, resourcePolicy: "{not json" })),
    "BadRequestException",
    400,
  );
  await client.send(new S3T.DeleteTableBucketPolicyCommand({ tableBucketARN: arn }));
  await rejects(
    client.send(new S3T.GetTableBucketPolicyCommand({ tableBucketARN: arn })),
    "NotFoundException",
    404,
  );
  await client.send(new S3T.PutTablePolicyCommand({ ...tableRef, resourcePolicy: policy }));
  assert.equal((await client.send(new S3T.GetTablePolicyCommand(tableRef))).resourcePolicy, policy);
  await client.send(new S3T.DeleteTablePolicyCommand(tableRef));
  await rejects(client.send(new S3T.GetTablePolicyCommand(tableRef)), "NotFoundException", 404);

  // Tags.
  assert.deepEqual((await client.send(new S3T.ListTagsForResourceCommand({ resourceArn: arn }))).tags, {
    a: "1",
  });
  await client.send(new S3T.TagResourceCommand({ resourceArn: tableARN, tags: { b: "2", c: "3" } }));
  await client.send(new S3T.UntagResourceCommand({ resourceArn: tableARN, tagKeys: ["c", "zz"] }));
  assert.deepEqual((await client.send(new S3T.ListTagsForResourceCommand({ resourceArn: tableARN }))).tags, {
    b: "2",
  });
  await rejects(
    client.send(new S3T.TagResourceCommand({ resourceArn: tableARN, tags: { "aws:x": "1" } })),
    "BadRequestException",
    400,
  );
  await rejects(
    client.send(new S3T.ListTagsForResourceCommand({ resourceArn: `${arn}/table/nope` })),
    "NotFoundException",
    404,
  );
});

test("DeleteTable and RenameTable with a versionToken: concurrent requests on one token, exactly one wins", async (t) => {
  const { server, client } = await s3tablesServer(t);
  const { arn } = await client.send(new S3T.CreateTableBucketCommand({ name: "race" }));
  await client.send(new S3T.CreateNamespaceCommand({ tableBucketARN: arn, namespace: ["ns"] }));
  for (let round = 0; round < 3; round++) {
    const name = `t${round}`;
    const created = await client.send(
      new S3T.CreateTableCommand({ tableBucketARN: arn, namespace: "ns", name, format: "ICEBERG" }),
    );
    const ref = { tableBucketARN: arn, namespace: "ns", name };
    const attempts = Array.from({ length: 6 }, (_, i) =>
      i % 2
        ? client.send(new S3T.DeleteTableCommand({ ...ref, versionToken: created.versionToken }))
        : client.send(
            new S3T.RenameTableCommand({
              ...ref,
              newName: `${name}_r${i}`,
              versionToken: created.versionToken,
            }),
          ),
    );
    const settled = await Promise.allSettled(attempts);
    const won = settled.flatMap((r, i) => (r.status === "fulfilled" ? [i] : []));
    assert.equal(won.length, 1, `round ${round}: ${JSON.stringify(settled.map((r) => r.status))}`);
    for (const result of settled) {
      if (result.status === "rejected") {
        assert.ok(
          ["ConflictException", "NotFoundException"].includes((result.reason as Error).name),
          String(result.reason),
        );
      }
    }
    const left =
      (await client.send(new S3T.ListTablesCommand({ tableBucketARN: arn, namespace: "ns" }))).tables ?? [];
    const winner = won[0] as number;
    assert.deepEqual(
      left.filter((table) => table.tableARN === created.tableARN).map((table) => table.name),
      winner % 2 ? [] : [`${name}_r${winner}`],
    );
  }
  // A stale token after a commit through the REST catalog: the delete is refused and the table stays.
  const created = await client.send(
    new S3T.CreateTableCommand({ tableBucketARN: arn, namespace: "ns", name: "kept", format: "ICEBERG" }),
  );
  const rest = new RestCatalog({ uri: server.catalogUri, warehouse: "race", credential: "test:test" });
  const table = await rest.loadTable({ namespace: ["ns"], name: "kept" });
  await rest.commitTable({
    identifier: table.identifier,
    requirements: [],
    updates: [{ action: "set-properties", updates: { moved: "on" } }],
  });
  await rejects(
    client.send(
      new S3T.DeleteTableCommand({
        tableBucketARN: arn,
        namespace: "ns",
        name: "kept",
        versionToken: created.versionToken,
      }),
    ),
    "ConflictException",
    409,
  );
  assert.ok(await rest.tableExists({ namespace: ["ns"], name: "kept" }));
});

/** `fetch` with a bearer token of the test key (the raw-wire tests below bypass the SDK's signing). */
async function bearerFetch(server: { url: string; catalogUri: string }) {
  const response = await fetch(`${server.catalogUri}/v1/oauth/tokens`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: "grant_type=client_credentials&client_id=test&client_secret=test",
  });
  const { access_token: token } = (await response.json()) as { access_token: string };
  return (url: string, init: RequestInit = {}) =>
    fetch(url, {
      ...init,
      headers: { ...(init.headers as Record<string, string>), authorization: `Bearer ${token}` },
    });
}

test("unknown routes at the root answer NotFoundException to the SDK; /iceberg and /healthz still work", async (t) => {
  const { server } = await s3tablesServer(t);
  const authorized = await bearerFetch(server);
  const response = await authorized(`${server.url}/nope`);
  assert.equal(response.status, 404);
  assert.equal(response.headers.get("x-amzn-errortype"), "NotFoundException");
  const anonymous = await fetch(`${server.url}/nope`);
  assert.equal(anonymous.status, 401, "an unknown route tells an unauthenticated caller nothing");
  assert.equal(anonymous.headers.get("x-amzn-errortype"), "NotAuthorizedException");
  assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
  assert.equal((await authorized(`${server.url}/iceberg/v1/config?warehouse=nope`)).status, 404);
});

test("error shape on the wire: x-amzn-errortype and {message}; bad JSON is a BadRequestException", async (t) => {
  const { server } = await s3tablesServer(t);
  const fetch = await bearerFetch(server);
  const missing = await fetch(
    `${server.url}/buckets/${encodeURIComponent("arn:aws:s3tables:eu-west-1:123456789012:bucket/nope")}`,
  );
  assert.equal(missing.status, 404);
  assert.equal(missing.headers.get("x-amzn-errortype"), "NotFoundException");
  assert.deepEqual(await missing.json(), {
    message: "table bucket arn:aws:s3tables:eu-west-1:123456789012:bucket/nope does not exist",
  });
  const bad = await fetch(`${server.url}/buckets`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: "{nope",
  });
  assert.equal(bad.status, 400);
  assert.equal(bad.headers.get("x-amzn-errortype"), "BadRequestException");
});
