// The snapshot read through COPY against the real PostgreSQL: every supported type (NULLs, edge values,
// text that COPY escapes) gives the same event values as the stream and as a text-mode query through the
// stream's conversion, in each decimal/interval mode; keys COPY cannot take as parameters (quotes,
// backslashes, tabs, composite keys) chain the keyset chunks and resume a crashed snapshot.
import assert from "node:assert/strict";
import { test } from "node:test";
import pg from "pg";
import { Capture, MemoryOffsetStore } from "../../../src/capture/capture.ts";
import { parseCaptureConfig } from "../../../src/capture/config.ts";
import {
  type ChangeEvent,
  decodeTuple,
  serializeKey,
  serializeValue,
  toJson,
} from "../../../src/capture/envelope.ts";
import { TypeRegistry } from "../../../src/capture/pg-types.ts";
import { describeTable } from "../../../src/capture/relation.ts";
import { textClient } from "../../../src/capture/snapshot.ts";
import { createTestDatabase, defer, uniqueName } from "../../helpers/services.ts";
import { RecordingSink } from "./recording-sink.ts";

const COLUMNS = `(
    id bigint primary key, s smallint, i integer, b bigint, n numeric(10,2), nu numeric, nwide numeric(50,10),
    nneg numeric(5,-2), r real, d double precision, bo boolean, t text, vc varchar(10), ch char(3), by bytea,
    da date, ti time, ttz timetz, ts timestamp, tstz timestamptz, iv interval, u uuid, j json, jb jsonb,
    m mood, ia integer[], ia2 integer[][], ta text[], dom positive, ip inet, ci cidr, mac macaddr, mo money,
    x xml, addr address, o oid, bits bit varying(8))`;
// Two tables of the same definition (LIKE would lose the declared array dimensions).
const TYPES = `
  create type mood as enum ('sad', 'happy', 'it''s "ok"');
  create domain positive as integer check (value > 0);
  create type address as (street text, zip integer, tags text[]);
  create table snap_side ${COLUMNS};
  create table stream_side ${COLUMNS};`;

// Every value COPY escapes (tab, newline, carriage return, backslash, the text \\N) and each type's edges.
const ROWS = String.raw`
  insert into snap_side values
  (1, -3, 42, 9007199254740993, 12345.67, 3.14159, 1.5, -12.3, 1.5, 2.25, true, 'hello', 'vc', 'ab',
   '\x00ff', '2024-02-29', '13:14:15.123456', '10:00:00+02', '2024-01-02 03:04:05.678901',
   '2024-01-02 03:04:05.5+01', '1 year 2 months 3 days 04:05:06.5', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
   '{"a": 1}', '{"b": [1, 2]}', 'happy', '{1,NULL,3}', '{{1,2},{3,4}}', '{"a b","c,d"}', 7, '192.168.0.1/24',
   '10.0.0.0/8', '08:00:2b:01:02:03', 1234.56, '<a>x</a>', row('Main St', 12345, '{x}'), 16384, B'101'),
  (2, -32768, 2147483647, -9223372036854775808, -99999999.99, 'NaN',
   '1234567890123456789012345678901234567890.5', 12300, 'Infinity', '-Infinity', false,
   E'tab\there\nnewline\rcr \\ back\\\\slash \\N end', '', 'a', E'\\x00090a0d5c4e',
   'infinity', '24:00:00', '23:59:59.999999-14', '-infinity', 'infinity', '-1 year -2 days +03:00:00.000001',
   '00000000-0000-0000-0000-000000000000', E'{"k":\t"v\\\\tw\\\\\\\\",\n "n": 1}', E'["a\\\\b", "\\\\t"]', 'it''s "ok"',
   '{}', '{{1,NULL},{NULL,4}}', E'{"tab\there","new\nline","back\\\\slash","quo\\"te",NULL,"NULL",""}', 1,
   '::1', '2001:db8::/32', 'ff:ff:ff:ff:ff:ff', -1234.56, E'<a b="c">\t\\</a>',
   row(E'St\t"x",\\ \n', 0, E'{"a,b",NULL,"\\\\"}'), 4294967295, B''),
  (3, 0, 0, 0, 0, '-0.000000000000000000001', '0.0000000001', 0, 'NaN', 'NaN', null, '\N', ' ', '',
   '', '4713-01-01 BC', '00:00:00', '00:00:00+00', '0044-03-15 12:00:00 BC', '12345-06-07 08:09:10.123456+00',
   '0 seconds', 'ffffffff-ffff-ffff-ffff-ffffffffffff', 'null', '{}', 'sad', '{-1}', '{}', '{""}', 2147483647,
   '0.0.0.0', '0.0.0.0/0', '00:00:00:00:00:00', 0, '<a/>', row(null, null, null), 0, B'11111111'),
  (4, null, null, null, null, 'Infinity', null, null, null, null, null, null, null, null, null, null, null,
   null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null,
   null, null, null),
  (5, null, null, 123456789012345, 0.01, '-Infinity', '-99999999999999999999999999999999999999.9999999999',
   -99900, '-0', '1e-300', null, 'ünïcödé ✓ 🐘', 'x', 'xyz', '\x', '1970-01-01', '23:59:59.999999',
   '12:34:56.5+05:30', '1970-01-01 00:00:00', '1969-12-31 23:59:59.999999+00', 'P-1Y-2M3DT-4H-5M-6.5S',
   'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '[]', '"\u00e9"', 'sad', '{2147483647,-2147483648}',
   '{{5}}', '{"ünï"}', 3, '10.1.2.3', '10.1.2.0/24', '01:02:03:04:05:06', 92233720368547758.07,
   '<b>é</b>', row('', -1, '{}'), 1, B'0')`;

