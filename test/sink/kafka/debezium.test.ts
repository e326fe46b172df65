/**
 * The Debezium decoder against two references: (a) `floe capture`'s own serializer over a table with
 * every type capture maps — the decoded rows must equal what direct mode (`sinkRow`) makes of the same
 * event values, the event schema what `eventSchema` makes of the table; (b) records as Debezium's
 * PostgreSQL connector writes them (its documentation's examples and type modes); (c) every error code.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type pg from "pg";
import {
  type ChangeEvent,
  decodeTuple,
  type Row as EventRow,
  keyOf,
  type LogicalMessageEvent,
  type SchemaChangeEvent,
  type SourceInfo,
  serializeKey,
  serializeValue,
  type TransactionEvent,
} from "../../../src/capture/envelope.ts";
import { CaptureError } from "../../../src/capture/errors.ts";
import { type TypeMappingOptions, TypeRegistry, withDimensions } from "../../../src/capture/pg-types.ts";
import { UNCHANGED_TOAST } from "../../../src/capture/pgoutput.ts";
import type { ColumnSchema, TableSchema } from "../../../src/capture/relation.ts";
import { decimal, type IcebergType, primitive, typeToString } from "../../../src/iceberg/types.ts";
import { heartbeatRecord } from "../../../src/kafka/heartbeat.ts";
import { eventSchema, sinkRow } from "../../../src/replicate/values.ts";
import { type EventSchema, sinkSchema } from "../../../src/sink/auto-create.ts";
import { deadLetterHeaders } from "../../../src/sink/kafka/dead-letter.ts";
import {
  changeOf,
  type DebeziumChange,
  DebeziumDecoder,
  type DebeziumDecoderOptions,
  type DebeziumEvent,
  type KafkaRecord,
  type TargetSchema,
} from "../../../src/sink/kafka/debezium.ts";
import { DecodeError } from "../../../src/sink/kafka/decode-error.ts";

// ---- a type catalog for capture's TypeRegistry (what pg_type answers for these oids) ---------------

interface FakeType {
  typname: string;
  typtype?: string;
  typcategory?: string;
  typelem?: number;
  typbasetype?: number;
  typtypmod?: number;
  typrelid?: number;
  enum_labels?: string[];
  nspname?: string;
}

const BUILTIN: Record<number, string> = {
  16: "bool",
  17: "bytea",
  18: "char",
  19: "name",
  20: "int8",
  21: "int2",
  23: "int4",
  25: "text",
  26: "oid",
  114: "json",
  142: "xml",
  600: "point",
  700: "float4",
  701: "float8",
  790: "money",
  829: "macaddr",
  869: "inet",
  1042: "bpchar",
  1043: "varchar",
  1082: "date",
  1083: "time",
  1114: "timestamp",
  1184: "timestamptz",
  1186: "interval",
  1266: "timetz",
  1560: "bit",
  1700: "numeric",
  2950: "uuid",
  3614: "tsvector",
  3802: "jsonb",
};

const ARRAYS: Record<number, number> = { 1000: 16, 1007: 23, 1009: 25, 1231: 1700, 1185: 1184, 2951: 2950 };

const MOOD = 90_001;
const ADDRESS = 90_002;
const ADDRESS_RELATION = 90_100;
const POSINT = 90_003;
const PRICE = 90_004;

const numericMod = (precision: number, scale: number) => ((precision << 16) | scale) + 4;

function fakeType(oid: number): FakeType | undefined {
  const builtin = BUILTIN[oid];
  if (builtin) return { typname: builtin };
  const element = ARRAYS[oid];
  if (element !== undefined) return { typname: `_${BUILTIN[element]}`, typcategory: "A", typelem: element };
  switch (oid) {
    case MOOD:
      return { typname: "mood", typtype: "e", nspname: "public", enum_labels: ["sad", "ok", "happy"] };
    case ADDRESS:
      return { typname: "address", typtype: "c", nspname: "public", typrelid: ADDRESS_RELATION };
    case POSINT:
      return { typname: "posint", typtype: "d", nspname: "public", typbasetype: 23 };
    case PRICE:
      return {
        typname: "price",
        typtype: "d",
        nspname: "public",
        typbasetype: 1700,
        typtypmod: numericMod(8, 2),
      };
  }
  return undefined;
}

/** Answers TypeRegistry's two catalog queries (pg_type by oid, a composite's attributes). */
const fakeCatalog = {
  async query(sql: string, params: unknown[]) {
    if (sql.includes("from pg_attribute")) {
      assert.equal(params[0], ADDRESS_RELATION);
      return {
        rows: [
          { attname: "street", atttypid: 25, atttypmod: -1 },
          { attname: "zip", atttypid: 23, atttypmod: -1 },
        ],
      };
    }
    const oid = Number(params[0]);
    const type = fakeType(oid);
    if (!type) return { rows: [] };
    return {
      rows: [
        {
          oid,
          typname: type.typname,
          nspname: type.nspname ?? "pg_catalog",
          typtype: type.typtype ?? "b",
          typcategory: type.typcategory ?? "U",
          typelem: type.typelem ?? 0,
          typbasetype: type.typbasetype ?? 0,
          typtypmod: type.typtypmod ?? -1,
          typrelid: type.typrelid ?? 0,
          typdelim: ",",
          enum_labels: type.enum_labels ? JSON.stringify(type.enum_labels) : null,
          formatted: type.typname,
        },
      ],
    };
  },
} as unknown as pg.Client;

// ---- the wide table: every type capture maps, with edge-case values ---------------------------------

interface ColumnSpec {
  name: string;
  oid: number;
  mod?: number;
  notNull?: boolean;
  /** PostgreSQL's text output of the edge-case row (null = SQL NULL). */
  text: string | null;
}

const WIDE: ColumnSpec[] = [
  { name: "id", oid: 23, notNull: true, text: "1" },
  { name: "region", oid: 25, notNull: true, text: "eu-west" },
  { name: "c_int2", oid: 21, text: "-32768" },
  { name: "c_int4", oid: 23, text: "2147483647" },
  { name: "c_int8_max", oid: 20, text: "9223372036854775807" },
  { name: "c_int8_min", oid: 20, text: "-9223372036854775808" },
  { name: "c_oid", oid: 26, text: "4294967295" },
  { name: "c_float4_nan", oid: 700, text: "NaN" },
  { name: "c_float4", oid: 700, text: "1.5" },
  { name: "c_float8_inf", oid: 701, text: "Infinity" },
  { name: "c_float8_ninf", oid: 701, text: "-Infinity" },
  { name: "c_float8", oid: 701, text: "-1.2345678901234567e-300" },
  { name: "c_bool", oid: 16, text: "t" },
  { name: "c_numeric_10_2", oid: 1700, mod: numericMod(10, 2), text: "-12345678.90" },
  {
    name: "c_numeric_38_0",
    oid: 1700,
    mod: numericMod(38, 0),
    text: "99999999999999999999999999999999999999",
  },
  { name: "c_numeric_38_0_neg", oid: 1700, mod: numericMod(38, 0), text: "-1" },
  { name: "c_numeric_5_5", oid: 1700, mod: numericMod(5, 5), text: "0.00001" },
  { name: "c_numeric_nan", oid: 1700, mod: numericMod(10, 2), text: "NaN" },
  { name: "c_numeric", oid: 1700, text: "12345678901234567890.123456789012345678" },
  { name: "c_numeric_neg", oid: 1700, text: "-0.5" },
  { name: "c_numeric_tiny", oid: 1700, text: "0.0000000000000000000001" },
  { name: "c_numeric_inf", oid: 1700, text: "Infinity" },
  { name: "c_money", oid: 790, text: "-$1,234.56" },
  { name: "c_text", oid: 25, text: 'héllo "wörld" ✓ \\ {}' },
  { name: "c_varchar", oid: 1043, text: "" },
  { name: "c_bpchar", oid: 1042, text: "ab   " },
  { name: "c_name", oid: 19, text: "pg_class" },
  { name: "c_char", oid: 18, text: "x" },
  { name: "c_bytea", oid: 17, text: "\\x00ff10" },
  { name: "c_bytea_empty", oid: 17, text: "\\x" },
  { name: "c_date", oid: 1082, text: "1969-07-20" },
  { name: "c_date_bc", oid: 1082, text: "0044-03-15 BC" },
  { name: "c_date_inf", oid: 1082, text: "infinity" },
  { name: "c_time", oid: 1083, text: "23:59:59.999999" },
  { name: "c_timetz", oid: 1266, text: "12:00:00.5+05:30" },
  { name: "c_timestamp", oid: 1114, text: "1960-01-01 00:00:00.000001" },
  { name: "c_timestamp_ninf", oid: 1114, text: "-infinity" },
  { name: "c_timestamptz", oid: 1184, text: "2024-01-02 03:04:05.123456+00" },
  { name: "c_timestamptz_old", oid: 1184, text: "1950-06-01 12:00:00.25+00" },
  { name: "c_timestamptz_inf", oid: 1184, text: "infinity" },
  { name: "c_interval", oid: 1186, text: "P1Y2M3DT4H5M6.789S" },
  { name: "c_interval_neg", oid: 1186, text: "PT-0.5S" },
  { name: "c_uuid", oid: 2950, text: "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11" },
  { name: "c_json", oid: 114, text: '{"a": [1, 2.5, null], "b": 12345678901234567890}' },
  { name: "c_jsonb", oid: 3802, text: "[]" },
  { name: "c_xml", oid: 142, text: "<a>b</a>" },
  { name: "c_enum", oid: MOOD, text: "happy" },
  { name: "c_int_array", oid: 1007, text: "{1,NULL,3}" },
  { name: "c_text_array", oid: 1009, text: '{a,NULL,"b c",""}' },
  { name: "c_numeric_array", oid: 1231, mod: numericMod(10, 2), text: "{1.50,-2.25,NULL}" },
  { name: "c_bool_array", oid: 1000, text: "{t,f}" },
  { name: "c_uuid_array", oid: 2951, text: "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}" },
  { name: "c_timestamptz_array", oid: 1185, text: '{"2024-01-02 03:04:05+00",NULL}' },
  { name: "c_empty_array", oid: 1007, text: "{}" },
  { name: "c_inet", oid: 869, text: "192.168.0.1/24" },
  { name: "c_macaddr", oid: 829, text: "08:00:2b:01:02:03" },
  { name: "c_point", oid: 600, text: "(1.5,2)" },
  { name: "c_bit", oid: 1560, mod: 3, text: "101" },
  { name: "c_tsvector", oid: 3614, text: "'a' 'b'" },
  { name: "c_address", oid: ADDRESS, text: '("1 Main St",12345)' },
  { name: "c_address_nulls", oid: ADDRESS, text: "(,)" },
  { name: "c_posint", oid: POSINT, text: "42" },
  { name: "c_price", oid: PRICE, text: "19.99" },
  { name: "c_toast", oid: 25, text: "a long value kept out of line".repeat(20) },
];

