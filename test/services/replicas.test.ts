// Two `floe serve` replicas (separate processes' worth of state: own data dirs, own ports) over one
// PostgreSQL catalog store and one shared storage directory: 8 clients committing through both at once,
// to one table and to several tables (single-table appends and multi-table transactions), lose no
// commit, and every table's metadata files form one chain of strictly increasing, parseable versions.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type { LoadedTable, TableIdentifier } from "../../src/catalog/catalog.ts";
import { CatalogError } from "../../src/catalog/errors.ts";
import { RestCatalog } from "../../src/catalog/rest-catalog.ts";
import { run } from "../../src/cli/main.ts";
import { FastAppend } from "../../src/iceberg/operations/append.ts";
import {
  ancestorsOf,
  currentSnapshot,
  metadataFileVersion,
  parseTableMetadata,
} from "../../src/iceberg/table-metadata.ts";
import { localLocationOf, localPathOf } from "../../src/io/index.ts";
import { type RunningServer, startServer } from "../../src/server/server.ts";
import { PostgresServerStore } from "../../src/server/store/postgres-store.ts";
import { createTestDatabase, defer } from "../helpers/services.ts";
import { dataFile, ordersSchema } from "../helpers/tables.ts";

const retry = { minWaitMs: 1, maxWaitMs: 30, retries: 100 };
const replicaKey = { accessKeyId: "replicas", secretAccessKey: "replicas-secret" };

async function replicas(t: { after(fn: () => unknown): void }) {
  const catalogStore = await createTestDatabase(t, "floe_replicas");
  const shared = mkdtempSync(join(tmpdir(), "floe-replicas-storage-"));
  defer(t, () => rmSync(shared, { recursive: true, force: true }));
  const dataDirs = ["a", "b"].map((name) => {
    const dataDir = mkdtempSync(join(tmpdir(), `floe-replica-${name}-`));
    defer(t, () => rmSync(dataDir, { recursive: true, force: true }));
    return dataDir;
  });
  // `floe bucket create` on the shared store, with storage both replicas reach.
  const storage = localLocationOf(join(shared, "shared"));
  const { log } = console;
  const printed: string[] = [];
  console.log = (...parts: unknown[]) => printed.push(parts.join(" "));
  let code: number;
  try {
    code = await run([
      "bucket",
      "create",
      "shared",
      "--data-dir",
      dataDirs[0] ?? "",
      "--catalog-store",
      catalogStore,
      "--storage",
      storage,
      "--json",
    ]);
  } finally {
    console.log = log;
  }
  assert.equal(code, 0);
  assert.equal((JSON.parse(printed.join("")) as { storage: string }).storage, storage);
  const servers: RunningServer[] = [];
  for (const dataDir of dataDirs) {
    const server = await startServer({
      dataDir,
      catalogStore,
      host: "127.0.0.1",
      port: 0,
      logger: false,
      auth: { keys: [replicaKey] },
    });
    defer(t, () => server.close());
    servers.push(server);
  }
  const [a, b] = servers as [RunningServer, RunningServer];
  const clients = Array.from({ length: 8 }, (_, i) => {
    // Odd clients get their token from replica a and use it at b: replicas with the same keys accept
    // each other's tokens.
    const client = new RestCatalog({
      uri: (i % 2 ? b : a).catalogUri,
      warehouse: "shared",
      credential: `${replicaKey.accessKeyId}:${replicaKey.secretAccessKey}`,
      oauth2ServerUri: `${a.catalogUri}/v1/oauth/tokens`,
    });
    defer(t, () => client.close());
    return client;
  });
  return { a, b, clients, catalogStore };
}

/** Reads every metadata file of the chain from the current one back: versions strictly increase. */
function checkMetadataChain(table: LoadedTable): number {
  const locations = [
    ...table.metadata.metadataLog.map((entry) => entry.metadataFile),
    table.metadataLocation,
  ];
  const versions = locations.map((location) => metadataFileVersion(location));
  versions.forEach((version, i) => {
    assert.equal(version, i, `metadata files are versions 0..n without gaps: ${locations.join(", ")}`);
  });
  let previousSnapshots = -1;
  for (const location of locations) {
    const metadata = parseTableMetadata(readFileSync(localPathOf(location), "utf8"), location);
    assert.equal(metadata.tableUuid, table.metadata.tableUuid);
    // Each version extends the one before: a commit never drops another's snapshot.
    assert.ok(metadata.snapshots.length >= previousSnapshots, location);
    previousSnapshots = metadata.snapshots.length;
  }
  return locations.length - 1;
}

function totalRecords(table: LoadedTable): number {
  return Number(currentSnapshot(table.metadata)?.summary["total-records"] ?? 0);
}

