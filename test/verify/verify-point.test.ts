// Source table names are parsed as PostgreSQL reads identifiers, and anything else is refused before
// any SQL runs (the e2e test checks that such names reach no database).
import assert from "node:assert/strict";
import { test } from "node:test";
import { formatSourceTable, parseSourceTable } from "../../src/verify/verify-point.ts";

test("plain and quoted identifiers", () => {
  assert.deepEqual(parseSourceTable("orders"), { schema: "public", table: "orders" });
  assert.deepEqual(parseSourceTable("Shop.Orders"), { schema: "shop", table: "orders" });
  assert.deepEqual(parseSourceTable('"My Shop"."odd.name"'), { schema: "My Shop", table: "odd.name" });
  assert.deepEqual(parseSourceTable('shop."say ""hi"""'), { schema: "shop", table: 'say "hi"' });
  assert.equal(formatSourceTable({ schema: "My Shop", table: "orders" }), '"My Shop".orders');
  assert.equal(formatSourceTable(parseSourceTable('shop."say ""hi"""')), 'shop."say ""hi"""');
});

test("anything else is IDENTIFIER_INVALID", () => {
  for (const bad of [
    "",
    "a.b.c",
    "orders; drop table orders",
    "public.orders--",
    "orders'",
    'public."unterminated',
    '""',
    "1orders",
    "a..b",
    "x".repeat(64),
    'a."b\u0000"',
  ]) {
    assert.throws(() => parseSourceTable(bad), { code: "IDENTIFIER_INVALID" }, bad);
  }
});
