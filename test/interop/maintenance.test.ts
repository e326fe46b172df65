// Maintenance against a streaming writer: CDC commits (upserts and deletes as equality or position
// deletes) interleaved with compaction passes — between commits, in the middle of the writer's commit,
// and in the middle of compaction's own commit. After every step Floe's reader must equal the model;
// at the end pyiceberg (position deletes only) and DuckDB's iceberg extension read the same rows.
// Then the file-count test: 300 one-row commits, one maintenance pass, few files and no delete files.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Catalog, CommitTableRequest, LoadedTable } from "../../src/catalog/catalog.ts";
import { IcebergError } from "../../src/iceberg/errors.ts";
import type { Row } from "../../src/iceberg/parquet-writer.ts";
import { readTable } from "../../src/iceberg/reader.ts";
import { planScan } from "../../src/iceberg/scan.ts";
import { day } from "../../src/iceberg/transforms.ts";
import { compactTable } from "../../src/maintenance/compaction.ts";
import { resolveMaintenanceConfiguration } from "../../src/maintenance/config.ts";
import { maintainTable } from "../../src/maintenance/maintain.ts";
import { runReader } from "../helpers/python.ts";
import { localWarehouse, ordersId, ordersSchema } from "../helpers/tables.ts";
import { cdcCommit, type DeleteMode, Model, sortById } from "../maintenance/cdc.ts";

const MB = 1024 * 1024;

function asReaderRows(rows: Row[]): Row[] {
  return rows
    .map((r) => ({
      day: new Date((r.day as number) * 86_400_000).toISOString().slice(0, 10),
      id: Number(r.id),
      status: r.status,
    }))
    .sort((a, b) => {
      // As readers.py prints them: sorted by the JSON of each row's sorted entries.
      const key = (r: Row) => JSON.stringify(Object.entries(r).sort(([x], [y]) => x.localeCompare(y)));
      return key(a).localeCompare(key(b));
    });
}

function racingCompaction(inner: Catalog, during: () => Promise<void>): Catalog {
  let fired = false;
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === "commitTable") {
        return async (request: CommitTableRequest) => {
          const replace = request.updates.some(
            (u) => u.action === "add-snapshot" && u.snapshot.summary.operation === "replace",
          );
          if (replace && !fired) {
            fired = true;
            await during();
          }
          return target.commitTable(request);
        };
      }
      const value = Reflect.get(target, prop, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** A deterministic pseudo-random sequence. */
function random(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    return s / 0x7fffffff;
  };
}

