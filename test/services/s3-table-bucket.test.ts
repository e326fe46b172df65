// A table bucket stored in S3 (the development SeaweedFS) through `floe serve`, end to end: the bucket,
// namespace and table are made with @aws-sdk/client-s3tables (the server's storage root is an S3
// prefix); pyiceberg's RestCatalog and Floe's RestCatalog write to it with nothing but the S3 settings
// the server vends (loadTable `config`, the `credentials` route); pyiceberg and DuckDB's iceberg
// extension read it back; dropping with purge (REST) and DeleteTable (S3 Tables) remove the objects.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { HeadObjectCommand, ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import * as S3T from "@aws-sdk/client-s3tables";
import { repoRoot } from "../../scripts/services/common.ts";
import { s3Client } from "../../scripts/services/s3.ts";
import { RestCatalog } from "../../src/catalog/rest-catalog.ts";
import { FastAppend } from "../../src/iceberg/operations/append.ts";
import { writeDataFiles } from "../../src/iceberg/parquet-writer.ts";
import { currentSchema, defaultSpec } from "../../src/iceberg/table-metadata.ts";
import { parseS3Location } from "../../src/io/index.ts";
import { startServer } from "../../src/server/server.ts";
import { interopPython } from "../helpers/python.ts";
import { createTestBucket, defer } from "../helpers/services.ts";

const key = { accessKeyId: "AKS3TABLES", secretAccessKey: "s3-tables/secret" };
const credential = `${key.accessKeyId}:${key.secretAccessKey}`;
const script = join(repoRoot, "test", "services", "s3-table-bucket.py");

/**
 * Runs one command of s3-table-bucket.py without blocking the event loop (the server answering it runs
 * in this process) and with no AWS settings in its environment: S3 access must come from the server.
 */