async function database(t: Parameters<typeof createTestDatabase>[0], ddl: string) {
  const url = await createTestDatabase(t);
  const sql = new pg.Client({ connectionString: url });
  await sql.connect();
  defer(t, () => sql.end());
  await sql.query(ddl);
  return { url, sql };
}

/** Capture settings by their Debezium names. */
type Settings = Record<string, string>;

function capture(url: string, extra: Settings) {
  const slot = uniqueName("floe_snap");
  const sink = new RecordingSink(true);
  const offsets = new MemoryOffsetStore();
  const config = parseCaptureConfig({ url, "slot.name": slot, "publication.name": slot, ...extra });
  return { sink, offsets, config, capture: new Capture(config, sink, offsets) };
}

/** The Connect schema of `after` with the table's name taken out (the two tables differ only in name). */
function afterSchema(event: ChangeEvent, table: string): string {
  const envelope = JSON.parse(serializeValue(event, { schemasEnable: true }) ?? "null");
  const after = envelope.schema.fields.find((field: { field: string }) => field.field === "after");
  return JSON.stringify(after).replaceAll(table, "<table>");
}

const byId = (events: ChangeEvent[]) =>
  new Map(events.map((event) => [String(event.value.after?.id ?? event.key?.id), event]));

async function snapshotMatchesStream(t: Parameters<typeof createTestDatabase>[0], modes: Settings) {
  const { url, sql } = await database(t, TYPES + ROWS);
  // Two rows per keyset query and three per batch: batches end inside queries and span two of them.
  const { sink, capture: running } = capture(url, {
    ...modes,
    "snapshot.fetch.size": "2",
    "max.batch.size": "3",
  });
  defer(t, () => running.stop());
  const { done } = await running.start();
  done.catch((error: unknown) => sink.fail(error));
  await sql.query("insert into stream_side select * from snap_side");
  await sink.waitFor(() => sink.changes("stream_side").length === 5);

  const snapshot = byId(sink.changes("snap_side"));
  const streamed = byId(sink.changes("stream_side"));
  assert.deepEqual(
    sink.changes("snap_side").map((event) => event.value.op),
    ["r", "r", "r", "r", "r"],
  );
  assert.deepEqual([...snapshot.keys()], ["1", "2", "3", "4", "5"], "every row once, in key order");

  // The rows as the previous snapshot read them: a text-mode query, each row through decodeTuple.
  const reader = textClient(url);
  await reader.connect();
  defer(t, () => reader.end());
  const table = await describeTable(
    reader,
    new TypeRegistry(reader, parseCaptureConfig({ url, ...modes })),
    "public",
    "snap_side",
  );
  const { rows } = await reader.query<Array<string | null>>({
    text: "select * from snap_side order by id",
    rowMode: "array",
  });
  const queried = new Map(rows.map((values) => [String(values[0]), decodeTuple(table, values).row]));

  for (const [id, event] of snapshot) {
    const stream = streamed.get(id);
    assert.ok(stream, `row ${id} streamed`);
    const after = event.value.after ?? {};
    assert.deepEqual(after, stream.value.after, `row ${id}: snapshot = stream`);
    assert.deepEqual(
      after,
      queried.get(id),
      `row ${id}: snapshot = text query through the stream's conversion`,
    );
    assert.equal(toJson(after), toJson(stream.value.after ?? {}), `row ${id}: same JSON`);
    assert.deepEqual(Object.keys(after), Object.keys(stream.value.after ?? {}), `row ${id}: column order`);
    assert.equal(
      serializeKey(event, { schemasEnable: false }),
      serializeKey(stream, { schemasEnable: false }),
    );
    assert.deepEqual(
      afterSchema(event, "snap_side"),
      afterSchema(stream, "stream_side"),
      `row ${id}: same schema`,
    );
  }
  return snapshot;
}