async function wideTable(
  options: Partial<TypeMappingOptions> = {},
  specs: ColumnSpec[] = WIDE,
  shape: { dimensions?: Record<string, number>; primaryKey?: string[] } = {},
): Promise<TableSchema> {
  const types = new TypeRegistry(fakeCatalog, {
    decimalHandlingMode: "precise",
    intervalHandlingMode: "numeric",
    unknownTypes: "error",
    ...options,
  });
  const columns: ColumnSchema[] = [];
  for (const spec of specs) {
    // As relation.ts does with pg_attribute.attndims: declared array dimensions shape the mapping.
    const dimensions = shape.dimensions?.[spec.name] ?? 0;
    const mapping = await types.mappingFor(spec.oid, spec.mod ?? -1, {
      table: "public.wide",
      column: spec.name,
    });
    columns.push({
      name: spec.name,
      typeOid: spec.oid,
      typeMod: spec.mod ?? -1,
      optional: !spec.notNull,
      ...(dimensions > 1 ? { dimensions } : {}),
      mapping: withDimensions(mapping, dimensions),
    });
  }
  return {
    relationOid: 16_384,
    schema: "public",
    table: "wide",
    replicaIdentity: "default",
    columns,
    primaryKey: shape.primaryKey ?? ["id", "region"],
  };
}

const TOPIC = "shop.public.wide";

function sourceInfo(overrides: Partial<SourceInfo> = {}): SourceInfo {
  return {
    version: "floe-0.1.0",
    connector: "postgresql",
    name: "shop",
    ts_ms: 1_704_164_645_123,
    snapshot: "false",
    db: "shop",
    sequence: '["23456","23500"]',
    schema: "public",
    table: "wide",
    txId: 771,
    lsn: 23_500n,
    xmin: null,
    ...overrides,
  };
}

function changeEvent(
  table: TableSchema,
  op: ChangeEvent["value"]["op"],
  rows: { before?: EventRow | null; after?: EventRow | null; unchanged?: string[]; source?: SourceInfo },
): ChangeEvent {
  const keyRow = op === "t" ? null : keyOf(table, rows.after ?? rows.before ?? null);
  return {
    kind: "change",
    topic: TOPIC,
    table,
    key: keyRow,
    value: {
      before: rows.before ?? null,
      after: rows.after ?? null,
      source: rows.source ?? sourceInfo(),
      op,
      ts_ms: 1_704_164_646_000,
      transaction: { id: "771:23500", total_order: 3, data_collection_order: 2 },
    },
    unchangedColumns: rows.unchanged ?? [],
  };
}

let offset = 0n;

function kafkaRecord(key: string | null, value: string | null, topic = TOPIC): KafkaRecord {
  offset++;
  return {
    topic,
    partition: 0,
    offset,
    key: key === null ? null : Buffer.from(key),
    value: value === null ? null : Buffer.from(value),
  };
}

function serialized(event: Parameters<typeof serializeValue>[0], schemasEnable: boolean): KafkaRecord {
  return kafkaRecord(serializeKey(event, { schemasEnable }), serializeValue(event, { schemasEnable }));
}

function asChange(event: DebeziumEvent): DebeziumChange {
  if (event.kind !== "change") assert.fail(`expected a change, got ${JSON.stringify(event)}`);
  return event as DebeziumChange;
}

/** The edge-case row, the all-NULL row, as capture decodes PostgreSQL's text output. */
function rowsOf(table: TableSchema, specs: ColumnSpec[] = WIDE) {
  const edge = decodeTuple(
    table,
    specs.map((spec) => spec.text),
  ).row;
  const nulls = decodeTuple(
    table,
    specs.map((spec) => (spec.name === "id" ? "2" : spec.name === "region" ? "us-east" : null)),
  ).row;
  return { edge, nulls };
}

/** Iceberg types by column, as direct mode converts with them. */
function typesOf(table: TableSchema): Map<string, IcebergType> {
  return new Map(eventSchema(table).columns.map((column) => [column.name, column.type]));
}

function oracleRow(table: TableSchema, row: EventRow): Record<string, unknown> {
  return sinkRow(table, typesOf(table), row);
}

const MODES: Array<{
  name: string;
  schemasEnable: boolean;
  target?: (table: TableSchema) => TargetSchema;
}> = [
  { name: "schemas.enable=true", schemasEnable: true },
  {
    name: "schemas.enable=false, target = event schema",
    schemasEnable: false,
    target: (t) => eventSchema(t),
  },
  {
    name: "schemas.enable=false, target = Iceberg schema",
    schemasEnable: false,
    target: (t) => sinkSchema(eventSchema(t)),
  },
];

