// `npm run demo` is the README's first command: it must run Floe's main job end to end (embedded
// PostgreSQL → floe serve → floe replicate → dump) and find the lake equal to PostgreSQL.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";

test("the demo replicates a live workload and the lake equals PostgreSQL", () => {
  const result = spawnSync(process.execPath, ["--import", "tsx", "scripts/demo.ts"], {
    encoding: "utf8",
    env: { ...process.env, FLOE_DEMO_SECONDS: "3" },
    timeout: 180_000,
  });
  assert.equal(result.status, 0, `${result.stdout}\n${result.stderr}`);
  assert.match(result.stdout, /check: EQUAL — every row of both tables compared/);
  assert.match(result.stdout, /freshness: the lake equalled PostgreSQL \d+ ms after the last source commit/);
  assert.match(result.stdout, /dump: \d+ rows of shop\.orders/);
});