test("snapshot rows equal streamed rows for every type (decimal.handling.mode precise, intervals numeric)", async (t) => {
  const snapshot = await snapshotMatchesStream(t, {});
  // Spot checks that the comparison is about real values, not two empty rows.
  const edge = snapshot.get("2")?.value.after ?? {};
  assert.equal(edge.t, "tab\there\nnewline\rcr \\ back\\\\slash \\N end");
  assert.equal(edge.b, -9223372036854775808n);
  assert.equal(edge.nu, null, "NaN has no Connect decimal");
  assert.equal(edge.by, Buffer.from([0x00, 0x09, 0x0a, 0x0d, 0x5c, 0x4e]).toString("base64"));
  assert.deepEqual(edge.ta, ["tab\there", "new\nline", "back\\slash", 'quo"te', null, "NULL", ""]);
  assert.deepEqual(edge.addr, { street: 'St\t"x",\\ \n', zip: 0, tags: ["a,b", null, "\\"] });
  assert.equal(snapshot.get("3")?.value.after?.t, "\\N", "the text \\N is not NULL");
  assert.equal(snapshot.get("3")?.value.after?.bo, null);
  assert.equal(snapshot.get("5")?.value.after?.t, "ünïcödé ✓ 🐘");
});

test("snapshot rows equal streamed rows with decimal.handling.mode double", async (t) => {
  const snapshot = await snapshotMatchesStream(t, { "decimal.handling.mode": "double" });
  assert.ok(Number.isNaN(snapshot.get("2")?.value.after?.nu));
});

test("snapshot rows equal streamed rows with decimal.handling.mode string and interval.handling.mode string", async (t) => {
  const snapshot = await snapshotMatchesStream(t, {
    "decimal.handling.mode": "string",
    "interval.handling.mode": "string",
  });
  assert.equal(snapshot.get("2")?.value.after?.nwide, "1234567890123456789012345678901234567890.5000000000");
});

test("keys with quotes, backslashes and tabs chain the keyset queries and resume a crashed snapshot", async (t) => {
  const names = ["a", "it's", "back\\slash", "tab\there", "new\nline", "E'x'", "\\N", "ü", "z"];
  const { url, sql } = await database(
    t,
    `create table pairs (name text, at timestamptz, v int unique, primary key (name, at));
     create table keyless (v text);`,
  );
  let v = 0;
  for (const name of names)
    for (const at of ["2024-01-01 00:00:00+00", "2024-01-01 00:00:00.5+00"])
      await sql.query("insert into pairs values ($1, $2, $3)", [name, at, v++]);
  await sql.query("insert into keyless select 'row ' || g from generate_series(1, 7) g");
  const { rows } = await sql.query<{ v: number }>("select v from pairs order by name, at");
  const expected = rows.map((row) => row.v);
  const seen = (sink: RecordingSink) => sink.changes("pairs").map((event) => event.value.after?.v);

  // Tables are read in name order: keyless, then pairs. The first run's sink fails at the fourth batch
  // of pairs (batches of 2 rows, keyset queries of 3): a crash in the middle of the snapshot.
  const first = capture(url, { "snapshot.fetch.size": "3", "max.batch.size": "2" });
  const originalWrite = first.sink.write.bind(first.sink);
  const pairsBatches = () =>
    first.sink.batches.filter((batch) =>
      batch.events.some((event) => event.kind === "change" && event.table.table === "pairs"),
    ).length;
  first.sink.write = async (batch) => {
    if (pairsBatches() >= 3) throw new Error("sink crashed");
    await originalWrite(batch);
  };
  await assert.rejects(first.capture.start(), /sink crashed/);
  await first.capture.stop();
  const delivered = seen(first.sink);
  assert.deepEqual(delivered, expected.slice(0, 6), "three batches of two, in key order");
  const lastKey = (await first.offsets.load())?.snapshot?.tables["public.pairs"]?.lastKey;
  assert.equal(lastKey?.length, 2, "the composite key's text values");

  const sink = new RecordingSink(true);
  const resumed = new Capture(first.config, sink, first.offsets);
  defer(t, () => resumed.stop());
  await resumed.start();
  assert.deepEqual(
    [...delivered, ...seen(sink)],
    expected,
    "every row exactly once, in key order, across the crash",
  );
  assert.deepEqual(
    first.sink
      .changes("keyless")
      .map((event) => event.value.after?.v)
      .sort(),
    Array.from({ length: 7 }, (_, index) => `row ${index + 1}`).sort(),
  );
  assert.equal(sink.changes("keyless").length, 0, "the keyless table was complete before the crash");
  const keylessBatches = first.sink.batches.filter((batch) =>
    batch.events.some((event) => event.kind === "change" && event.table.table === "keyless"),
  );
  assert.equal(keylessBatches.length, 4, "the keyless table in batches of 2");
});