describe("floe capture's events decode to what direct mode writes", () => {
  for (const mode of MODES) {
    test(`every capture type, ${mode.name}`, async () => {
      const table = await wideTable();
      const { edge, nulls } = rowsOf(table);
      const decoder = new DebeziumDecoder();
      const target = mode.target?.(table);
      const decode = (event: Parameters<typeof serializeValue>[0]) =>
        decoder.decode(serialized(event, mode.schemasEnable), target);

      // insert of the edge-case row
      const insert = asChange(decode(changeEvent(table, "c", { after: edge })));
      assert.equal(insert.op, "c");
      assert.deepEqual(insert.source, { schema: "public", table: "wide" });
      assert.deepEqual(insert.after, oracleRow(table, edge));
      assert.equal(insert.before, undefined);
      assert.deepEqual(insert.key, oracleRow(table, { id: 1, region: "eu-west" }));
      assert.deepEqual(insert.unchangedColumns, []);
      assert.equal(insert.lsn, 23_500n);
      assert.equal(insert.txId, 771);
      assert.equal(insert.commitTimeMs, 1_704_164_645_123);
      assert.equal(insert.snapshot, false);
      assert.deepEqual(insert.transaction, { id: "771:23500", totalOrder: 3, dataCollectionOrder: 2 });
      if (mode.schemasEnable) assert.deepEqual(insert.eventSchema, eventSchema(table));
      else assert.equal(insert.eventSchema, undefined);
      // spot checks of the representation, independent of the oracle
      const after = insert.after!;
      assert.equal(after.c_int8_max, 9_223_372_036_854_775_807n);
      assert.equal(after.c_int8_min, -9_223_372_036_854_775_808n);
      assert.ok(Number.isNaN(after.c_float4_nan));
      assert.equal(after.c_float8_ninf, -Infinity);
      assert.equal(after.c_numeric_10_2, -1_234_567_890n);
      assert.equal(after.c_numeric_38_0, 10n ** 38n - 1n);
      assert.equal(after.c_numeric, 12_345_678_901_234_567_890_123_456_789_012_345_678n);
      assert.equal(after.c_numeric_neg, -500_000_000_000_000_000n);
      assert.equal(after.c_numeric_nan, null);
      assert.equal(after.c_money, -123_456n);
      assert.deepEqual(after.c_bytea, new Uint8Array([0, 255, 16]));
      assert.equal(after.c_date, -165);
      assert.equal(after.c_date_inf, 2_147_483_647);
      assert.equal(after.c_time, 86_399_999_999n);
      assert.equal(after.c_timetz, "06:30:00.5Z");
      assert.equal(after.c_timestamp, -315_619_199_999_999n);
      assert.equal(after.c_timestamptz, 1_704_164_645_123_456n);
      assert.equal(after.c_timestamptz_old, -618_062_399_750_000n);
      assert.equal(after.c_interval_neg, -500_000n);
      assert.deepEqual(after.c_int_array, [1, null, 3]);
      assert.deepEqual(after.c_numeric_array, [150n, -225n, null]);
      assert.deepEqual(after.c_address, { street: "1 Main St", zip: 12345 });
      assert.deepEqual(after.c_address_nulls, { street: null, zip: null });
      assert.equal(after.c_price, 1999n);

      // snapshot read of the all-NULL row
      const read = asChange(
        decode(
          changeEvent(table, "r", {
            after: nulls,
            source: sourceInfo({ snapshot: "true", txId: null, lsn: null }),
          }),
        ),
      );
      assert.equal(read.op, "r");
      assert.equal(read.snapshot, true);
      assert.equal(read.lsn, undefined);
      assert.equal(read.txId, undefined);
      assert.deepEqual(read.after, oracleRow(table, nulls));

      // update keeping the TOASTed column: absent from after, listed as unchanged
      const tuple = WIDE.map((spec) => (spec.name === "c_toast" ? UNCHANGED_TOAST : spec.text));
      const toasted = decodeTuple(table, tuple);
      assert.deepEqual(toasted.unchanged, ["c_toast"]);
      const update = asChange(
        decode(changeEvent(table, "u", { after: toasted.row, unchanged: toasted.unchanged })),
      );
      assert.equal(update.op, "u");
      assert.deepEqual(update.unchangedColumns, ["c_toast"]);
      assert.equal("c_toast" in update.after!, false);
      assert.deepEqual(update.after, oracleRow(table, toasted.row));

      // update under REPLICA IDENTITY FULL: a complete before image
      const full = asChange(decode(changeEvent(table, "u", { before: nulls, after: edge })));
      assert.deepEqual(full.before, oracleRow(table, nulls));
      assert.deepEqual(full.after, oracleRow(table, edge));

      // delete: before holds the key
      const deleted = asChange(decode(changeEvent(table, "d", { before: { id: 1, region: "eu-west" } })));
      assert.equal(deleted.op, "d");
      assert.equal(deleted.after, undefined);
      assert.deepEqual(deleted.before, { id: 1, region: "eu-west" });
      assert.deepEqual(deleted.key, { id: 1, region: "eu-west" });
      assert.deepEqual(changeOf(deleted), {
        op: "d",
        key: { id: 1, region: "eu-west" },
        before: { id: 1, region: "eu-west" },
        commitTimeMs: 1_704_164_645_123,
      });

      // truncate: no rows, no key
      const truncate = asChange(decode(changeEvent(table, "t", {})));
      assert.equal(truncate.op, "t");
      assert.deepEqual(truncate.key, {});
      assert.equal(truncate.after, undefined);
      assert.equal(truncate.before, undefined);

      // tombstone after the delete
      const tombstone = decoder.decode(
        kafkaRecord(
          serializeKey(changeEvent(table, "d", { before: { id: 1, region: "eu-west" } }), mode),
          null,
        ),
        target,
      );
      assert.deepEqual(tombstone, {
        kind: "tombstone",
        source: { schema: "public", table: "wide" },
        key: { id: 1, region: "eu-west" },
      });
    });
  }

  test("records with the same schema share one event schema object", async () => {
    const table = await wideTable();
    const { edge, nulls } = rowsOf(table);
    const decoder = new DebeziumDecoder();
    const first = asChange(decoder.decode(serialized(changeEvent(table, "c", { after: edge }), true)));
    const second = asChange(decoder.decode(serialized(changeEvent(table, "c", { after: nulls }), true)));
    assert.ok(first.eventSchema);
    assert.equal(first.eventSchema, second.eventSchema);
  });

  for (const decimalHandlingMode of ["double", "string"] as const) {
    test(`decimal.handling.mode=${decimalHandlingMode} and interval.handling.mode=string`, async () => {
      const specs = WIDE.filter(
        (spec) =>
          spec.oid === 1700 ||
          spec.oid === 790 ||
          spec.oid === 1186 ||
          spec.oid === PRICE ||
          spec.name === "id" ||
          spec.name === "region" ||
          spec.name === "c_numeric_array",
      );
      const table = await wideTable({ decimalHandlingMode, intervalHandlingMode: "string" }, specs);
      const { edge, nulls } = rowsOf(table, specs);
      for (const mode of MODES) {
        const decoder = new DebeziumDecoder({ decimalHandlingMode });
        const target = mode.target?.(table);
        for (const row of [edge, nulls]) {
          const change = asChange(
            decoder.decode(serialized(changeEvent(table, "c", { after: row }), mode.schemasEnable), target),
          );
          assert.deepEqual(change.after, oracleRow(table, row), mode.name);
          if (mode.schemasEnable) assert.deepEqual(change.eventSchema, eventSchema(table));
        }
      }
      const change = asChange(
        new DebeziumDecoder().decode(serialized(changeEvent(table, "c", { after: edge }), true)),
      );
      assert.equal(change.after?.c_interval, "P1Y2M3DT4H5M6.789S");
      if (decimalHandlingMode === "string") assert.equal(change.after?.c_numeric_10_2, "-12345678.90");
      else assert.equal(change.after?.c_numeric_10_2, -12345678.9);
    });
  }

  test("numeric wider than 38 digits: a string column holding the decimal text", async () => {
    // Direct mode's sinkValue passes the base64 Connect bytes through here; the decoder writes the number.
    const specs: ColumnSpec[] = [
      { name: "id", oid: 23, notNull: true, text: "1" },
      { name: "region", oid: 25, notNull: true, text: "x" },
      {
        name: "wide",
        oid: 1700,
        mod: numericMod(50, 10),
        text: "-1234567890123456789012345678901234567890.0123456789",
      },
    ];
    const table = await wideTable({}, specs);
    const { edge, nulls } = rowsOf(table, specs);
    const change = asChange(
      new DebeziumDecoder().decode(serialized(changeEvent(table, "c", { after: edge }), true)),
    );
    assert.deepEqual(change.eventSchema, eventSchema(table));
    assert.deepEqual(change.eventSchema?.columns[2]?.type, primitive("string"));
    assert.equal(change.after?.wide, "-1234567890123456789012345678901234567890.0123456789");
    // Direct mode writes the same decimal text (it used to write the base64 Connect bytes).
    assert.deepEqual(change.after, oracleRow(table, edge));
    assert.deepEqual(oracleRow(table, nulls).wide, null);
    // Without Connect schemas a string column cannot tell Connect's base64 bytes (which also lack the
    // scale) from text: such pipelines use decimal.handling.mode=string (docs/capture.md), whose text
    // reads the same in both paths.
    const asText = await wideTable({ decimalHandlingMode: "string" }, specs);
    const textRow = rowsOf(asText, specs).edge;
    for (const mode of MODES.slice(1)) {
      const decoded = asChange(
        new DebeziumDecoder({ decimalHandlingMode: "string" }).decode(
          serialized(changeEvent(asText, "c", { after: textRow }), false),
          mode.target?.(asText),
        ),
      );
      assert.equal(decoded.after?.wide, "-1234567890123456789012345678901234567890.0123456789", mode.name);
      assert.deepEqual(decoded.after, oracleRow(asText, textRow), mode.name);
    }
    // NaN has no Connect Decimal form: null in precise mode, in both paths.
    const nan = decodeTuple(table, ["2", "x", "NaN"]).row;
    assert.equal(nan.wide, null);
    // numeric(45) (scale 0), numeric(3,5) (scale > precision) and numeric(3,-2) (PostgreSQL 15's negative
    // scale: integers rounded to hundreds) are exact too.
    const more: ColumnSpec[] = [
      specs[0]!,
      specs[1]!,
      {
        name: "whole",
        oid: 1700,
        mod: numericMod(45, 0),
        text: "-123456789012345678901234567890123456789012345",
      },
      { name: "tiny", oid: 1700, mod: numericMod(3, 5), text: "0.00123" },
      { name: "hundreds", oid: 1700, mod: ((3 << 16) | (-2 & 0x7ff)) + 4, text: "12300" },
    ];
    const other = await wideTable({}, more);
    const row = rowsOf(other, more).edge;
    const decoded = asChange(
      new DebeziumDecoder().decode(serialized(changeEvent(other, "c", { after: row }), true)),
    );
    assert.deepEqual(decoded.eventSchema, eventSchema(other));
    assert.deepEqual(
      decoded.eventSchema?.columns.slice(2).map((column) => column.type),
      [primitive("string"), primitive("string"), decimal(5, 0)],
    );
    assert.deepEqual(decoded.after, oracleRow(other, row));
    assert.deepEqual(decoded.after, {
      id: 1,
      region: "x",
      whole: "-123456789012345678901234567890123456789012345",
      tiny: "0.00123",
      hundreds: 12300n,
    });
  });

  test("±infinity, years after 9999 and BC: the same values in both paths, -infinity as -(max)", async () => {
    const specs: ColumnSpec[] = [
      { name: "id", oid: 23, notNull: true, text: "1" },
      { name: "region", oid: 25, notNull: true, text: "x" },
      { name: "d_inf", oid: 1082, text: "infinity" },
      { name: "d_ninf", oid: 1082, text: "-infinity" },
      { name: "d_far", oid: 1082, text: "5874897-12-31" },
      { name: "d_bc", oid: 1082, text: "4713-11-24 BC" },
      { name: "ts_inf", oid: 1114, text: "infinity" },
      { name: "ts_ninf", oid: 1114, text: "-infinity" },
      { name: "ts_far", oid: 1114, text: "294246-12-31 23:59:59.999999" },
      { name: "ts_bc", oid: 1114, text: "0044-03-15 12:00:00.5 BC" },
      { name: "tz_inf", oid: 1184, text: "infinity" },
      { name: "tz_ninf", oid: 1184, text: "-infinity" },
      { name: "tz_far", oid: 1184, text: "12345-06-07 08:09:10.123456+00" },
      { name: "tz_bc", oid: 1184, text: "0044-03-15 12:00:00.000001+00 BC" },
      { name: "tz_array", oid: 1185, text: '{infinity,"10000-01-01 00:00:00+00"}' },
    ];
    const table = await wideTable({}, specs);
    const { edge } = rowsOf(table, specs);
    // Event values (docs/capture.md): int32/int64 max and min; ZonedTimestamp as java.time prints years.
    assert.equal(edge.d_ninf, -2_147_483_648);
    assert.equal(edge.ts_ninf, -9_223_372_036_854_775_808n);
    assert.equal(edge.tz_far, "+12345-06-07T08:09:10.123456Z");
    assert.equal(edge.tz_bc, "-0043-03-15T12:00:00.000001Z");
    // Days and µs since 1970 as PostgreSQL computes them (extract(epoch …), date - date '1970-01-01').
    const expected = {
      id: 1,
      region: "x",
      d_inf: 2_147_483_647,
      d_ninf: -2_147_483_647,
      d_far: 2_145_042_905,
      d_bc: -2_440_222,
      ts_inf: 9_223_372_036_854_775_807n,
      ts_ninf: -9_223_372_036_854_775_807n,
      ts_far: 9_223_371_244_799_999_999n,
      ts_bc: -63_517_780_799_500_000n,
      tz_inf: 9_223_372_036_854_775_807n,
      tz_ninf: -9_223_372_036_854_775_807n,
      tz_far: 327_416_976_550_123_456n,
      tz_bc: -63_517_780_799_999_999n,
      tz_array: [9_223_372_036_854_775_807n, 253_402_300_800_000_000n],
    };
    assert.deepEqual(oracleRow(table, edge), expected);
    for (const mode of MODES) {
      const change = asChange(
        new DebeziumDecoder().decode(
          serialized(changeEvent(table, "c", { after: edge }), mode.schemasEnable),
          mode.target?.(table),
        ),
      );
      assert.deepEqual(change.after, expected, mode.name);
    }
  });

  test("a schema change mid-topic yields a new event schema; bytes, Uint8Array and string records read alike", async () => {
    const table = await wideTable();
    const { edge } = rowsOf(table);
    const narrowSpecs = WIDE.slice(0, 5);
    const narrow = await wideTable({}, narrowSpecs);
    const decoder = new DebeziumDecoder();
    const wide1 = asChange(decoder.decode(serialized(changeEvent(table, "c", { after: edge }), true)));
    const narrowRow = rowsOf(narrow, narrowSpecs).edge;
    const event = changeEvent(narrow, "c", { after: narrowRow });
    const asBytes = serialized(event, true);
    const viaUint8 = decoder.decode({
      ...asBytes,
      value: new Uint8Array(asBytes.value as Buffer),
      key: new Uint8Array(asBytes.key as Buffer),
    });
    const viaString = decoder.decode({
      ...asBytes,
      value: serializeValue(event, { schemasEnable: true }),
      key: serializeKey(event, { schemasEnable: true }),
    });
    const narrow1 = asChange(decoder.decode(asBytes));
    assert.deepEqual(asChange(viaUint8), narrow1);
    assert.deepEqual(asChange(viaString), narrow1);
    assert.deepEqual(narrow1.eventSchema, eventSchema(narrow));
    assert.notEqual(narrow1.eventSchema, wide1.eventSchema);
    assert.deepEqual(narrow1.after, oracleRow(narrow, narrowRow));
    const wide2 = asChange(decoder.decode(serialized(changeEvent(table, "c", { after: edge }), true)));
    assert.equal(wide2.eventSchema, wide1.eventSchema);
    assert.deepEqual(wide2.after, wide1.after);
  });

  test("multi-dimensional arrays: nested lists by the declared dimensions, the same in both paths", async () => {
    const specs: ColumnSpec[] = [
      { name: "id", oid: 23, notNull: true, text: "1" },
      { name: "region", oid: 25, notNull: true, text: "x" },
      { name: "grid", oid: 1007, text: "{{1,2},{3,NULL}}" },
      { name: "words", oid: 1009, text: '{{a,NULL},{"b c","{d}"}}' },
      { name: "cube", oid: 1007, text: "{{{1},{2}},{{3},{4}}}" },
      { name: "prices", oid: 1231, mod: numericMod(10, 2), text: "{{1.50,-2.25}}" },
      { name: "empty", oid: 1007, text: "{}" },
      { name: "flat", oid: 1007, text: "[0:1]={7,8}" },
    ];
    const dimensions = { grid: 2, words: 2, cube: 3, prices: 2, empty: 2, flat: 1 };
    const table = await wideTable({}, specs, { dimensions });
    const { edge, nulls } = rowsOf(table, specs);
    assert.deepEqual(edge.grid, [
      [1, 2],
      [3, null],
    ]);
    const shape = (type: IcebergType): string =>
      type.kind === "list" ? `list<${shape(type.element)}>` : typeToString(type);
    const types = eventSchema(table).columns.map((column) => shape(column.type));
    assert.deepEqual(types.slice(2), [
      "list<list<int>>",
      "list<list<string>>",
      "list<list<list<int>>>",
      "list<list<decimal(10,2)>>",
      "list<list<int>>",
      "list<int>",
    ]);
    for (const mode of MODES) {
      const decoder = new DebeziumDecoder();
      for (const row of [edge, nulls]) {
        const change = asChange(
          decoder.decode(
            serialized(changeEvent(table, "c", { after: row }), mode.schemasEnable),
            mode.target?.(table),
          ),
        );
        assert.deepEqual(change.after, oracleRow(table, row), mode.name);
        if (mode.schemasEnable) assert.deepEqual(change.eventSchema, eventSchema(table));
      }
    }
    assert.deepEqual(oracleRow(table, edge), {
      id: 1,
      region: "x",
      grid: [
        [1, 2],
        [3, null],
      ],
      words: [
        ["a", null],
        ["b c", "{d}"],
      ],
      cube: [
        [[1], [2]],
        [[3], [4]],
      ],
      prices: [[150n, -225n]],
      empty: [],
      flat: [7, 8],
    });

    // A value with other dimensions than the column declares is refused, naming table, column and fix.
    const flat = await wideTable({}, specs.slice(0, 3));
    assert.throws(
      () => decodeTuple(flat, ["1", "x", "{{1,2},{3,4}}"]),
      (thrown: unknown) =>
        thrown instanceof CaptureError &&
        thrown.code === "VALUE_INVALID" &&
        thrown.message.includes('column "grid" of table public.wide') &&
        thrown.message.includes('ALTER TABLE public.wide ALTER COLUMN "grid" TYPE integer[][]'),
    );
    assert.throws(
      () => decodeTuple(table, ["1", "x", "{1,2}", null, null, null, null, null]),
      (thrown: unknown) => thrown instanceof CaptureError && thrown.code === "VALUE_INVALID",
    );
    // A foreign producer's 2-D value under a 1-D Connect schema: a decode error at the element.
    const record = serialized(changeEvent(flat, "c", { after: { id: 1, region: "x", grid: [1, 2] } }), true);
    const nested = String(record.value).replace('"grid":[1,2]', '"grid":[[1,2]]');
    assert.throws(
      () => new DebeziumDecoder().decode({ ...record, value: nested }),
      (thrown: unknown) =>
        thrown instanceof DecodeError && thrown.code === "VALUE_INVALID" && thrown.column === "grid[0]",
    );
  });

  test("the key struct and identifier fields follow the primary key's order, not the columns'", async () => {
    const table = await wideTable({}, WIDE.slice(0, 4), { primaryKey: ["region", "id"] });
    const { edge } = rowsOf(table, WIDE.slice(0, 4));
    const event = changeEvent(table, "c", { after: edge });
    const key = JSON.parse(serializeKey(event, { schemasEnable: true }) ?? "null");
    assert.deepEqual(
      key.schema.fields.map((field: { field: string }) => field.field),
      ["region", "id"],
    );
    assert.deepEqual(Object.keys(key.payload), ["region", "id"]);
    for (const mode of MODES) {
      const change = asChange(
        new DebeziumDecoder().decode(serialized(event, mode.schemasEnable), mode.target?.(table)),
      );
      assert.deepEqual(Object.keys(change.key), ["region", "id"], mode.name);
      if (mode.schemasEnable) {
        assert.deepEqual(change.eventSchema?.primaryKey, ["region", "id"]);
        assert.deepEqual(change.eventSchema, eventSchema(table));
        assert.deepEqual(sinkSchema(change.eventSchema!).identifierFieldNames(), ["region", "id"]);
      }
    }
  });

  test("a primary-key change's create carries the old key in before when TOASTed columns stayed unchanged", async () => {
    const table = await wideTable();
    const tuple = WIDE.map((spec) => (spec.name === "c_toast" ? UNCHANGED_TOAST : spec.text));
    const moved = decodeTuple(table, tuple);
    const oldKey = { id: 7, region: "eu-west" };
    for (const mode of MODES) {
      const change = asChange(
        new DebeziumDecoder().decode(
          serialized(
            changeEvent(table, "c", { before: oldKey, after: moved.row, unchanged: moved.unchanged }),
            mode.schemasEnable,
          ),
          mode.target?.(table),
        ),
      );
      assert.deepEqual(
        changeOf(change),
        {
          op: "c",
          key: oracleRow(table, { id: 1, region: "eu-west" }),
          before: oracleRow(table, oldKey),
          after: oracleRow(table, moved.row),
          unchangedColumns: ["c_toast"],
          commitTimeMs: 1_704_164_645_123,
        },
        mode.name,
      );
    }
  });

  test("transaction BEGIN/END, heartbeat, message and schema-change records", async () => {
    const table = await wideTable();
    for (const schemasEnable of [true, false]) {
      const decoder = new DebeziumDecoder();
      const begin: TransactionEvent = {
        kind: "transaction",
        topic: "shop.transaction",
        status: "BEGIN",
        id: "771:23500",
        eventCount: null,
        dataCollections: null,
        tsMs: 1_704_164_645_123,
      };
      assert.deepEqual(decoder.decode(serialized(begin, schemasEnable)), {
        kind: "transaction",
        status: "BEGIN",
        id: "771:23500",
        eventCount: undefined,
        dataCollections: [],
        tsMs: 1_704_164_645_123,
      });
      const end: TransactionEvent = {
        ...begin,
        status: "END",
        eventCount: 3,
        dataCollections: [
          { data_collection: "public.wide", event_count: 2 },
          { data_collection: "public.other", event_count: 1 },
        ],
      };
      assert.deepEqual(decoder.decode(serialized(end, schemasEnable)), {
        kind: "transaction",
        status: "END",
        id: "771:23500",
        eventCount: 3,
        dataCollections: [
          { dataCollection: "public.wide", eventCount: 2 },
          { dataCollection: "public.other", eventCount: 1 },
        ],
        tsMs: 1_704_164_645_123,
      });
      const heartbeat = heartbeatRecord("__debezium-heartbeat.shop", "shop", 1_704_164_645_123, {
        keySchemasEnable: schemasEnable,
        valueSchemasEnable: schemasEnable,
      });
      assert.deepEqual(
        decoder.decode({
          topic: heartbeat.topic,
          partition: 0,
          offset: 1n,
          key: heartbeat.key,
          value: heartbeat.value,
        }),
        { kind: "skip", reason: "heartbeat" },
      );
      const message: LogicalMessageEvent = {
        kind: "message",
        topic: "shop.message",
        prefix: "floe.heartbeat",
        content: Buffer.from(""),
        transactional: false,
        source: sourceInfo(),
        tsMs: 1,
      };
      assert.deepEqual(decoder.decode(serialized(message, schemasEnable)), {
        kind: "skip",
        reason: "message",
      });
      const schemaChange: SchemaChangeEvent = {
        kind: "schema_change",
        topic: "shop",
        change: {
          schema: "public",
          table: "wide",
          changes: [{ kind: "add_column", column: "c_new", type: "integer" }],
          tableSchema: table,
        },
      };
      const value = serializeValue(schemaChange, { schemasEnable });
      assert.deepEqual(
        decoder.decode(kafkaRecord(serializeKey(schemaChange, { schemasEnable }), value, "shop")),
        {
          kind: "skip",
          reason: "schema-change",
        },
      );
    }
  });
});

