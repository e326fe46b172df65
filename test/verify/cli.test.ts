// `floe verify`'s targets: bucket.namespace.table, namespace.table in the default bucket, namespaces with
// --all; malformed or unsafe names are usage errors (exit 2) before anything connects.
import assert from "node:assert/strict";
import { test } from "node:test";
import { exitCodes, run } from "../../src/cli/main.ts";
import { parseTarget } from "../../src/cli/verify.ts";

test("targets name a bucket, a namespace and a table", () => {
  assert.deepEqual(parseTarget("lake.shop.orders", false, undefined), {
    bucket: "lake",
    namespace: ["shop"],
    table: "orders",
  });
  assert.deepEqual(parseTarget("lake.a.b.orders", false, "other"), {
    bucket: "lake",
    namespace: ["a", "b"],
    table: "orders",
  });
  assert.deepEqual(parseTarget("shop.orders", false, "lake"), {
    bucket: "lake",
    namespace: ["shop"],
    table: "orders",
  });
  assert.deepEqual(parseTarget("lake.shop", true, undefined), { bucket: "lake", namespace: ["shop"] });
  assert.deepEqual(parseTarget("shop", true, "lake"), { bucket: "lake", namespace: ["shop"] });
});

test("malformed targets are usage errors", () => {
  for (const [text, all, bucket] of [
    ["shop.orders", false, undefined],
    ["orders", false, "lake"],
    ["lake..orders", false, undefined],
    ["lake.shop/x.orders", false, undefined],
    ["shop", true, undefined],
  ] as const) {
    assert.throws(() => parseTarget(text, all, bucket), { code: "USAGE" }, text);
  }
});

test("bad usage exits 2 without touching a database", async () => {
  const write = process.stderr.write;
  process.stderr.write = () => true;
  // Only the flags count: no default bucket, source or catalog from the environment.
  const saved = { ...process.env };
  for (const name of ["FLOE_PG_URL", "FLOE_BUCKET", "FLOE_CATALOG_URL", "FLOE_CONFIG"])
    delete process.env[name];
  try {
    assert.equal(
      await run(["verify", "--source", "postgres://nobody@127.0.0.1:1/none", "shop.orders"]),
      exitCodes.usage,
    );
    assert.equal(
      await run([
        "verify",
        "--source",
        "postgres://nobody@127.0.0.1:1/none",
        "lake.shop.orders",
        "--source-table",
        "a.b.c",
      ]),
      exitCodes.usage,
    );
    assert.equal(
      await run([
        "verify",
        "--source",
        "postgres://nobody@127.0.0.1:1/none",
        "lake.shop.orders",
        "lake.shop.customers",
        "--snapshot-id",
        "1",
      ]),
      exitCodes.usage,
    );
    assert.equal(await run(["verify", "lake.shop.orders"]), exitCodes.usage, "--source is required");
  } finally {
    process.stderr.write = write;
    Object.assign(process.env, saved);
  }
});
