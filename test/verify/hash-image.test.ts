// The PostgreSQL image and its comparison: in memory and spilled to DuckDB on disk, the same changes and
// the same Iceberg rows give the same counts, digests and first differences.
import assert from "node:assert/strict";
import { test } from "node:test";
import { type Comparison, HashImage, type ImageChanges } from "../../src/verify/hash-image.ts";

type Pair = readonly [string, string];

const h = (n: number) => n.toString(16).padStart(32, "0");
const k = (n: number) => JSON.stringify([String(n)]);

async function* batches(rows: Pair[], size = 3): AsyncGenerator<Pair[]> {
  for (let i = 0; i < rows.length; i += size) yield rows.slice(i, i + size);
}

async function run(
  keyed: boolean,
  memoryLimitEntries: number,
  initial: Pair[],
  changes: ImageChanges[],
  lake: Pair[],
  maxDifferences = 10,
): Promise<{ comparison: Comparison; spilled: boolean }> {
  const image = new HashImage({ keyed, memoryLimitEntries });
  try {
    for (let i = 0; i < initial.length; i += 4) await image.append(initial.slice(i, i + 4));
    for (const change of changes) await image.apply(change);
    const spilled = image.spilled;
    return { comparison: await image.compare(batches(lake), maxDifferences), spilled };
  } finally {
    await image.close();
  }
}

const noChanges = (): ImageChanges => ({ truncate: false, upserts: new Map(), deltas: new Map() });

test("keyed: equal tables compare equal with equal digests, in memory and on disk", async () => {
  const rows: Pair[] = Array.from({ length: 20 }, (_, i) => [k(i), h(i * 7 + 1)]);
  for (const limit of [1000, 5]) {
    const { comparison, spilled } = await run(true, limit, rows, [], [...rows].reverse());
    assert.equal(spilled, limit === 5);
    assert.equal(comparison.postgresRows, 20);
    assert.equal(comparison.icebergRows, 20);
    assert.equal(comparison.postgresDigest, comparison.icebergDigest);
    assert.deepEqual(
      [
        comparison.onlyInPostgres,
        comparison.onlyInIceberg,
        comparison.rowsDiffering,
        comparison.duplicateKeysInIceberg,
      ],
      [0, 0, 0, 0],
    );
    assert.deepEqual(comparison.differences, []);
  }
});

test("keyed: every kind of difference, after roll-forward changes, the same in both modes", async () => {
  const initial: Pair[] = Array.from({ length: 12 }, (_, i) => [k(i), h(i + 100)]);
  const changes: ImageChanges[] = [
    {
      truncate: false,
      upserts: new Map<string, string | null>([
        [k(3), null], // deleted after C
        [k(4), h(999)], // updated after C
        [k(50), h(5000)], // inserted after C
      ]),
      deltas: new Map(),
    },
  ];
  // The lake: key 1 missing, key 2 different, key 4 at its new value, key 5 twice, keys 60 (twice) and 61 extra.
  const lake: Pair[] = [
    [k(0), h(100)],
    [k(2), h(777)],
    [k(4), h(999)],
    [k(5), h(105)],
    [k(5), h(105)],
    [k(6), h(106)],
    [k(7), h(107)],
    [k(8), h(108)],
    [k(9), h(109)],
    [k(10), h(110)],
    [k(11), h(111)],
    [k(50), h(5000)],
    [k(60), h(1)],
    [k(60), h(2)],
    [k(61), h(3)],
  ];
  const memory = await run(true, 1000, initial, changes, lake);
  const disk = await run(true, 3, initial, changes, lake);
  assert.equal(memory.spilled, false);
  assert.equal(disk.spilled, true);
  for (const { comparison } of [memory, disk]) {
    assert.equal(comparison.postgresRows, 12);
    assert.equal(comparison.icebergRows, 15);
    assert.equal(comparison.onlyInPostgres, 1);
    assert.equal(comparison.onlyInIceberg, 3);
    assert.equal(comparison.rowsDiffering, 1);
    assert.equal(comparison.duplicateKeysInIceberg, 1);
    assert.notEqual(comparison.postgresDigest, comparison.icebergDigest);
    assert.deepEqual(comparison.differences, [
      { key: k(1), kind: "only_in_postgres", rows: 1 },
      { key: k(2), kind: "row_differs", rows: 1 },
      { key: k(5), kind: "duplicate_in_iceberg", rows: 2 },
      { key: k(60), kind: "only_in_iceberg", rows: 2 },
      { key: k(61), kind: "only_in_iceberg", rows: 1 },
    ]);
  }
  assert.deepEqual(memory.comparison, disk.comparison);
  const limited = await run(true, 1000, initial, changes, lake, 2);
  assert.deepEqual(limited.comparison.differences, memory.comparison.differences.slice(0, 2));
});

test("keyed: a truncate empties the image before the window applies", async () => {
  const initial: Pair[] = [
    [k(1), h(1)],
    [k(2), h(2)],
  ];
  const change: ImageChanges = { truncate: true, upserts: new Map([[k(9), h(9)]]), deltas: new Map() };
  for (const limit of [1000, 1]) {
    const { comparison } = await run(true, limit, initial, [change], [[k(9), h(9)]]);
    assert.equal(comparison.postgresRows, 1);
    assert.deepEqual(comparison.differences, []);
  }
});

test("keyless: multisets of row hashes, duplicates counted, in memory and on disk", async () => {
  const initial: Pair[] = [h(1), h(1), h(2), h(3), h(4)].map((hash) => ["", hash]);
  const changes: ImageChanges[] = [
    { ...noChanges(), deltas: new Map([[h(4), -1]]) }, // a delete after C
    { ...noChanges(), deltas: new Map([[h(5), 2]]) }, // two inserts
  ];
  const lake: Pair[] = [h(1), h(2), h(2), h(3), h(5), h(5)].map((hash) => ["", hash]);
  const memory = await run(false, 1000, initial, changes, lake);
  const disk = await run(false, 2, initial, changes, lake);
  assert.equal(disk.spilled, true);
  for (const { comparison } of [memory, disk]) {
    assert.equal(comparison.postgresRows, 6);
    assert.equal(comparison.icebergRows, 6);
    assert.equal(comparison.onlyInPostgres, 1);
    assert.equal(comparison.onlyInIceberg, 1);
    assert.deepEqual(comparison.differences, [
      { key: h(1), kind: "only_in_postgres", rows: 1 },
      { key: h(2), kind: "only_in_iceberg", rows: 1 },
    ]);
  }
  assert.deepEqual(memory.comparison, disk.comparison);
  const equal = await run(
    false,
    2,
    initial,
    changes,
    [h(1), h(1), h(2), h(3), h(5), h(5)].map((hash) => ["", hash]),
  );
  assert.equal(equal.comparison.postgresDigest, equal.comparison.icebergDigest);
  assert.equal(equal.comparison.onlyInIceberg + equal.comparison.onlyInPostgres, 0);
});

test("keyless: deleting a row the image does not hold is an error, not a silent miscount", async () => {
  for (const limit of [1000, 1]) {
    const image = new HashImage({ keyed: false, memoryLimitEntries: limit });
    try {
      await image.append([
        ["", h(1)],
        ["", h(2)],
      ]);
      await assert.rejects(image.apply({ ...noChanges(), deltas: new Map([[h(3), -1]]) }), {
        code: "ROLL_FORWARD_FAILED",
      });
    } finally {
      await image.close();
    }
  }
});