// ---- (b) records as Debezium's PostgreSQL connector writes them -------------------------------------

const customerFields = [
  { type: "int32", optional: false, field: "id" },
  { type: "string", optional: false, field: "first_name" },
  { type: "string", optional: false, field: "last_name" },
  { type: "string", optional: false, field: "email" },
];

const debeziumSourceSchema = {
  type: "struct",
  fields: [
    { type: "string", optional: false, field: "version" },
    { type: "string", optional: false, field: "connector" },
    { type: "string", optional: false, field: "name" },
    { type: "int64", optional: false, field: "ts_ms" },
    {
      type: "string",
      optional: true,
      name: "io.debezium.data.Enum",
      version: 1,
      parameters: { allowed: "true,last,false,incremental" },
      default: "false",
      field: "snapshot",
    },
    { type: "string", optional: false, field: "db" },
    { type: "string", optional: true, field: "sequence" },
    { type: "string", optional: false, field: "schema" },
    { type: "string", optional: false, field: "table" },
    { type: "int64", optional: true, field: "txId" },
    { type: "int64", optional: true, field: "lsn" },
    { type: "int64", optional: true, field: "xmin" },
  ],
  optional: false,
  name: "io.debezium.connector.postgresql.Source",
  field: "source",
};

function debeziumEnvelopeSchema(prefix: string, rowFields: unknown[]) {
  const row = (field: string) => ({
    type: "struct",
    fields: rowFields,
    optional: true,
    name: `${prefix}.Value`,
    field,
  });
  return {
    type: "struct",
    fields: [
      row("before"),
      row("after"),
      debeziumSourceSchema,
      { type: "string", optional: false, field: "op" },
      { type: "int64", optional: true, field: "ts_ms" },
      {
        type: "struct",
        fields: [
          { type: "string", optional: false, field: "id" },
          { type: "int64", optional: false, field: "total_order" },
          { type: "int64", optional: false, field: "data_collection_order" },
        ],
        optional: true,
        name: "event.block",
        version: 1,
        field: "transaction",
      },
    ],
    optional: false,
    name: `${prefix}.Envelope`,
    version: 1,
  };
}

