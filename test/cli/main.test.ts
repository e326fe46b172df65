import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { exitCodes, run } from "../../src/cli/main.ts";

const { version } = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
  version: string;
};

test("the floe bin prints the package version", () => {
  const result = spawnSync(process.execPath, ["bin/floe.js", "--version"], { encoding: "utf8" });
  assert.equal(result.status, 0, result.stderr);
  assert.equal(result.stdout.trim(), version);
});

test("bad usage exits 2 and says what was wrong", () => {
  const result = spawnSync(process.execPath, ["bin/floe.js", "--no-such-flag"], { encoding: "utf8" });
  assert.equal(result.status, exitCodes.usage);
  assert.match(result.stderr, /unknown option '--no-such-flag'/);
});

test("run() returns 0 for --help", async () => {
  const write = process.stdout.write;
  process.stdout.write = () => true;
  try {
    assert.equal(await run(["--help"]), exitCodes.ok);
  } finally {
    process.stdout.write = write;
  }
});
