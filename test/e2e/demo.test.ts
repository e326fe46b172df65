// `npm run demo` is the README's first command: it must run Floe's main job end to end (embedded
// PostgreSQL → floe serve → floe replicate → dump → floe verify) and prove the lake equal to PostgreSQL.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";

test("the demo replicates a live workload, dumps it and floe verify proves the lake equal", () => {
  const result = spawnSync(process.execPath, ["--import", "tsx", "scripts/demo.ts"], {
    encoding: "utf8",
    env: { ...process.env, FLOE_DEMO_SECONDS: "3" },
    timeout: 180_000,
  });
  assert.equal(result.status, 0, `${result.stdout}\n${result.stderr}`);
  assert.match(result.stdout, /rows replicated: [1-9]\d* changes in \d+ commit rounds/);
  assert.match(
    result.stdout,
    /freshness: the lake held the last source commit \d+ ms after it; commit rounds landed a median \d+ ms/,
  );
  assert.match(result.stdout, /dump: \d+ rows of shop\.orders/);
  assert.match(
    result.stdout,
    /verify: EQUAL — demo\.shop\.customers and demo\.shop\.orders equal PostgreSQL at one consistent point/,
  );
  // Each table's report: the verdict, and both sides' row counts and digests agreeing.
  for (const table of ["customers", "orders"]) {
    assert.match(result.stdout, new RegExp(`demo\\.shop\\.${table} ⇔ public\\.${table}: EQUAL`));
  }
  const rows = [...result.stdout.matchAll(/rows +PostgreSQL (\d+), Iceberg (\d+)/g)];
  const digests = [...result.stdout.matchAll(/digest +PostgreSQL ([0-9a-f]{32}), Iceberg ([0-9a-f]{32})/g)];
  assert.equal(rows.length, 2);
  assert.equal(digests.length, 2);
  for (const [, postgres, iceberg] of [...rows, ...digests]) assert.equal(postgres, iceberg);
  assert.match(result.stdout, /iceberg_scan\('.*metadata\.json'\)/);
  // Nothing left holding PostgreSQL's WAL once the demo ends.
  assert.match(result.stdout, /replication slot floe_demo and its publication dropped\./);
});