const customersKey = JSON.stringify({
  schema: {
    type: "struct",
    name: "PostgreSQL_server.inventory.customers.Key",
    optional: false,
    fields: [{ field: "id", type: "int32", optional: false }],
  },
  payload: { id: 1 },
});

function debeziumSource(snapshot: string, overrides: Record<string, unknown> = {}) {
  return {
    version: "2.5.4.Final",
    connector: "postgresql",
    name: "PostgreSQL_server",
    ts_ms: 1_559_033_904_863,
    snapshot,
    db: "postgres",
    sequence: '["24023119","24023128"]',
    schema: "public",
    table: "customers",
    txId: 555,
    lsn: 24_023_128,
    xmin: null,
    ...overrides,
  };
}

const CUSTOMERS_TOPIC = "PostgreSQL_server.inventory.customers";

function customersRecord(payload: unknown, key: string | null = customersKey): KafkaRecord {
  return kafkaRecord(
    key,
    JSON.stringify({
      schema: debeziumEnvelopeSchema("PostgreSQL_server.inventory.customers", customerFields),
      payload,
    }),
    CUSTOMERS_TOPIC,
  );
}

const anne = { id: 1, first_name: "Anne", last_name: "Kretchmar", email: "annek@noanswer.org" };

describe("Debezium's own records", () => {
  test("create, update, delete, truncate and snapshot events of the documentation's customers table", () => {
    const decoder = new DebeziumDecoder();
    const created = asChange(
      decoder.decode(
        customersRecord({
          before: null,
          after: anne,
          source: debeziumSource("false"),
          op: "c",
          ts_ms: 1_559_033_904_863,
          transaction: null,
        }),
      ),
    );
    assert.deepEqual(created.source, { schema: "public", table: "customers" });
    assert.deepEqual(created.after, anne);
    assert.deepEqual(created.key, { id: 1 });
    assert.equal(created.lsn, 24_023_128n);
    assert.equal(created.txId, 555);
    assert.equal(created.commitTimeMs, 1_559_033_904_863);
    assert.equal(created.snapshot, false);
    assert.equal(created.transaction, undefined);
    const expectedSchema: EventSchema = {
      columns: [
        { name: "id", type: primitive("int"), optional: false },
        { name: "first_name", type: primitive("string"), optional: false },
        { name: "last_name", type: primitive("string"), optional: false },
        { name: "email", type: primitive("string"), optional: false },
      ],
      primaryKey: ["id"],
    };
    assert.deepEqual(created.eventSchema, expectedSchema);

    const updated = asChange(
      decoder.decode(
        customersRecord({
          before: null,
          after: { ...anne, first_name: "Anne Marie" },
          source: debeziumSource("false", { ts_ms: 1_559_033_904_900, lsn: 24_023_200 }),
          op: "u",
          ts_ms: 1_559_033_904_901,
          transaction: { id: "571:53736280", total_order: "1", data_collection_order: "1" },
        }),
      ),
    );
    assert.equal(updated.op, "u");
    assert.equal(updated.after?.first_name, "Anne Marie");
    assert.equal(updated.before, undefined);
    assert.deepEqual(updated.transaction, { id: "571:53736280", totalOrder: 1, dataCollectionOrder: 1 });

    const deleted = asChange(
      decoder.decode(
        customersRecord({
          before: { id: 1, first_name: null, last_name: null, email: null },
          after: null,
          source: debeziumSource("false"),
          op: "d",
          ts_ms: 1_559_033_904_999,
        }),
      ),
    );
    assert.equal(deleted.op, "d");
    assert.deepEqual(deleted.key, { id: 1 });
    assert.deepEqual(deleted.before, { id: 1, first_name: null, last_name: null, email: null });

    // TRUNCATE: no before/after, no key (docs: "payload": {"source": …, "op": "t", "ts_ms": …})
    const truncated = asChange(
      decoder.decode(
        customersRecord({ source: debeziumSource("false"), op: "t", ts_ms: 1_559_033_905_000 }, null),
      ),
    );
    assert.equal(truncated.op, "t");
    assert.deepEqual(truncated.key, {});
    assert.equal(truncated.after, undefined);

    const snapshot = asChange(
      decoder.decode(
        customersRecord({ before: null, after: anne, source: debeziumSource("last"), op: "r", ts_ms: 1 }),
      ),
    );
    assert.equal(snapshot.op, "r");
    assert.equal(snapshot.snapshot, true);
    // without schemas (and without a target) the record cannot be typed …
    assert.throws(
      () =>
        decoder.decode(
          kafkaRecord(
            '{"id":1}',
            JSON.stringify({ before: null, after: anne, source: debeziumSource("false"), op: "c", ts_ms: 1 }),
            CUSTOMERS_TOPIC,
          ),
        ),
      { code: "SCHEMA_MISSING" },
    );
    // … but with the table's schema it can
    const bare = asChange(
      decoder.decode(
        kafkaRecord(
          '{"id":1}',
          JSON.stringify({ before: null, after: anne, source: debeziumSource("false"), op: "c", ts_ms: 1 }),
          CUSTOMERS_TOPIC,
        ),
        expectedSchema,
      ),
    );
    assert.deepEqual(bare.after, anne);
    assert.deepEqual(bare.key, { id: 1 });
  });

  test("source falls back to the topic name when the source block lacks schema/table", () => {
    const change = asChange(
      new DebeziumDecoder().decode(
        kafkaRecord(
          null,
          JSON.stringify({ after: { id: 1 }, source: { ts_ms: 5 }, op: "c" }),
          "server1.sales.orders",
        ),
        { columns: [{ name: "id", type: primitive("int") }], primaryKey: [] },
      ),
    );
    assert.deepEqual(change.source, { schema: "sales", table: "orders" });
    assert.equal(change.commitTimeMs, 5);
  });

  test("transaction metadata records from the documentation", () => {
    const decoder = new DebeziumDecoder();
    const begin = decoder.decode(
      kafkaRecord(
        '{"id":"571"}',
        '{"status":"BEGIN","id":"571","event_count":null,"data_collections":null}',
        "PostgreSQL_server.transaction",
      ),
    );
    assert.deepEqual(begin, {
      kind: "transaction",
      status: "BEGIN",
      id: "571",
      eventCount: undefined,
      dataCollections: [],
      tsMs: undefined,
    });
    const end = decoder.decode(
      kafkaRecord(
        '{"id":"571"}',
        JSON.stringify({
          status: "END",
          id: "571",
          event_count: 2,
          data_collections: [
            { data_collection: "s1.a", event_count: 1 },
            { data_collection: "s2.a", event_count: 1 },
          ],
          ts_ms: 1_580_390_884_335,
        }),
        "PostgreSQL_server.transaction",
      ),
    );
    assert.deepEqual(end, {
      kind: "transaction",
      status: "END",
      id: "571",
      eventCount: 2,
      dataCollections: [
        { dataCollection: "s1.a", eventCount: 1 },
        { dataCollection: "s2.a", eventCount: 1 },
      ],
      tsMs: 1_580_390_884_335,
    });
  });

  const docFields = [
    { type: "int32", optional: false, field: "id" },
    { type: "string", optional: true, field: "bio" },
    { type: "bytes", optional: true, field: "photo" },
    { type: "array", optional: true, items: { type: "string", optional: true }, field: "tags" },
    { type: "array", optional: true, items: { type: "int32", optional: true }, field: "scores" },
    { type: "array", optional: true, items: { type: "int64", optional: true }, field: "big_scores" },
    {
      type: "map",
      optional: true,
      keys: { type: "string", optional: false },
      values: { type: "string", optional: true },
      field: "attributes",
    },
    { type: "string", optional: true, name: "io.debezium.data.Json", version: 1, field: "doc" },
    {
      type: "array",
      optional: true,
      items: { type: "string", optional: true, name: "io.debezium.data.Uuid", version: 1 },
      field: "refs",
    },
  ];

  function toastRecord(after: Record<string, unknown>): KafkaRecord {
    return kafkaRecord(
      JSON.stringify({
        schema: { type: "struct", optional: false, fields: [docFields[0]] },
        payload: { id: 7 },
      }),
      JSON.stringify({
        schema: debeziumEnvelopeSchema("srv.public.docs", docFields),
        payload: {
          before: null,
          after,
          source: debeziumSource("false", { table: "docs" }),
          op: "u",
          ts_ms: 1,
        },
      }),
      "srv.public.docs",
    );
  }

  test("the unavailable-value placeholder in each shape is an unchanged column", () => {
    const P = "__debezium_unavailable_value";
    const bytes = [...Buffer.from(P)];
    const change = asChange(
      new DebeziumDecoder().decode(
        toastRecord({
          id: 7,
          bio: P,
          photo: Buffer.from(P).toString("base64"),
          tags: [P],
          scores: bytes,
          big_scores: bytes,
          attributes: { [P]: P },
          doc: P,
          refs: ["b68a35a7-17ad-35b3-af2a-ae46edb4545a"], // Java UUID.nameUUIDFromBytes(placeholder)
        }),
      ),
    );
    assert.deepEqual(change.after, { id: 7 });
    assert.deepEqual(change.unchangedColumns.sort(), [
      "attributes",
      "big_scores",
      "bio",
      "doc",
      "photo",
      "refs",
      "scores",
      "tags",
    ]);
    assert.deepEqual(changeOf(change).unchangedColumns?.length, 8);
  });

  test("real values next to placeholders, and a configured placeholder", () => {
    const change = asChange(
      new DebeziumDecoder({ unavailableValuePlaceholder: "<toast>" }).decode(
        toastRecord({
          id: 7,
          bio: "<toast>",
          photo: "AQID",
          tags: ["a", null],
          scores: [1, 2],
          big_scores: [9_007_199_254_740_993n.toString()],
          attributes: { color: "red", size: null },
          doc: "__debezium_unavailable_value",
          refs: null,
        }),
      ),
    );
    assert.deepEqual(change.unchangedColumns, ["bio"]);
    assert.deepEqual(change.after, {
      id: 7,
      photo: new Uint8Array([1, 2, 3]),
      tags: ["a", null],
      scores: [1, 2],
      big_scores: [9_007_199_254_740_993n],
      attributes: new Map([
        ["color", "red"],
        ["size", null],
      ]),
      doc: "__debezium_unavailable_value",
      refs: null,
    });
    assert.deepEqual(change.eventSchema?.columns.find((c) => c.name === "attributes")?.type, {
      kind: "map",
      keyId: 100_004, // after the element ids of tags, scores, big_scores
      key: primitive("string"),
      valueId: 100_005,
      valueRequired: false,
      value: primitive("string"),
    });
  });

  test("Debezium's type modes with schemas: time precision, decimals, binary, intervals, bits, geometry", () => {
    const fields = [
      { type: "int32", optional: false, field: "id" },
      { type: "int32", optional: true, name: "io.debezium.time.Date", version: 1, field: "d" },
      {
        type: "int32",
        optional: true,
        name: "org.apache.kafka.connect.data.Date",
        version: 1,
        field: "d_connect",
      },
      { type: "int32", optional: true, name: "io.debezium.time.Time", version: 1, field: "t_ms" },
      { type: "int64", optional: true, name: "io.debezium.time.MicroTime", version: 1, field: "t_us" },
      { type: "int64", optional: true, name: "io.debezium.time.NanoTime", version: 1, field: "t_ns" },
      {
        type: "int32",
        optional: true,
        name: "org.apache.kafka.connect.data.Time",
        version: 1,
        field: "t_connect",
      },
      { type: "int64", optional: true, name: "io.debezium.time.Timestamp", version: 1, field: "ts_ms" },
      { type: "int64", optional: true, name: "io.debezium.time.MicroTimestamp", version: 1, field: "ts_us" },
      { type: "int64", optional: true, name: "io.debezium.time.NanoTimestamp", version: 1, field: "ts_ns" },
      {
        type: "int64",
        optional: true,
        name: "org.apache.kafka.connect.data.Timestamp",
        version: 1,
        field: "ts_connect",
      },
      { type: "string", optional: true, name: "io.debezium.time.ZonedTimestamp", version: 1, field: "tstz" },
      { type: "string", optional: true, name: "io.debezium.time.ZonedTime", version: 1, field: "ttz" },
      {
        type: "bytes",
        optional: true,
        name: "org.apache.kafka.connect.data.Decimal",
        version: 1,
        parameters: { scale: "2", "connect.decimal.precision": "10" },
        field: "price",
      },
      {
        type: "struct",
        optional: true,
        name: "io.debezium.data.VariableScaleDecimal",
        version: 1,
        doc: "Variable scaled decimal",
        fields: [
          { type: "int32", optional: false, field: "scale" },
          { type: "bytes", optional: false, field: "value" },
        ],
        field: "amount",
      },
      { type: "double", optional: true, field: "amount_double" },
      { type: "string", optional: true, field: "amount_string" },
      { type: "string", optional: true, field: "blob_hex" },
      {
        type: "bytes",
        optional: true,
        name: "io.debezium.data.Bits",
        version: 1,
        parameters: { length: "3" },
        field: "bits",
      },
      { type: "boolean", optional: true, field: "bit1" },
      { type: "int64", optional: true, name: "io.debezium.time.MicroDuration", version: 1, field: "dur" },
      { type: "string", optional: true, name: "io.debezium.time.Interval", version: 1, field: "dur_string" },
      { type: "string", optional: true, name: "io.debezium.data.Uuid", version: 1, field: "uid" },
      {
        type: "string",
        optional: true,
        name: "io.debezium.data.Enum",
        version: 1,
        parameters: { allowed: "a,b" },
        field: "e",
      },
      {
        type: "struct",
        optional: true,
        name: "io.debezium.data.geometry.Point",
        version: 1,
        fields: [
          { type: "double", optional: false, field: "x" },
          { type: "double", optional: false, field: "y" },
          { type: "bytes", optional: true, field: "wkb" },
          { type: "int32", optional: true, field: "srid" },
        ],
        field: "location",
      },
      { type: "int16", optional: true, field: "small" },
      { type: "float", optional: true, field: "f32" },
    ];
    const record = kafkaRecord(
      null,
      JSON.stringify({
        schema: debeziumEnvelopeSchema("srv.public.types", fields),
        payload: {
          before: null,
          after: {
            id: 1,
            d: -1,
            d_connect: 19_724,
            t_ms: 3_600_001,
            t_us: 3_600_000_001,
            t_ns: 3_600_000_001_999,
            t_connect: 1_000,
            ts_ms: -1,
            ts_us: 1_704_164_645_123_456,
            ts_ns: "1704164645123456789",
            ts_connect: 1_704_164_645_123,
            tstz: "2024-01-02T03:04:05.123456Z",
            ttz: "12:00:00Z",
            price: "+4o=", // unscaled -1142 → -11.42 (two's complement 0xFB8A)
            amount: { scale: 3, value: "AeJA" }, // 123456 at scale 3 = 123.456
            amount_double: 123.456,
            amount_string: "123.456",
            blob_hex: "00ff",
            bits: "BQ==",
            bit1: true,
            dur: 90_061_000_000,
            dur_string: "P1DT1H1M1S",
            uid: "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            e: "b",
            location: { x: 1.5, y: -2, wkb: "AQEAAAAAAAAAAAD4PwAAAAAAAADA", srid: null },
            small: -7,
            f32: 0.5,
          },
          source: debeziumSource("false", { table: "types" }),
          op: "c",
          ts_ms: 1,
        },
      }),
      "srv.public.types",
    );
    // an int64 beyond 2^53, unquoted as JsonConverter writes it
    record.value = Buffer.from(String(record.value).replace('"1704164645123456789"', "1704164645123456789"));
    const change = asChange(new DebeziumDecoder().decode(record));
    const after = change.after!;
    assert.equal(after.d, -1);
    assert.equal(after.d_connect, 19_724);
    assert.equal(after.t_ms, 3_600_001_000n);
    assert.equal(after.t_us, 3_600_000_001n);
    assert.equal(after.t_ns, 3_600_000_001n);
    assert.equal(after.t_connect, 1_000_000n);
    assert.equal(after.ts_ms, -1000n);
    assert.equal(after.ts_us, 1_704_164_645_123_456n);
    assert.equal(after.ts_ns, 1_704_164_645_123_456n);
    assert.equal(after.ts_connect, 1_704_164_645_123_000n);
    assert.equal(after.tstz, 1_704_164_645_123_456n);
    assert.equal(after.ttz, "12:00:00Z");
    assert.equal(after.price, -1142n);
    assert.equal(after.amount, 123_456_000_000_000_000_000n);
    assert.equal(after.amount_double, 123.456);
    assert.equal(after.amount_string, "123.456");
    assert.equal(after.blob_hex, "00ff");
    assert.deepEqual(after.bits, new Uint8Array([5]));
    assert.equal(after.bit1, true);
    assert.equal(after.dur, 90_061_000_000n);
    assert.equal(after.dur_string, "P1DT1H1M1S");
    assert.equal(after.uid, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
    assert.equal(after.e, "b");
    assert.deepEqual(after.location, {
      x: 1.5,
      y: -2,
      wkb: new Uint8Array(Buffer.from("AQEAAAAAAAAAAAD4PwAAAAAAAADA", "base64")),
      srid: null,
    });
    assert.equal(after.small, -7);
    assert.equal(after.f32, 0.5);
    const types = Object.fromEntries(change.eventSchema!.columns.map((c) => [c.name, c.type]));
    assert.deepEqual(types.d, primitive("date"));
    assert.deepEqual(types.d_connect, primitive("date"));
    for (const name of ["t_ms", "t_us", "t_ns", "t_connect"])
      assert.deepEqual(types[name], primitive("time"), name);
    for (const name of ["ts_ms", "ts_us", "ts_ns", "ts_connect"])
      assert.deepEqual(types[name], primitive("timestamp"), name);
    assert.deepEqual(types.tstz, primitive("timestamptz"));
    assert.deepEqual(types.ttz, primitive("string"));
    assert.deepEqual(types.price, decimal(10, 2));
    assert.deepEqual(types.amount, decimal(38, 18));
    assert.deepEqual(types.amount_double, primitive("double"));
    assert.deepEqual(types.amount_string, primitive("string"));
    assert.deepEqual(types.blob_hex, primitive("string"));
    assert.deepEqual(types.bits, primitive("binary"));
    assert.deepEqual(types.dur, primitive("long"));
    assert.deepEqual(types.dur_string, primitive("string"));
    assert.deepEqual(types.uid, primitive("uuid"));
    assert.deepEqual(types.e, primitive("string"));
    assert.deepEqual(types.small, primitive("int"));
    assert.deepEqual(types.f32, primitive("float"));
    assert.deepEqual(types.location, {
      kind: "struct",
      fields: [
        { id: 100_001, name: "x", required: true, type: primitive("double") },
        { id: 100_002, name: "y", required: true, type: primitive("double") },
        { id: 100_003, name: "wkb", required: false, type: primitive("binary") },
        { id: 100_004, name: "srid", required: false, type: primitive("int") },
      ],
    });
    assert.deepEqual(change.eventSchema?.primaryKey, []);
  });

  test("without schemas, values are read by the target table's types and the connector's modes", () => {
    const target: EventSchema = {
      columns: [
        { name: "id", type: primitive("long"), optional: false },
        { name: "blob", type: primitive("binary") },
        { name: "t", type: primitive("time") },
        { name: "ts", type: primitive("timestamp") },
        { name: "ts_ns", type: primitive("timestamp_ns") },
        { name: "tstz", type: primitive("timestamptz") },
        { name: "price", type: decimal(10, 2) },
        { name: "amount", type: decimal(38, 18) },
        { name: "day", type: primitive("date") },
        { name: "uid", type: primitive("uuid") },
        { name: "f", type: primitive("double") },
      ],
      primaryKey: ["id"],
    };
    const options: DebeziumDecoderOptions = {
      binaryHandlingMode: "hex",
      timePrecisionMode: "connect",
      decimalHandlingMode: "string",
    };
    const change = asChange(
      new DebeziumDecoder(options).decode(
        kafkaRecord(
          '{"id":12345678901234567}',
          JSON.stringify({
            before: null,
            after: {
              id: "12345678901234567",
              blob: "DEADbeef",
              t: 1_500,
              ts: 1_704_164_645_123,
              ts_ns: 1_704_164_645_123,
              tstz: "2024-01-02T03:04:05.5+01:00",
              price: "-0.05",
              amount: { scale: 2, value: "AQ==" },
              day: "1969-12-31",
              uid: "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
              f: "NaN",
            },
            source: debeziumSource("false", { table: "t" }),
            op: "c",
            ts_ms: 1,
          }).replace('"12345678901234567"', "12345678901234567"),
          "srv.public.t",
        ),
        target,
      ),
    );
    assert.deepEqual(change.key, { id: 12_345_678_901_234_567n });
    assert.deepEqual(change.after, {
      id: 12_345_678_901_234_567n,
      blob: new Uint8Array([0xde, 0xad, 0xbe, 0xef]),
      t: 1_500_000n,
      ts: 1_704_164_645_123_000n,
      ts_ns: 1_704_164_645_123_000_000n,
      tstz: 1_704_161_045_500_000n,
      price: -5n,
      amount: 10_000_000_000_000_000n,
      day: -1,
      uid: "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
      f: Number.NaN,
    });
    assert.equal(change.eventSchema, undefined);
  });

  test("a placeholder without schemas is recognized by the target table's types", () => {
    const P = "__debezium_unavailable_value";
    const target: EventSchema = {
      columns: [
        { name: "id", type: primitive("int"), optional: false },
        { name: "body", type: primitive("string") },
        { name: "blob", type: primitive("binary") },
        {
          name: "labels",
          type: { kind: "list", elementId: 100_001, elementRequired: false, element: primitive("string") },
        },
      ],
      primaryKey: ["id"],
    };
    const change = asChange(
      new DebeziumDecoder().decode(
        kafkaRecord(
          '{"id":3}',
          JSON.stringify({
            after: { id: 3, body: P, blob: Buffer.from(P).toString("base64"), labels: [P] },
            source: debeziumSource("false", { table: "t" }),
            op: "u",
          }),
          "srv.public.t",
        ),
        target,
      ),
    );
    assert.deepEqual(change.after, { id: 3 });
    assert.deepEqual(change.unchangedColumns, ["body", "blob", "labels"]);
  });
});

// ---- (c) errors ------------------------------------------------------------------------------------

function decodeError(run: () => unknown): DecodeError {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof DecodeError, `expected a DecodeError, got ${String(error)}`);
    return error;
  }
  assert.fail("expected the decoder to throw");
}

