// A transaction far larger than the walsender's logical_decoding_work_mem: PostgreSQL ≥ 14 streams it
// in progress (pgoutput v2 stream messages), capture spills it to disk until Stream Commit, and emits it
// once, after the smaller transaction that committed first; a streamed transaction that rolls back
// emits nothing. Capture's RSS growth is sampled throughout.
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import pg from "pg";
import {
  Capture,
  type ChangeBatch,
  type ChangeSink,
  type SourcePosition,
} from "../../../src/capture/capture.ts";
import { parseCaptureConfig } from "../../../src/capture/config.ts";
import { createTestDatabase, defer, uniqueName } from "../../helpers/services.ts";

const ROWS = Number(process.env.FLOE_LARGE_TX_ROWS ?? 200_000);

/** Keeps only what the assertions need (ids and transaction boundaries), so the test holds little memory itself. */
class CheckingSink implements ChangeSink {
  /** The change events' ids in arrival order. */
  readonly ids: number[] = [];
  /** For each change event, the index into `transactions` it belonged to. */
  readonly txOfChange: number[] = [];
  readonly transactions: Array<{ id: string; begin: number; end: number | null; eventCount: number | null }> =
    [];
  readonly problems: string[] = [];
  private open: number | null = null;
  private listener: ((position: SourcePosition) => void) | null = null;
  private waiters: Array<() => void> = [];

  async write(batch: ChangeBatch): Promise<void> {
    for (const event of batch.events) {
      if (event.kind === "transaction" && event.status === "BEGIN") {
        if (this.open !== null) this.problems.push(`BEGIN ${event.id} inside an open transaction`);
        this.open = this.transactions.length;
        this.transactions.push({ id: event.id, begin: this.ids.length, end: null, eventCount: null });
      } else if (event.kind === "transaction" && event.status === "END") {
        const open = this.open === null ? undefined : this.transactions[this.open];
        if (!open || open.id !== event.id) this.problems.push(`END ${event.id} without its BEGIN`);
        else {
          open.end = this.ids.length;
          open.eventCount = event.eventCount;
        }
        this.open = null;
      } else if (event.kind === "change") {
        if (this.open === null) this.problems.push("change outside a transaction");
        if (event.value.transaction?.id !== this.transactions[this.open ?? -1]?.id)
          this.problems.push("change's transaction block does not match its BEGIN");
        this.ids.push(Number(event.key?.id));
        this.txOfChange.push(this.open ?? -1);
      }
    }
    this.listener?.(batch.position);
    for (const wake of this.waiters.splice(0)) wake();
  }

  onDurable(listener: (position: SourcePosition) => void): void {
    this.listener = listener;
  }

  async waitFor(predicate: () => boolean, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error("timed out waiting for events");
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 200);
      });
    }
  }
}

