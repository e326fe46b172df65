// The services fail with typed, actionable errors instead of hanging or half-starting: a taken port is
// PORT_IN_USE naming the port and the variable to change, and a missing Java is TOOL_MISSING naming
// the package to install.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

function services(args: string[], env: NodeJS.ProcessEnv) {
  return spawnSync(process.execPath, ["--import", "tsx", "scripts/services.ts", ...args], {
    encoding: "utf8",
    env: { ...process.env, ...env },
    timeout: 60_000,
  });
}

test("a taken port is PORT_IN_USE, naming the port and FLOE_PG_PORT", async (t) => {
  const state = mkdtempSync(join(tmpdir(), "floe-state-"));
  t.after(() => rmSync(state, { recursive: true, force: true }));
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
  t.after(() => blocker.close());
  const address = blocker.address();
  assert.ok(address && typeof address === "object");
  const result = services(["up", "postgres"], {
    FLOE_STATE_DIR: state,
    FLOE_PG_PORT: String(address.port),
    FLOE_PG_URL: "",
  });
  assert.equal(result.status, 1, result.stdout);
  assert.match(result.stderr, new RegExp(`PORT_IN_USE: PostgreSQL: port ${address.port} .* FLOE_PG_PORT`));
});

test("Kafka without Java is TOOL_MISSING with the package to install", (t) => {
  const state = mkdtempSync(join(tmpdir(), "floe-state-"));
  const bin = mkdtempSync(join(tmpdir(), "floe-bin-"));
  t.after(() => {
    rmSync(state, { recursive: true, force: true });
    rmSync(bin, { recursive: true, force: true });
  });
  symlinkSync(process.execPath, join(bin, "node"));
  const result = services(["up", "kafka"], {
    FLOE_STATE_DIR: state,
    FLOE_KAFKA_PORT: "29592",
    FLOE_KAFKA_BROKERS: "",
    PATH: bin,
  });
  assert.equal(result.status, 1, result.stdout);
  assert.match(
    result.stderr,
    /TOOL_MISSING: 'java' is not available on PATH\. Kafka needs Java 17 or newer: apt-get install openjdk-17-jre-headless/,
  );
});
