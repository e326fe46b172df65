// `floe maintain` against a running `floe serve`: many small commits become a few files, the pass is
// reported per table and job, and the unreferenced-file marks persist in the state file between runs.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { test } from "node:test";
import { CatalogError } from "../../src/catalog/errors.ts";
import { openRestCatalog } from "../../src/cli/dump.ts";
import { maintainCommand } from "../../src/cli/maintain.ts";
import { FastAppend } from "../../src/iceberg/operations/append.ts";
import { writeDataFiles } from "../../src/iceberg/parquet-writer.ts";
import { readTable } from "../../src/iceberg/reader.ts";
import { planScan } from "../../src/iceberg/scan.ts";
import { currentSchema, defaultSpec } from "../../src/iceberg/table-metadata.ts";
import { startServer } from "../../src/server/server.ts";
import { ordersId, ordersSchema } from "../helpers/tables.ts";

test("floe maintain compacts small files through the REST catalog and keeps its state", async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), "floe-maintain-"));
  const server = await startServer({
    dataDir,
    host: "127.0.0.1",
    port: 0,
    logger: false,
    auth: { keys: [{ accessKeyId: "maint", secretAccessKey: "maint-secret" }] },
  });
  t.after(async () => {
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  await server.buckets.create("lake");
  const catalog = await openRestCatalog(server.url, "lake", { credential: "maint:maint-secret" });
  await catalog.createNamespace(["shop"]);
  let table = await catalog.createTable(ordersId, { schema: ordersSchema });
  for (let i = 1; i <= 8; i++) {
    const files = await writeDataFiles({
      schema: currentSchema(table.metadata),
      spec: defaultSpec(table.metadata),
      rows: [{ id: BigInt(i), status: "new", day: 19_000 + i }],
      io: table.io,
      location: `${table.metadata.location}/data`,
    });
    const append = new FastAppend(catalog, table);
    for (const f of files) append.appendFile(f);
    table = (await append.commit()).table;
  }
  assert.equal((await planScan(table)).tasks.length, 8);

  const output: string[] = [];
  const stdout = Object.assign(
    new Writable({
      write(chunk, _enc, done) {
        output.push(String(chunk));
        done();
      },
    }),
    { isTTY: false },
  );
  const statePath = join(dataDir, "state.json");
  const command = maintainCommand({ openCatalog: openRestCatalog, stdout });
  // Without credentials the server answers 401 and the command says how to pass them.
  await assert.rejects(
    maintainCommand({ openCatalog: openRestCatalog, stdout }).parseAsync(
      ["--catalog", server.url, "--bucket", "lake", "--state", statePath],
      { from: "user" },
    ),
    (error: unknown) =>
      error instanceof CatalogError && error.code === "NOT_AUTHORIZED" && /--credential/.test(error.message),
  );
  await command.parseAsync(
    ["--catalog", server.url, "--bucket", "lake", "--state", statePath, "--credential", "maint:maint-secret"],
    { from: "user" },
  );

  assert.match(
    output.join(""),
    /^shop\.orders: icebergCompaction=Successful icebergSnapshotManagement=Successful icebergUnreferencedFileRemoval=Successful\n$/,
  );
  const after = await catalog.loadTable(ordersId);
  assert.equal((await planScan(after)).tasks.length, 1);
  assert.equal((await readTable(after)).length, 8);
  const state = JSON.parse(readFileSync(statePath, "utf8")) as { tables: Record<string, unknown> };
  assert.deepEqual(Object.keys(state.tables), ["shop.orders"]);

  await assert.rejects(
    maintainCommand({ openCatalog: openRestCatalog, stdout }).parseAsync(
      ["--catalog", server.url, "--bucket", "lake", "--only", "coffee", "--credential", "maint:maint-secret"],
      { from: "user" },
    ),
    /unknown maintenance type 'coffee'/,
  );
});
