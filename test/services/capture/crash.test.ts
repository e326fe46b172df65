// kill -9 in the middle of a stream: capture runs in a child process (crash-child.ts) whose sink fsyncs
// events before acknowledging; it is SIGKILLed while a workload commits, restarted, and every committed
// row then appears at least once, exactly once after deduplication by (commit LSN, total_order), and the
// slot never confirmed more than the file holds.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { parseLsn } from "../../../src/capture/lsn.ts";
import { createTestDatabase, defer, uniqueName } from "../../helpers/services.ts";

const CHILD = fileURLToPath(new URL("./crash-child.ts", import.meta.url));

function startChild(args: string[]): { child: ChildProcess; ready: Promise<void> } {
  const child = spawn(process.execPath, ["--import", "tsx", CHILD, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout?.on("data", (chunk: Buffer) => {
      if (chunk.toString().includes("ready")) resolve();
    });
    child.once("exit", (code, signal) =>
      reject(new Error(`child exited (${code ?? signal}) before ready: ${stderr}`)),
    );
  });
  ready.catch(() => {});
  return { child, ready };
}

interface Line {
  id?: number;
  lsn?: string;
  order?: number | null;
  ack?: string;
}

async function readLines(path: string): Promise<Line[]> {
  const text = await readFile(path, "utf8").catch(() => "");
  // A SIGKILL can cut the last line short; it was never fsynced nor acknowledged.
  return text
    .split("\n")
    .filter((line) => line.length > 0)
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as Line];
      } catch {
        return [];
      }
    });
}

test("SIGKILL mid-stream, restart: every committed change at least once, exactly once after dedup, nothing acknowledged lost", async (t) => {
  const url = await createTestDatabase(t);
  const sql = new pg.Client({ connectionString: url });
  await sql.connect();
  defer(t, () => sql.end());
  await sql.query("create table work (id int primary key, v text)");
  const slot = uniqueName("floe_kill");
  defer(t, async () => {
    // The killed child's walsender releases the slot a moment after the connection drops.
    for (let attempt = 0; attempt < 50; attempt++) {
      const { rowCount } = await sql.query(
        "select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = $1 and not active",
        [slot],
      );
      const { rows } = await sql.query("select 1 from pg_replication_slots where slot_name = $1", [slot]);
      if (rowCount === 1 || rows.length === 0) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });
  const dir = await mkdtemp(join(tmpdir(), "floe-crash-"));
  defer(t, () => rm(dir, { recursive: true, force: true }));
  const eventsPath = join(dir, "events.jsonl");
  const args = [url, slot, join(dir, "offset.json"), eventsPath];

  let current = startChild(args);
  defer(t, async () => {
    if (current.child.exitCode !== null || current.child.signalCode !== null) return;
    const exited = once(current.child, "exit");
    current.child.kill("SIGKILL");
    await exited;
  });
  await current.ready;

  // Workload: transactions of 1–20 rows, committed back to back while the child is killed and restarted.
  const committed = new Set<number>();
  let nextId = 1;
  let running = true;
  const writer = new pg.Client({ connectionString: url });
  await writer.connect();
  defer(t, () => writer.end());
  const workload = (async () => {
    while (running) {
      const size = 1 + (nextId % 20);
      const first = nextId;
      nextId += size;
      await writer.query(
        "insert into work select g, repeat('x', 50) from generate_series($1::int, $2::int) g",
        [first, first + size - 1],
      );
      for (let id = first; id < first + size; id++) committed.add(id);
    }
  })();

  let kills = 0;
  for (let round = 0; round < 3; round++) {
    await new Promise((resolve) => setTimeout(resolve, 700 + round * 300));
    const exited = once(current.child, "exit");
    current.child.kill("SIGKILL");
    await exited;
    kills++;
    // What the slot confirmed must be in the file: the sink acknowledged only fsynced data.
    const { rows } = await sql.query<{ lsn: string | null }>(
      "select confirmed_flush_lsn::text as lsn from pg_replication_slots where slot_name = $1",
      [slot],
    );
    const acked = (await readLines(eventsPath)).flatMap((line) => (line.ack ? [parseLsn(line.ack)] : []));
    // biome-ignore lint/complexity/useMathMinMax: Math.max does not take bigint
    const maxAcked = acked.reduce((a, b) => (a > b ? a : b), 0n);
    const confirmed = parseLsn(rows[0]?.lsn ?? "0/0");
    assert.ok(
      confirmed <= maxAcked || maxAcked === 0n,
      `slot confirmed ${rows[0]?.lsn} but the file's newest acknowledgement is lower`,
    );
    current = startChild(args);
    await current.ready;
  }
  running = false;
  await workload;
  const expected = committed.size;

  // Drain: wait until the restarted child has written every committed row. On a loaded machine the
  // backlog takes a while, so this fails only when delivery stalls (no new row for 30 s), not on a
  // fixed deadline.
  let stalledSince = Date.now();
  let lastSeen = -1;
  let lines: Line[] = [];
  for (;;) {
    lines = await readLines(eventsPath);
    const seen = new Set(lines.flatMap((line) => (line.id === undefined ? [] : [line.id])));
    if ([...committed].every((id) => seen.has(id))) break;
    if (seen.size !== lastSeen) {
      lastSeen = seen.size;
      stalledSince = Date.now();
    }
    if (Date.now() - stalledSince > 30_000) {
      assert.fail(`only ${seen.size} of ${expected} committed rows arrived; nothing new for 30 s`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const changes = lines.filter((line) => line.id !== undefined);
  const unique = new Map<string, number>();
  for (const line of changes) {
    const key = `${line.lsn}/${line.order}`;
    const previous = unique.get(key);
    assert.ok(previous === undefined || previous === line.id, `(${key}) names two different rows`);
    unique.set(key, line.id ?? -1);
  }
  const ids = [...unique.values()].sort((a, b) => a - b);
  assert.deepEqual(
    ids,
    [...committed].sort((a, b) => a - b),
    "exactly once after dedup by (LSN, order)",
  );
  t.diagnostic(
    `${kills} SIGKILLs; ${expected} committed rows; ${changes.length} delivered (${changes.length - expected} redelivered)`,
  );
});
