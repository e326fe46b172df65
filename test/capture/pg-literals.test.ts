// Unit tests of the pure pieces: array/record literal parsing, LSNs, Kafka Connect decimals, config aliases.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseCaptureConfig } from "../../src/capture/config.ts";
import { CaptureError } from "../../src/capture/errors.ts";
import { formatLsn, parseLsn } from "../../src/capture/lsn.ts";
import { parseArrayLiteral, parseRecordLiteral } from "../../src/capture/pg-literals.ts";
import { unscaledBase64 } from "../../src/capture/pg-types.ts";

test("array literals: quoting, NULL, nesting, dimension decoration", () => {
  assert.deepEqual(parseArrayLiteral('{1,NULL,"a \\"b\\"","NULL"}'), ["1", null, 'a "b"', "NULL"]);
  assert.deepEqual(parseArrayLiteral("{{1,2},{3,4}}"), [
    ["1", "2"],
    ["3", "4"],
  ]);
  assert.deepEqual(parseArrayLiteral("[0:1]={7,8}"), ["7", "8"]);
  assert.deepEqual(parseArrayLiteral("{}"), []);
});

test("record literals: empty is NULL, quoted empty is the empty string", () => {
  assert.deepEqual(parseRecordLiteral('(1,"a ""b""",,"")'), ["1", 'a "b"', null, ""]);
});

test("LSNs round-trip", () => {
  assert.equal(parseLsn("16/B374D848"), (0x16n << 32n) | 0xb374d848n);
  assert.equal(formatLsn(parseLsn("0/1A")), "0/1A");
});

test("decimals are minimal big-endian two's complement of the unscaled value", () => {
  assert.equal(unscaledBase64("1.5", 2), Buffer.from([150 >> 8, 150 & 0xff]).toString("base64"));
  assert.equal(unscaledBase64("-1", 0), Buffer.from([0xff]).toString("base64"));
  assert.equal(unscaledBase64("128", 0), Buffer.from([0x00, 0x80]).toString("base64"));
});

test("Debezium property names configure capture; bad values are CONFIG_INVALID", () => {
  const config = parseCaptureConfig({
    url: "postgres://x@h/db",
    "topic.prefix": "shop",
    "table.include.list": "public.orders, public.items",
    "tombstones.on.delete": "false",
    "include.unknown.datatypes": "true",
  });
  assert.equal(config.topicPrefix, "shop");
  assert.deepEqual(config.tableIncludeList, ["public.orders", "public.items"]);
  assert.equal(config.tombstonesOnDelete, false);
  assert.equal(config.unknownTypes, "string");
  assert.throws(
    () => parseCaptureConfig({ url: "x", "snapshot.mode": "sometimes" }),
    (error: unknown) => error instanceof CaptureError && error.code === "CONFIG_INVALID",
  );
});
