import assert from "node:assert/strict";
import { test } from "node:test";
import { primitive } from "../../src/iceberg/types.ts";
import { encodeKey, KeyIndex, type RowLocation } from "../../src/sink/key-index.ts";

test("the key index spills beyond its memory limit and still finds, moves and removes every key", async (t) => {
  const index = new KeyIndex({ memoryLimitEntries: 100 });
  t.after(() => index.close());
  const model = new Map<string, RowLocation>();
  const loc = (i: number): RowLocation => ({ filePath: `file:///w/data/f${i % 7}.parquet`, pos: i });
  const updates: [string, RowLocation][] = [];
  for (let i = 0; i < 1000; i++) {
    updates.push([`k${i}`, loc(i)]);
    model.set(`k${i}`, loc(i));
  }
  await index.setMany(updates);
  assert.equal(index.size, 1000);
  assert.ok(index.spilledEntries >= 900, `spilled ${index.spilledEntries}`);
  // Move some spilled keys, remove others.
  const changes: [string, RowLocation | undefined][] = [];
  for (let i = 0; i < 1000; i += 3) {
    const next = i % 2 === 0 ? loc(i + 5000) : undefined;
    changes.push([`k${i}`, next]);
    if (next) model.set(`k${i}`, next);
    else model.delete(`k${i}`);
  }
  await index.setMany(changes);
  assert.equal(index.size, model.size);
  const all = await index.getMany([...Array(1000).keys()].map((i) => `k${i}`).concat(["missing"]));
  assert.deepEqual(new Map([...all].sort()), new Map([...model].sort()));
  const listed = new Map<string, RowLocation>();
  for await (const batch of index.entries(64)) for (const [k, v] of batch) listed.set(k, v);
  assert.deepEqual(new Map([...listed].sort()), new Map([...model].sort()));
  await index.clear();
  assert.equal(index.size, 0);
  assert.equal((await index.getMany(["k1"])).size, 0);
});

test("keys encode the same from the writer's input and from values read back", () => {
  const fields = [
    { id: 1, name: "a", required: true, type: primitive("long") },
    { id: 2, name: "b", required: true, type: { kind: "decimal", precision: 9, scale: 2 } as const },
    { id: 3, name: "c", required: true, type: primitive("uuid") },
  ];
  assert.equal(
    encodeKey(fields, { a: 5, b: 1250n, c: "AB5C1234-0000-0000-0000-000000000000" }),
    encodeKey(fields, { a: 5n, b: "12.50", c: "ab5c1234-0000-0000-0000-000000000000" }),
  );
  assert.notEqual(
    encodeKey(fields, { a: 5n, b: "12.5", c: null }),
    encodeKey(fields, { a: 6n, b: "12.5", c: null }),
  );
});
