// Shared by the capture → Kafka tests: a per-test database + slot + topic prefix, the configs for
// KafkaCapture, and reading back what landed in the topics (plain Fetch, no consumer group).
import { Admin, Consumer } from "@platformatic/kafka";
import pg from "pg";
import { type CaptureConfig, parseCaptureConfig } from "../../../src/capture/config.ts";
import { parseLsn } from "../../../src/capture/lsn.ts";
import { type KafkaCaptureConfig, parseKafkaCaptureConfig } from "../../../src/kafka/config.ts";
import { readTopic } from "../../../src/kafka/topic-reader.ts";
import {
  type Cleanup,
  createTestDatabase,
  defer,
  requireKafkaBrokers,
  topicPrefix,
  uniqueName,
} from "../../helpers/services.ts";

export interface ReadRecord {
  topic: string;
  partition: number;
  offset: bigint;
  /** Key and value JSON-parsed; null for a null key or a tombstone. */
  key: unknown;
  value: unknown;
}

export interface CaptureFixture {
  url: string;
  sql: pg.Client;
  brokers: string[];
  prefix: string;
  slot: string;
  /** The settings both configs are parsed from; tests add to it. */
  settings(extra?: Record<string, unknown>): { capture: CaptureConfig; kafka: KafkaCaptureConfig };
}

/** A database with `ddl` applied, a slot name and a topic prefix owned by this test; all removed afterwards. */
export async function captureFixture(t: Cleanup, ddl: string): Promise<CaptureFixture> {
  const brokers = await requireKafkaBrokers();
  const url = await createTestDatabase(t);
  const sql = new pg.Client({ connectionString: url });
  await sql.connect();
  defer(t, () => sql.end());
  if (ddl) await sql.query(ddl);
  const slot = uniqueName("floe_kc");
  const prefix = topicPrefix().replace(/\.$/, "");
  defer(t, () => deleteTopics(brokers, prefix));
  defer(t, () => dropSlot(sql, slot));
  return {
    url,
    sql,
    brokers,
    prefix,
    slot,
    settings(extra = {}) {
      const input = {
        url,
        brokers,
        "topic.prefix": prefix,
        "slot.name": slot,
        "publication.name": slot,
        ...extra,
      };
      return { capture: parseCaptureConfig(input), kafka: parseKafkaCaptureConfig(input) };
    },
  };
}