test("two replicas on one PostgreSQL store: 8 clients, one table and several tables, nothing lost", async (t) => {
  const { a, b, clients } = await replicas(t);
  const [first] = clients as [RestCatalog];
  await first.createNamespace(["shop"]);
  const ids: TableIdentifier[] = ["one", "x", "y", "z"].map((name) => ({ namespace: ["shop"], name }));
  for (const id of ids) await first.createTable(id, { schema: ordersSchema });
  const [one, x, y, z] = ids as [TableIdentifier, TableIdentifier, TableIdentifier, TableIdentifier];

  // Both replicas see the same catalog.
  for (const server of [a, b]) {
    const catalog = new RestCatalog({
      uri: server.catalogUri,
      warehouse: "shared",
      credential: `${replicaKey.accessKeyId}:${replicaKey.secretAccessKey}`,
    });
    assert.deepEqual(
      (await catalog.listTables(["shop"])).map((id) => id.name),
      ["one", "x", "y", "z"],
    );
    catalog.close();
  }

  // One table: 8 clients × 3 appends, each i+1 records, half through each replica.
  await Promise.all(
    clients.map(async (client, i) => {
      for (let k = 0; k < 3; k++) {
        const base = await client.loadTable(one);
        await new FastAppend(client, base).appendFile(dataFile(base.metadata.location, i + 1)).commit(retry);
      }
    }),
  );
  const oneHead = await first.loadTable(one);
  assert.equal(ancestorsOf(oneHead.metadata, currentSnapshot(oneHead.metadata)).length, 24);
  assert.equal(totalRecords(oneHead), 3 * ((8 * 9) / 2));
  assert.equal(checkMetadataChain(oneHead), 24);

  // Several tables: each client appends to x, y, z in turn and commits x+y(+z) transactions.
  const expected = new Map<string, { snapshots: number; records: number }>(
    [x, y, z].map((id) => [id.name, { snapshots: 0, records: 0 }]),
  );
  const count = (id: TableIdentifier, records: number) => {
    const entry = expected.get(id.name);
    assert.ok(entry);
    entry.snapshots++;
    entry.records += records;
  };
  await Promise.all(
    clients.map(async (client, i) => {
      for (let k = 0; k < 3; k++) {
        const id = [x, y, z][(i + k) % 3] as TableIdentifier;
        const base = await client.loadTable(id);
        await new FastAppend(client, base).appendFile(dataFile(base.metadata.location, 10)).commit(retry);
        count(id, 10);

        const group = i % 2 ? [x, y, z] : [y, x];
        for (let attempt = 1; ; attempt++) {
          const loaded = await Promise.all(group.map((tid) => client.loadTable(tid)));
          const changes = await Promise.all(
            loaded.map((table) =>
              new FastAppend(client, table).appendFile(dataFile(table.metadata.location, 1)).prepare(),
            ),
          );
          try {
            await client.commitTransaction(
              loaded.map((table, j) => ({
                identifier: table.identifier,
                requirements: changes[j]?.requirements ?? [],
                updates: changes[j]?.updates ?? [],
              })),
            );
            break;
          } catch (error) {
            if (!(error instanceof CatalogError && error.code === "COMMIT_FAILED") || attempt >= 200) {
              throw error;
            }
            await new Promise((resolve) => setTimeout(resolve, Math.random() * 20));
          }
        }
        for (const tid of group) count(tid, 1);
      }
    }),
  );
  for (const id of [x, y, z]) {
    // Read through the other replica than the table was created on.
    const head = await (clients[1] as RestCatalog).loadTable(id);
    const want = expected.get(id.name);
    assert.ok(want);
    assert.equal(ancestorsOf(head.metadata, currentSnapshot(head.metadata)).length, want.snapshots, id.name);
    assert.equal(totalRecords(head), want.records, id.name);
    assert.equal(checkMetadataChain(head), want.snapshots, id.name);
  }
  assert.deepEqual(
    [...expected.values()].map((e) => e.snapshots),
    [8 + 24, 8 + 24, 8 + 12],
  );
});

test("the store's table versions match the metadata chain after commits through both replicas", async (t) => {
  const { clients, catalogStore } = await replicas(t);
  const [first] = clients as [RestCatalog];
  await first.createNamespace(["ns"]);
  const id = { namespace: ["ns"], name: "t" };
  await first.createTable(id, { schema: ordersSchema });
  await Promise.all(
    clients.map(async (client) => {
      const base = await client.loadTable(id);
      await new FastAppend(client, base).appendFile(dataFile(base.metadata.location, 1)).commit(retry);
    }),
  );
  const store = new PostgresServerStore({ url: catalogStore });
  defer(t, () => store.close());
  const record = await store.getTableRecord("shared", ["ns"], "t");
  const head = await first.loadTable(id);
  assert.equal(record?.metadataLocation, head.metadataLocation);
  assert.equal(record?.version, 1 + 8);
  assert.equal(metadataFileVersion(head.metadataLocation), 8);
});