function located(
  topic: string,
  partition: number,
  recordOffset: bigint,
  key: string | null,
  value: string | null,
): KafkaRecord {
  return { topic, partition, offset: recordOffset, key, value };
}

describe("errors name the record and what to fix", () => {
  const decoder = new DebeziumDecoder();
  const where = "record shop.public.orders[3]@42";
  const record = (value: string | null, key: string | null = null) =>
    located("shop.public.orders", 3, 42n, key, value);
  const ordersTarget: EventSchema = {
    columns: [
      { name: "id", type: primitive("int"), optional: false },
      { name: "placed", type: primitive("date") },
      {
        name: "lines",
        type: { kind: "list", elementId: 100_001, elementRequired: false, element: primitive("int") },
      },
    ],
    primaryKey: ["id"],
  };
  const orderChange = (after: unknown, op = "c") =>
    JSON.stringify({ before: null, after, source: { schema: "public", table: "orders", ts_ms: 1 }, op });

  test("RECORD_INVALID: not JSON, unknown op, missing rows, unknown shapes, bad blocks", () => {
    const cases: Array<[KafkaRecord, RegExp]> = [
      [record("{not json"), /the value is not JSON .*JsonConverter/],
      [record(orderChange({ id: 1 }), "{oops"), /the key is not JSON/],
      [record('"just a string"'), /not a Debezium event object/],
      [record(orderChange({ id: 1 }, "x")), /unknown op "x"/],
      [record(orderChange(null, "c")), /a "c" event needs an "after" row/],
      [record('{"foo":1,"bar":2}'), /no "op" .*fields: foo, bar/],
      [record('{"status":"END","id":"9","event_count":"many"}'), /event_count is "many"/],
      [
        record('{"status":"END","id":"9","event_count":1,"data_collections":[{"event_count":1}]}'),
        /data_collections entry/,
      ],
      [
        record(
          JSON.stringify({
            after: { id: 1 },
            source: { schema: "public", table: "orders", ts_ms: 1 },
            op: "c",
            transaction: { id: 5 },
          }),
        ),
        /transaction block/,
      ],
      [
        record(JSON.stringify({ after: { id: 1 }, source: { schema: "public", table: "orders" }, op: "c" })),
        /neither source.ts_ms nor ts_ms/,
      ],
      [
        record(
          JSON.stringify({
            schema: { type: "struct", fields: [{ type: "string", field: "op" }] },
            payload: { op: "c", after: {}, source: { schema: "s", table: "t", ts_ms: 1 } },
          }),
        ),
        /no "after" or "before" struct/,
      ],
      [
        record(
          JSON.stringify({
            schema: debeziumEnvelopeSchema("x", [{ type: "int32", optional: false, field: "id" }]),
            payload: {
              after: { id: 1, extra: 2 },
              source: { schema: "public", table: "orders", ts_ms: 1 },
              op: "c",
            },
          }),
        ),
        /column "extra" is in the payload but not in the record's Connect schema/,
      ],
      [
        record(
          JSON.stringify({
            schema: debeziumEnvelopeSchema("x", [
              { type: "bytes", name: "org.apache.kafka.connect.data.Decimal", parameters: {}, field: "d" },
            ]),
            payload: {
              after: { d: "AQ==" },
              source: { schema: "public", table: "orders", ts_ms: 1 },
              op: "c",
            },
          }),
        ),
        /Connect Decimal needs a non-negative integer "scale"/,
      ],
    ];
    for (const [input, pattern] of cases) {
      const error = decodeError(() => decoder.decode(input, ordersTarget));
      assert.equal(error.code, "RECORD_INVALID", error.message);
      assert.ok(error.message.startsWith(`${where}: `), error.message);
      assert.match(error.message, pattern);
      assert.equal(error.topic, "shop.public.orders");
      assert.equal(error.partition, 3);
      assert.equal(error.offset, "42");
    }
  });

  test("VALUE_INVALID names the column (and the element) and the expected form", () => {
    const bad: Array<[unknown, string, RegExp]> = [
      [{ id: "abc" }, "id", /value "abc" does not fit int \(expected a 32-bit integer\)/],
      [{ id: 2_147_483_648 }, "id", /does not fit int/],
      [{ id: 1, placed: "yesterday" }, "placed", /does not fit date \(expected days since 1970-01-01\)/],
      [{ id: 1, lines: [1, "two"] }, "lines[1]", /value "two" does not fit int/],
      [{ id: 1, lines: 5 }, "lines", /does not fit list/],
    ];
    for (const [after, column, pattern] of bad) {
      const error = decodeError(() => decoder.decode(record(orderChange(after)), ordersTarget));
      assert.equal(error.code, "VALUE_INVALID");
      assert.equal(error.column, column);
      assert.ok(error.message.startsWith(`${where}: column "${column}": `), error.message);
      assert.match(error.message, pattern);
      assert.match(error.message, /must match the connector's decimal\.handling\.mode/);
    }
    const withSchema = (fieldSchema: unknown, value: unknown) =>
      record(
        JSON.stringify({
          schema: debeziumEnvelopeSchema("x", [{ ...(fieldSchema as object), field: "v" }]),
          payload: { after: { v: value }, source: { schema: "public", table: "orders", ts_ms: 1 }, op: "c" },
        }),
      );
    const decimalSchema = {
      type: "bytes",
      name: "org.apache.kafka.connect.data.Decimal",
      parameters: { scale: "0", "connect.decimal.precision": "2" },
    };
    const cases: Array<[unknown, unknown, RegExp]> = [
      [decimalSchema, "JxA=", /value 10000 has more than 2 digits, too many for decimal\(2,0\)/],
      [decimalSchema, "not base64!", /Kafka Connect Decimal bytes in base64/],
      [{ type: "bytes" }, "%%%", /does not fit binary \(expected a base64 string\)/],
      [{ type: "string", name: "io.debezium.data.Uuid" }, "nope", /does not fit uuid/],
      [{ type: "string", name: "io.debezium.time.ZonedTimestamp" }, "2024-13-45", /does not fit timestamptz/],
      [
        { type: "int64", name: "io.debezium.time.MicroTimestamp" },
        1.5,
        /does not fit timestamp \(expected microseconds since the epoch\)/,
      ],
      [{ type: "boolean" }, "yes", /does not fit boolean/],
      [{ type: "double" }, "lots", /does not fit double/],
    ];
    for (const [schema, value, pattern] of cases) {
      const error = decodeError(() => decoder.decode(withSchema(schema, value)));
      assert.equal(error.code, "VALUE_INVALID", error.message);
      assert.equal(error.column, "v");
      assert.match(error.message, pattern);
      assert.ok(error.message.startsWith(where));
    }
  });

  test("SCHEMA_MISSING: no Connect schema and no target table", () => {
    const error = decodeError(() => decoder.decode(record(orderChange({ id: 1 }), '{"id":1}')));
    assert.equal(error.code, "SCHEMA_MISSING");
    assert.ok(error.message.startsWith(where));
    assert.match(error.message, /public\.orders/);
    assert.match(
      error.message,
      /value\.converter\.schemas\.enable=true .* or create the Iceberg table first/,
    );
  });

  test("COLUMN_UNKNOWN: without schemas, a column the target table does not have", () => {
    const error = decodeError(() =>
      decoder.decode(record(orderChange({ id: 1, coupon: "X" })), ordersTarget),
    );
    assert.equal(error.code, "COLUMN_UNKNOWN");
    assert.equal(error.column, "coupon");
    assert.ok(error.message.startsWith(where));
    assert.match(
      error.message,
      /column "coupon" is not in table public\.orders.*enable schemas.*or add the column/,
    );
  });

  test("TYPE_UNSUPPORTED: a Connect type with no Iceberg type", () => {
    const error = decodeError(() =>
      decoder.decode(
        record(
          JSON.stringify({
            schema: debeziumEnvelopeSchema("x", [{ type: "hyperloglog", optional: true, field: "h" }]),
            payload: { after: { h: 1 }, source: { schema: "public", table: "orders", ts_ms: 1 }, op: "c" },
          }),
        ),
      ),
    );
    assert.equal(error.code, "TYPE_UNSUPPORTED");
    assert.ok(error.message.startsWith(where));
    assert.match(
      error.message,
      /column "h": Connect type "hyperloglog" has no Iceberg type; exclude the column/,
    );
  });

  test("deadLetterHeaders carries Kafka Connect's error headers", () => {
    const input = record("{not json");
    const error = decodeError(() => decoder.decode(input));
    assert.deepEqual(deadLetterHeaders(error, input), {
      "__connect.errors.topic": "shop.public.orders",
      "__connect.errors.partition": "3",
      "__connect.errors.offset": "42",
      "__connect.errors.exception.class.name": "floe.DecodeError",
      "__connect.errors.exception.message": error.message,
      "__connect.errors.stage": "VALUE_CONVERTER",
      "floe.errors.code": "RECORD_INVALID",
    });
    assert.deepEqual(
      deadLetterHeaders(new Error("disk full"), input, { connectorName: "orders-sink", taskId: 2 }),
      {
        "__connect.errors.topic": "shop.public.orders",
        "__connect.errors.partition": "3",
        "__connect.errors.offset": "42",
        "__connect.errors.exception.class.name": "Error",
        "__connect.errors.exception.message": "disk full",
        "__connect.errors.stage": "TASK_PUT",
        "__connect.errors.connector.name": "orders-sink",
        "__connect.errors.task.id": "2",
      },
    );
  });
});