function runClient<T>(command: string, ...args: string[]): Promise<T> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("AWS_")));
  return new Promise((resolve, reject) => {
    const child = spawn(interopPython(), [script, command, ...args], {
      env: { ...env, AWS_CONFIG_FILE: "/dev/null", AWS_SHARED_CREDENTIALS_FILE: "/dev/null" },
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
    child.on("close", (code) => {
      if (code !== 0) reject(new Error(`s3-table-bucket.py ${command} failed (exit ${code}):\n${stderr}`));
      else resolve(JSON.parse(stdout) as T);
    });
  });
}

/** Every object key under an `s3://bucket/prefix` location. */
async function keysUnder(client: S3Client, location: string): Promise<string[]> {
  const { bucket, key: prefix } = parseS3Location(location, { allowPrefix: true });
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}/`, ContinuationToken: token }),
    );
    for (const object of page.Contents ?? []) if (object.Key) keys.push(object.Key);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys.sort();
}

type Row = { id: number; status: string | null; note: string | null };
const byId = (a: Row, b: Row) => a.id - b.id;

const expectedRows: Row[] = [
  { id: 1, status: "new", note: null },
  { id: 2, status: "paid", note: null },
  { id: 3, status: null, note: null },
  { id: 4, status: "paid", note: "gift" },
  { id: 5, status: null, note: null },
  { id: 6, status: "new", note: "floe" },
  { id: 7, status: "shipped", note: null },
];

test("a table bucket in S3: S3 Tables API, pyiceberg and Floe write with vended settings, DuckDB and pyiceberg read, purge deletes", async (t) => {
  interopPython(); // create the venv before the server starts (it can take a while the first time)
  const { info, bucket: s3Bucket } = await createTestBucket(t);
  const s3 = s3Client(info);
  defer(t, () => s3.destroy());
  const dataDir = mkdtempSync(join(tmpdir(), "floe-s3-bucket-"));
  defer(t, () => rmSync(dataDir, { recursive: true, force: true }));
  const server = await startServer({
    dataDir,
    host: "127.0.0.1",
    port: 0,
    auth: { keys: [key] },
    io: {
      s3: {
        endpoint: info.endpoint,
        region: info.region,
        credentials: { accessKeyId: info.accessKeyId, secretAccessKey: info.secretAccessKey },
        forcePathStyle: true,
      },
    },
    storageRoot: `s3://${s3Bucket}/tables`,
  });
  defer(t, () => server.close());
  const tables = new S3T.S3TablesClient({
    endpoint: server.url,
    region: "us-east-1",
    credentials: key,
    maxAttempts: 1,
  });
  defer(t, () => tables.destroy());

  // Bucket, namespace and table through the S3 Tables API: the bucket lands under the storage root.
  const { arn } = await tables.send(new S3T.CreateTableBucketCommand({ name: "lake" }));
  assert.equal((await server.buckets.get("lake")).storage, `s3://${s3Bucket}/tables/lake`);
  await tables.send(new S3T.CreateNamespaceCommand({ tableBucketARN: arn, namespace: ["sales"] }));
  const schema = {
    fields: [
      { name: "id", type: "long", required: true },
      { name: "status", type: "string" },
    ],
  };
  await tables.send(
    new S3T.CreateTableCommand({
      tableBucketARN: arn,
      namespace: "sales",
      name: "orders",
      format: "ICEBERG",
      metadata: { iceberg: { schema } },
    }),
  );
  const created = await tables.send(
    new S3T.GetTableMetadataLocationCommand({ tableBucketARN: arn, namespace: "sales", name: "orders" }),
  );
  const tableRoot = `s3://${s3Bucket}/tables/lake/sales/orders-`;
  assert.ok(created.metadataLocation?.startsWith(tableRoot), created.metadataLocation);
  const first = parseS3Location(created.metadataLocation ?? "");
  await s3.send(new HeadObjectCommand({ Bucket: first.bucket, Key: first.key })); // really in S3
  assert.equal(existsSync(join(dataDir, "buckets")), false, "nothing of the bucket is on the local disk");

  // The credentials route vends the server's S3 settings for the bucket's storage.
  const token = await fetch(`${server.catalogUri}/v1/oauth/tokens`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "client_credentials",
      client_id: key.accessKeyId,
      client_secret: key.secretAccessKey,
    }),
  }).then(async (response) => ((await response.json()) as { access_token: string }).access_token);
  const vended = await fetch(`${server.catalogUri}/v1/lake/namespaces/sales/tables/orders/credentials`, {
    headers: { authorization: `Bearer ${token}` },
  }).then((response) => response.json());
  assert.deepEqual(vended, {
    "storage-credentials": [
      {
        prefix: `s3://${s3Bucket}/tables/lake`,
        config: {
          "s3.endpoint": info.endpoint,
          "s3.region": info.region,
          "client.region": info.region,
          "s3.path-style-access": "true",
          "s3.access-key-id": info.accessKeyId,
          "s3.secret-access-key": info.secretAccessKey,
        },
      },
    ],
  });

  // pyiceberg writes two snapshots around a schema change, with only the vended settings.
  const written = await runClient<{
    vendedKeys: string[];
    metadataLocation: string;
    location: string;
    snapshots: number;
    schema: string[];
  }>("write", server.catalogUri, "lake", "--table", "sales.orders", "--credential", credential);
  for (const name of ["s3.access-key-id", "s3.endpoint", "s3.secret-access-key"]) {
    assert.ok(written.vendedKeys.includes(name), `pyiceberg was not given ${name}: ${written.vendedKeys}`);
  }
  assert.equal(written.snapshots, 2);
  assert.deepEqual(written.schema, ["id", "status", "note"]);
  assert.ok(written.location.startsWith(tableRoot), written.location);

  // Floe's RestCatalog, configured with no S3 settings of its own, appends a third snapshot.
  const rest = new RestCatalog({ uri: server.catalogUri, warehouse: "lake", credential });
  defer(t, () => rest.close());
  const table = await rest.loadTable({ namespace: ["sales"], name: "orders" });
  assert.equal(table.metadataLocation, written.metadataLocation);
  const files = await writeDataFiles({
    schema: currentSchema(table.metadata),
    spec: defaultSpec(table.metadata),
    rows: [
      { id: 6n, status: "new", note: "floe" },
      { id: 7n, status: "shipped", note: null },
    ],
    io: table.io,
    location: `${table.metadata.location}/data`,
  });
  const append = new FastAppend(rest, table);
  for (const file of files) append.appendFile(file);
  await append.commit();

  // pyiceberg and DuckDB (ATTACH through the REST catalog, S3 via the vended settings) read it all.
  const read = await runClient<{ pyiceberg: Row[]; duckdb: Row[] }>(
    "read",
    server.catalogUri,
    "lake",
    "--table",
    "sales.orders",
    "--credential",
    credential,
  );
  assert.deepEqual([...read.pyiceberg].sort(byId), expectedRows);
  assert.deepEqual([...read.duckdb].sort(byId), expectedRows);

  const objects = await keysUnder(s3, written.location);
  const { key: tablePrefix } = parseS3Location(written.location, { allowPrefix: true });
  assert.equal(objects.filter((k) => k.startsWith(`${tablePrefix}/data/`)).length, 3, objects.join("\n"));
  assert.ok(objects.filter((k) => k.endsWith(".metadata.json")).length >= 4, objects.join("\n"));

  // Dropping with purge (pyiceberg's purge_table → DELETE …?purgeRequested=true) deletes every object.
  await runClient("purge", server.catalogUri, "lake", "--table", "sales.orders", "--credential", credential);
  assert.deepEqual(await keysUnder(s3, written.location), []);
  assert.equal(
    await server.buckets.catalog(await server.buckets.get("lake")).tableExists(table.identifier),
    false,
  );

  // DeleteTable through the S3 Tables API purges too.
  await tables.send(
    new S3T.CreateTableCommand({
      tableBucketARN: arn,
      namespace: "sales",
      name: "events",
      format: "ICEBERG",
      metadata: { iceberg: { schema } },
    }),
  );
  const events = await rest.loadTable({ namespace: ["sales"], name: "events" });
  const eventsAppend = new FastAppend(rest, events);
  for (const file of await writeDataFiles({
    schema: currentSchema(events.metadata),
    spec: defaultSpec(events.metadata),
    rows: [{ id: 1n, status: "x" }],
    io: events.io,
    location: `${events.metadata.location}/data`,
  }))
    eventsAppend.appendFile(file);
  await eventsAppend.commit();
  const eventsPrefix = parseS3Location(events.metadata.location, { allowPrefix: true }).key;
  const kinds = (await keysUnder(s3, events.metadata.location)).map((k) =>
    k.slice(eventsPrefix.length + 1).replace(/[^/]*?(\.metadata\.json|\.avro|\.parquet)$/, "*$1"),
  );
  // Two metadata files, one manifest list and one manifest, one data file.
  assert.deepEqual(kinds.sort(), [
    "data/*.parquet",
    "metadata/*.avro",
    "metadata/*.avro",
    "metadata/*.metadata.json",
    "metadata/*.metadata.json",
  ]);
  await tables.send(new S3T.DeleteTableCommand({ tableBucketARN: arn, namespace: "sales", name: "events" }));
  assert.deepEqual(await keysUnder(s3, events.metadata.location), []);

  await tables.send(new S3T.DeleteNamespaceCommand({ tableBucketARN: arn, namespace: "sales" }));
  await tables.send(new S3T.DeleteTableBucketCommand({ tableBucketARN: arn }));
  assert.deepEqual(await keysUnder(s3, `s3://${s3Bucket}/tables/lake`), []);
});
