// Pre-flight checks against stubbed server answers: conditions the dev PostgreSQL cannot show without a
// second server (wal_level other than logical, an old version).
import assert from "node:assert/strict";
import { test } from "node:test";
import type pg from "pg";
import { CaptureError } from "../../src/capture/errors.ts";
import { checkServer } from "../../src/capture/publication.ts";

function stubServer(row: { version: string; wal_level: string; can_replicate: boolean; rolname: string }) {
  // checkServer only calls query(); the stub answers its one select.
  return { query: async () => ({ rows: [row] }) } as unknown as pg.Client;
}

test("wal_level other than logical → WAL_LEVEL_NOT_LOGICAL with the ALTER SYSTEM fix", async () => {
  await assert.rejects(
    checkServer(
      stubServer({ version: "170002", wal_level: "replica", can_replicate: true, rolname: "floe" }),
    ),
    (error: unknown) =>
      error instanceof CaptureError &&
      error.code === "WAL_LEVEL_NOT_LOGICAL" &&
      /"replica"/.test(error.message) &&
      /ALTER SYSTEM SET wal_level = logical/.test(error.message) &&
      /restart/.test(error.message),
  );
});

test("no REPLICATION attribute → PERMISSION_DENIED naming the role and the ALTER ROLE fix; old server → SERVER_TOO_OLD", async () => {
  await assert.rejects(
    checkServer(
      stubServer({ version: "170002", wal_level: "logical", can_replicate: false, rolname: "app" }),
    ),
    (error: unknown) =>
      error instanceof CaptureError &&
      error.code === "PERMISSION_DENIED" &&
      /ALTER ROLE "app" WITH REPLICATION/.test(error.message),
  );
  await assert.rejects(
    checkServer(stubServer({ version: "90624", wal_level: "logical", can_replicate: true, rolname: "floe" })),
    (error: unknown) => error instanceof CaptureError && error.code === "SERVER_TOO_OLD",
  );
  const info = await checkServer(
    stubServer({ version: "130010", wal_level: "logical", can_replicate: true, rolname: "floe" }),
  );
  assert.equal(info.protocolVersion, 1, "no streaming of in-progress transactions before 14");
});
