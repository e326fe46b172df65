// Smoke test: the development PostgreSQL is real and does logical replication — an insert committed
// in a table reaches a pgoutput subscriber on a permanent slot with its column values.
import assert from "node:assert/strict";
import { test } from "node:test";
import pg from "pg";
import { LogicalReplicationService, type Pgoutput, PgoutputPlugin } from "pg-logical-replication";
import { createTestDatabase, defer, uniqueName } from "../helpers/services.ts";

test("a logical replication slot receives an insert through pgoutput", async (t) => {
  const url = await createTestDatabase(t);
  const sql = new pg.Client({ connectionString: url });
  await sql.connect();
  defer(t, () => sql.end());

  const { rows } = await sql.query<{ wal_level: string }>("show wal_level");
  assert.equal(rows[0]?.wal_level, "logical");

  await sql.query("create table orders (id bigint primary key, customer text not null, total numeric(10,2))");
  // Slot names are cluster-wide, so they must be unique per test run.
  const slot = uniqueName("floe_smoke");
  await sql.query("create publication floe_smoke for table orders");
  await sql.query("select pg_create_logical_replication_slot($1, 'pgoutput')", [slot]);

  const service = new LogicalReplicationService(
    { connectionString: url },
    { acknowledge: { auto: true, timeoutSeconds: 1 } },
  );
  const received = new Promise<Pgoutput.MessageInsert>((resolve, reject) => {
    service.on("data", (_lsn: string, message: Pgoutput.Message) => {
      if (message.tag === "insert") resolve(message);
    });
    service.on("error", reject);
  });
  service
    .subscribe(new PgoutputPlugin({ protoVersion: 1, publicationNames: ["floe_smoke"] }), slot)
    .catch(() => {});
  try {
    await sql.query("insert into orders values (42, 'ada', 19.99)");
    const insert = await received;
    assert.equal(insert.relation.name, "orders");
    assert.deepEqual({ ...insert.new }, { id: "42", customer: "ada", total: "19.99" });
  } finally {
    await service.stop();
    // The walsender ends a moment after the client disconnects: wait until the slot is released.
    for (let attempt = 0; ; attempt++) {
      const { rows } = await sql.query("select active from pg_replication_slots where slot_name = $1", [
        slot,
      ]);
      if (!rows[0]?.active || attempt >= 100) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await sql.query("select pg_drop_replication_slot($1)", [slot]);
  }
});