/** Drops the slot once its walsender has let go of it (a killed or stopped consumer releases it a moment later). */
export async function dropSlot(sql: pg.Client, slot: string): Promise<void> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const { rowCount } = await sql.query(
      "select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = $1 and not active",
      [slot],
    );
    const { rows } = await sql.query("select 1 from pg_replication_slots where slot_name = $1", [slot]);
    if (rowCount === 1 || rows.length === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function allTopics(brokers: string[]): Promise<string[]> {
  const admin = new Admin({ clientId: "floe-test-admin", bootstrapBrokers: brokers });
  try {
    return await admin.listTopics();
  } finally {
    await admin.close();
  }
}

/** `<prefix>`, `<prefix>.*` and the heartbeat topic `*.<prefix>`. */
export async function topicsWithPrefix(brokers: string[], prefix: string): Promise<string[]> {
  return (await allTopics(brokers)).filter(
    (topic) => topic === prefix || topic.startsWith(`${prefix}.`) || topic.endsWith(`.${prefix}`),
  );
}

async function deleteTopics(brokers: string[], prefix: string): Promise<void> {
  const topics = await topicsWithPrefix(brokers, prefix);
  if (topics.length === 0) return;
  const admin = new Admin({ clientId: "floe-test-admin", bootstrapBrokers: brokers });
  try {
    await admin.deleteTopics({ topics }).catch(() => {});
  } finally {
    await admin.close();
  }
}

/** JSON when it parses (Debezium keys and values), else the text (the offset topic's slot-name key). */
function parseJson(buffer: Buffer | null): unknown {
  if (buffer === null) return null;
  const text = buffer.toString("utf8");
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Every record of the topics (missing topics are empty), partition by partition in offset order. */
export async function readTopics(brokers: string[], topics: string[]): Promise<ReadRecord[]> {
  const consumer = new Consumer({
    clientId: "floe-test-reader",
    groupId: "floe-test-reader",
    bootstrapBrokers: brokers,
  });
  try {
    const existing = new Set(await allTopics(brokers));
    const records: ReadRecord[] = [];
    for (const topic of topics) {
      if (!existing.has(topic)) continue;
      for await (const record of readTopic(consumer, topic))
        records.push({
          topic,
          partition: record.partition,
          offset: record.offset,
          key: parseJson(record.key),
          value: parseJson(record.value),
        });
    }
    return records;
  } finally {
    await consumer.close(true);
  }
}

/** Polls `check` until it returns a value (not undefined); fails with `what` after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await check();
    if (result !== undefined) return result;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

export async function confirmedFlushLsn(sql: pg.Client, slot: string): Promise<string | null> {
  const { rows } = await sql.query<{ lsn: string | null }>(
    "select confirmed_flush_lsn::text as lsn from pg_replication_slots where slot_name = $1",
    [slot],
  );
  return rows[0]?.lsn ?? null;
}

/** The payload of a JsonConverter value or key, with or without the schema envelope. */
export function payloadOf(json: unknown): Record<string, unknown> | null {
  if (json === null || typeof json !== "object") return null;
  const object = json as Record<string, unknown>;
  if ("schema" in object && "payload" in object) return object.payload as Record<string, unknown> | null;
  return object;
}

/** `xid/id/op` of a change record of the workload table; null for tombstones. */
export function changeIdentity(record: ReadRecord): string | null {
  const value = payloadOf(record.value);
  if (!value) return null;
  const source = value.source as Record<string, unknown>;
  const row = (value.after ?? value.before) as Record<string, unknown>;
  return `${source.txId}/${row.id}/${value.op}`;
}

/** A workload of transactions of 1–120 rows (inserts, and updates of earlier rows), recording what committed. */
export function startWorkload(url: string) {
  const committed: string[] = [];
  /** Per transaction: an LSN at or after its commit's end (an upper bound of what confirms it). */
  const transactions: Array<{ xid: string; walAfterCommit: bigint }> = [];
  const writer = new pg.Client({ connectionString: url });
  let running = true;
  let stopped: Promise<void> | null = null;
  let nextId = 1;
  const done = (async () => {
    await writer.connect();
    let round = 0;
    while (running) {
      round++;
      await writer.query("begin");
      const { rows } = await writer.query<{ xid: string }>(
        "select (txid_current() % 4294967296)::text as xid",
      );
      const xid = rows[0]?.xid;
      const size = round % 7 === 0 ? 120 : 1 + (round % 9);
      const first = nextId;
      nextId += size;
      await writer.query("insert into work select g, 'v' || g from generate_series($1::int, $2::int) g", [
        first,
        first + size - 1,
      ]);
      const updated = round % 3 === 0 && first > 1 ? first - 1 : null;
      if (updated !== null) await writer.query("update work set v = 'u' where id = $1", [updated]);
      await writer.query("commit");
      const { rows: wal } = await writer.query<{ lsn: string }>(
        "select pg_current_wal_insert_lsn()::text as lsn",
      );
      transactions.push({ xid: xid ?? "", walAfterCommit: parseLsn(wal[0]?.lsn ?? "0/0") });
      for (let id = first; id < first + size; id++) committed.push(`${xid}/${id}/c`);
      if (updated !== null) committed.push(`${xid}/${updated}/u`);
      // A steady few hundred transactions a second, not as fast as the machine allows: capture shares the cores.
      await new Promise((resolve) => setTimeout(resolve, 3));
    }
  })();
  return {
    committed,
    transactions,
    /** Stops after the transaction in progress; idempotent. */
    stop: () => {
      running = false;
      stopped ??= done.finally(() => writer.end());
      return stopped;
    },
  };
}