test(`a ${ROWS}-row transaction is streamed in progress, spilled to disk, emitted once; a streamed rollback emits nothing`, async (t) => {
  const url = await createTestDatabase(t);
  const dbName = new URL(url).pathname.slice(1);
  const sql = new pg.Client({ connectionString: url });
  await sql.connect();
  defer(t, () => sql.end());
  await sql.query("create table big (id int primary key, v int)");
  // The walsender reads its settings from the database's defaults: 64kB makes PostgreSQL stream any
  // transaction that decodes to more than 64kB instead of buffering it until commit.
  await sql.query(`alter database "${dbName}" set logical_decoding_work_mem = '64kB'`);
  const slot = uniqueName("floe_big");
  defer(t, async () => {
    await sql.query(
      "select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = $1 and not active",
      [slot],
    );
  });
  const spillParent = await mkdtemp(join(tmpdir(), "floe-spill-test-"));
  defer(t, () => rm(spillParent, { recursive: true, force: true }));
  const config = parseCaptureConfig({
    url,
    "slot.name": slot,
    "publication.name": slot,
    "snapshot.mode": "never",
    spillDirectory: spillParent,
  });
  const sink = new CheckingSink();
  const capture = new Capture(config, sink);
  defer(t, () => capture.stop());
  const { done } = await capture.start();
  let streamError: unknown = null;
  done.catch((error: unknown) => {
    streamError = error;
  });

  global.gc?.();
  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 50);
  defer(t, () => clearInterval(sampler));

  const big = new pg.Client({ connectionString: url });
  const aborted = new pg.Client({ connectionString: url });
  await big.connect();
  await aborted.connect();
  defer(t, () => big.end());
  defer(t, () => aborted.end());
  const started = Date.now();

  // The big transaction inserts but does not commit yet; a rolled-back one of the same size runs alongside.
  await big.query("begin");
  await big.query("insert into big select g, g from generate_series(1, $1::int) g", [ROWS]);
  await aborted.query("begin");
  await aborted.query("insert into big select g, g from generate_series($1::int + 1, $1::int * 2) g", [ROWS]);
  // Streamed in progress: the spill file of the open transaction grows on disk before any commit.
  let spilledBytes = 0;
  const spillDeadline = Date.now() + 30_000;
  while (spilledBytes < 1_000_000 && Date.now() < spillDeadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    spilledBytes = await directorySize(spillParent);
  }
  assert.ok(spilledBytes >= 1_000_000, `spill files grew to ${spilledBytes} bytes before the commit`);
  assert.equal(sink.ids.length, 0, "nothing is emitted before the commit");

  // A small transaction commits first, so it must come first.
  await sql.query("insert into big values (-1, 0), (-2, 0)");
  await big.query("commit");
  await aborted.query("rollback");
  await sql.query("insert into big values (-3, 0)"); // a marker after the rollback
  await sink.waitFor(() => sink.ids.includes(-3) || streamError !== null, 120_000);
  const elapsed = Date.now() - started;
  clearInterval(sampler);
  assert.equal(streamError, null);
  assert.deepEqual(sink.problems, []);

  // Commit order and transaction boundaries.
  assert.equal(sink.transactions.length, 3, "small, big, marker; the rollback emitted no transaction");
  const [small, large, marker] = sink.transactions;
  assert.deepEqual(sink.ids.slice(0, 2), [-1, -2]);
  assert.deepEqual([small?.begin, small?.end, small?.eventCount], [0, 2, 2]);
  assert.deepEqual([large?.begin, large?.end, large?.eventCount], [2, 2 + ROWS, ROWS]);
  assert.deepEqual([marker?.begin, marker?.end, marker?.eventCount], [2 + ROWS, 3 + ROWS, 1]);
  assert.equal(sink.ids.length, ROWS + 3, "every row exactly once, none of the rolled-back ones");
  for (let index = 0; index < ROWS; index++) {
    if (sink.ids[index + 2] !== index + 1)
      assert.fail(`row ${index + 1} expected at position ${index + 2}, got ${sink.ids[index + 2]}`);
  }
  assert.equal(sink.ids.at(-1), -3);

  // PostgreSQL really streamed (not buffered) both big transactions, and their spill files are gone.
  const { rows } = await sql.query<{ stream_txns: string; stream_bytes: string }>(
    "select stream_txns::text, stream_bytes::text from pg_stat_replication_slots where slot_name = $1",
    [slot],
  );
  assert.ok(Number(rows[0]?.stream_txns) >= 2, `stream_txns = ${rows[0]?.stream_txns}`);
  assert.equal(await directorySize(spillParent), 0, "committed and aborted spills are removed");

  const growthMb = (peak - baseline) / 1_048_576;
  t.diagnostic(
    `${ROWS} rows (+${ROWS} rolled back) in ${elapsed} ms; spilled ≥ ${spilledBytes} bytes before commit; streamed ${rows[0]?.stream_txns} txns / ${rows[0]?.stream_bytes} bytes; RSS baseline ${(baseline / 1_048_576).toFixed(0)} MB, peak +${growthMb.toFixed(1)} MB`,
  );
  assert.ok(growthMb < 300, `RSS grew by ${growthMb.toFixed(1)} MB`);
});

async function directorySize(path: string): Promise<number> {
  let total = 0;
  const entries = await readdir(path, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    const full = join(path, entry.name);
    total += entry.isDirectory()
      ? await directorySize(full)
      : (await stat(full).catch(() => ({ size: 0 }))).size;
  }
  return total;
}