for (const mode of ["position", "equality"] as DeleteMode[]) {
  test(`writer streaming ${mode} upserts and deletes, compaction passes interleaved: the table always equals the model`, async (t) => {
    const { catalog } = localWarehouse(t);
    await catalog.createNamespace(["shop"]);
    let table: LoadedTable = await catalog.createTable(ordersId, {
      schema: ordersSchema,
      spec: { specId: 0, fields: [{ sourceId: 3, fieldId: 1000, name: "day_day", transform: day }] },
    });
    const model = new Model();
    const next = random(mode === "position" ? 7 : 11);
    const options = { targetFileSizeBytes: 64 * MB, minInputFiles: 3 };
    let compactions = 0;
    let writerRetries = 0;
    let compactionRetries = 0;
    const check = async (what: string) => {
      table = await catalog.loadTable(ordersId);
      assert.deepEqual(sortById(await readTable(table)), model.sorted(), what);
    };
    const change = () => {
      const upserts: Row[] = [];
      for (let k = 0; k < 3; k++) {
        const id = Math.floor(next() * 30);
        if (!upserts.some((r) => r.id === BigInt(id)))
          upserts.push({ id: BigInt(id), status: `s${Math.floor(next() * 1000)}`, day: 19_000 + (id % 3) });
      }
      const live = [...model.rows.keys()].filter((id) => !upserts.some((r) => r.id === id));
      const deletes = live.length > 0 && next() < 0.6 ? [live[Math.floor(next() * live.length)]!] : [];
      return { upserts, deletes };
    };

    for (let round = 0; round < 12; round++) {
      const c = change();
      if (round % 6 === 5) {
        // Compaction lands between the writer's file writes and its commit.
        try {
          table = await cdcCommit(catalog, table, model, c, mode, {
            afterWrite: async () => {
              await compactTable(catalog, await catalog.loadTable(ordersId), options);
              compactions++;
            },
          });
        } catch (error) {
          if (!(error instanceof IcebergError && error.code === "VALIDATION_FAILED")) throw error;
          writerRetries++;
          table = await cdcCommit(catalog, await catalog.loadTable(ordersId), model, c, mode);
        }
      } else if (round % 6 === 2) {
        // The writer commits while compaction is about to commit.
        const racing = racingCompaction(catalog, async () => {
          await cdcCommit(catalog, await catalog.loadTable(ordersId), model, c, mode);
        });
        const result = await compactTable(racing, table, options);
        compactions++;
        compactionRetries += result.retries;
      } else {
        table = await cdcCommit(catalog, table, model, c, mode);
      }
      await check(`after round ${round}`);
    }
    const final = await compactTable(catalog, await catalog.loadTable(ordersId), options);
    compactions++;
    await check("after the final compaction");
    t.diagnostic(
      `${compactions} compactions, writer retries ${writerRetries}, compaction retries ${compactionRetries}, final ${final.rewrittenDataFiles} files`,
    );
    if (mode === "position") assert.ok(writerRetries + compactionRetries > 0, "the races happened");

    const expected = asReaderRows(model.sorted());
    if (mode === "position")
      assert.deepEqual(runReader("pyiceberg-scan", table.metadataLocation), expected, "pyiceberg");
    assert.deepEqual(runReader("duckdb-scan", table.metadataLocation), expected, "duckdb");
  });
}

test("file count: 300 one-second commits, one maintenance pass, a few files per partition and no delete files", async (t) => {
  const { catalog } = localWarehouse(t);
  await catalog.createNamespace(["shop"]);
  let table: LoadedTable = await catalog.createTable(ordersId, {
    schema: ordersSchema,
    spec: { specId: 0, fields: [{ sourceId: 3, fieldId: 1000, name: "day_day", transform: day }] },
  });
  const model = new Model();
  for (let i = 0; i < 300; i++) {
    const id = i % 120;
    const deletes =
      i % 7 === 6 ? [BigInt((i * 13) % 120)].filter((d) => d !== BigInt(id) && model.rows.has(d)) : [];
    table = await cdcCommit(
      catalog,
      table,
      model,
      { upserts: [{ id: BigInt(id), status: `v${i}`, day: 19_000 + (id % 2) }], deletes },
      // Equality deletes, as the sink writes for rows of earlier commits (position deletes are covered above).
      "equality",
    );
  }
  const before = await planScan(table);
  assert.ok(before.tasks.length >= 300);
  const result = await maintainTable({
    catalog,
    identifier: ordersId,
    configuration: resolveMaintenanceConfiguration(),
  });
  assert.equal(
    result.status.icebergCompaction.status,
    "Successful",
    result.status.icebergCompaction.failureMessage,
  );
  const after = await planScan(await catalog.loadTable(ordersId));
  const perPartition = new Map<string, number>();
  for (const task of after.tasks)
    perPartition.set(String(task.partition[0]), (perPartition.get(String(task.partition[0])) ?? 0) + 1);
  assert.equal(perPartition.size, 2);
  for (const count of perPartition.values()) assert.ok(count <= 2, `${count} files in a partition`);
  assert.equal(after.metrics.deleteFiles, 0, "no delete files");
  assert.deepEqual(sortById(await readTable(await catalog.loadTable(ordersId))), model.sorted());
  t.diagnostic(
    `${before.tasks.length} data files + ${before.metrics.deleteFiles} delete files → ${after.tasks.length} data files`,
  );
});
