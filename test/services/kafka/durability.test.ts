// Capture → Kafka durability on the real broker: a stopped capture resumes from the offset stored in
// Kafka with every change exactly once; the slot's confirmed_flush_lsn and the stored offset never pass
// what the broker acknowledged (acks held back); an unreachable broker is a clear typed error.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseLsn } from "../../../src/capture/lsn.ts";
import type { OutgoingRecord, RecordSender } from "../../../src/kafka/change-producer.ts";
import { KafkaTransportError } from "../../../src/kafka/errors.ts";
import { KafkaCapture } from "../../../src/kafka/kafka-capture.ts";
import { defer } from "../../helpers/services.ts";
import {
  captureFixture,
  changeIdentity,
  confirmedFlushLsn,
  payloadOf,
  readTopics,
  startWorkload,
  waitFor,
} from "./helpers.ts";

type Payload = Record<string, unknown>;

test("stop mid-workload, start again: resumes from the offset in Kafka; every change exactly once", {
  timeout: 240_000,
}, async (t) => {
  const fixture = await captureFixture(t, "create table work (id int primary key, v text)");
  const settings = fixture.settings({
    "snapshot.mode": "never",
    "max.batch.size": 50,
    "topic.creation.default.partitions": 2,
  });
  const topic = `${fixture.prefix}.public.work`;

  const first = await KafkaCapture.open(settings);
  defer(t, () => first.stop());
  await first.start();
  const workload = startWorkload(fixture.url);
  defer(t, () => workload.stop());
  await waitFor("a few hundred rows in Kafka", async () =>
    (await readTopics(fixture.brokers, [topic])).length > 300 ? true : undefined,
  );
  await first.stop();
  const stoppedAt = first.capture.metrics().confirmedFlushLsn;
  const offsets = await readTopics(fixture.brokers, [settings.kafka.offsetTopic]);
  const stored = payloadOf(offsets.at(-1)?.value) as Payload;
  assert.equal(offsets.at(-1)?.key, fixture.slot, "the offset key is the slot name");
  assert.equal(stored.lsn, stoppedAt, "the stored offset is where the slot was confirmed");
  assert.equal(
    await confirmedFlushLsn(fixture.sql, fixture.slot),
    stoppedAt,
    "a clean stop confirms what Kafka holds",
  );

  // The workload goes on while capture is down.
  await new Promise((resolve) => setTimeout(resolve, 700));
  const second = await KafkaCapture.open(settings);
  defer(t, () => second.stop());
  await second.start();
  await new Promise((resolve) => setTimeout(resolve, 700));
  await workload.stop();

  const expected = new Set(workload.committed);
  const records = await waitFor(
    "every committed change in Kafka",
    async () => {
      const found = await readTopics(fixture.brokers, [topic]);
      const seen = new Set(found.map(changeIdentity));
      return [...expected].every((identity) => seen.has(identity)) ? found : undefined;
    },
    120_000,
  );
  const changes = records.map(changeIdentity).filter((identity) => identity !== null);
  assert.equal(changes.length, expected.size, "no change was produced twice across the restart");
  assert.deepEqual(new Set(changes), expected);
  t.diagnostic(`${expected.size} changes; stopped at ${stoppedAt}`);
});

/** A sender whose acknowledgements can be held back, as if the broker stopped answering. */
class GatedSender implements RecordSender {
  private held = false;
  private waiting: Array<() => void> = [];
  constructor(private readonly inner: RecordSender) {}
  hold(): void {
    this.held = true;
  }
  release(): void {
    this.held = false;
    for (const resume of this.waiting.splice(0)) resume();
  }
  async send(records: OutgoingRecord[]): Promise<void> {
    // The broker "does not answer" until released: nothing is written, nothing acknowledged.
    while (this.held) await new Promise<void>((resolve) => this.waiting.push(resolve));
    await this.inner.send(records);
  }
  close(): Promise<void> {
    this.release();
    return this.inner.close();
  }
}

test("the slot's confirmed_flush_lsn and the stored offset never pass what Kafka acknowledged", {
  timeout: 180_000,
}, async (t) => {
  const fixture = await captureFixture(t, "create table work (id int primary key, v text)");
  const { sql, brokers, slot } = fixture;
  let gate: GatedSender | null = null;
  const settings = fixture.settings({ "snapshot.mode": "never", "heartbeat.interval.ms": 100 });
  const pipeline = await KafkaCapture.open({
    ...settings,
    wrapSender: (sender) => {
      gate = new GatedSender(sender);
      return gate;
    },
  });
  defer(t, () => pipeline.stop());
  await pipeline.start();
  const topic = `${fixture.prefix}.public.work`;
  const offsetTopic = settings.kafka.offsetTopic;
  const storedLsn = async () =>
    (payloadOf((await readTopics(brokers, [offsetTopic])).at(-1)?.value)?.lsn as string | undefined) ?? null;

  await sql.query("insert into work values (1, 'acked')");
  const { rows } = await sql.query<{ lsn: string }>("select pg_current_wal_insert_lsn()::text as lsn");
  const afterFirst = parseLsn(rows[0]?.lsn ?? "0/0");
  await waitFor("row 1 acknowledged and confirmed", async () => {
    const confirmed = await confirmedFlushLsn(sql, slot);
    return confirmed && parseLsn(confirmed) >= afterFirst ? confirmed : undefined;
  });

  // The broker stops acknowledging: the workload commits, capture produces, nothing may be confirmed.
  // (While capture is idle, WAL heartbeats may confirm past row 1; once data waits for acks, they may not.)
  assert.ok(gate);
  const gated = gate as GatedSender;
  // Released before the pipeline stops (cleanups run last-registered first), also when an assertion fails.
  defer(t, () => gated.release());
  gated.hold();
  const commitBounds: Array<{ id: number; walAfterCommit: bigint }> = [];
  for (let id = 2; id <= 30; id++) {
    await sql.query("insert into work values ($1, 'held')", [id]);
    const { rows: wal } = await sql.query<{ lsn: string }>("select pg_current_wal_insert_lsn()::text as lsn");
    commitBounds.push({ id, walAfterCommit: parseLsn(wal[0]?.lsn ?? "0/0") });
  }
  await waitFor("records waiting for acks", async () =>
    pipeline.sink.stats().recordsInFlight > 0 ? true : undefined,
  );
  // While acks are held, sample what the slot confirmed and what the offset says. (Both may still move
  // up to the last WAL heartbeat before the first held commit: that position was idle, nothing to lose.)
  const heldSamples: Array<{ confirmed: bigint; stored: bigint }> = [];
  for (let sample = 0; sample < 8; sample++) {
    const confirmed = parseLsn((await confirmedFlushLsn(sql, slot)) ?? "0/0");
    const stored = parseLsn((await storedLsn()) ?? "0/0");
    heldSamples.push({ confirmed, stored });
    await new Promise((resolve) => setTimeout(resolve, 200)); // WAL heartbeats and keepalives come and go
  }
  assert.deepEqual(
    (await readTopics(brokers, [topic])).map((record) => payloadOf(record.key)?.id),
    [1],
    "nothing past row 1 reached Kafka while the gate was closed",
  );
  assert.ok(pipeline.sink.stats().recordsInFlight > 0);

  // Acks flow again: while they do, whatever the slot confirms must already be in Kafka.
  gated.release();
  const deadline = Date.now() + 60_000;
  for (;;) {
    assert.ok(Date.now() < deadline, "rows 2–30 reached Kafka and the slot within 60 s of the release");
    const confirmed = parseLsn((await confirmedFlushLsn(sql, slot)) ?? "0/0");
    const inKafka = new Set(
      (await readTopics(brokers, [topic])).map((record) => payloadOf(record.key)?.id as number),
    );
    for (const bound of commitBounds)
      if (bound.walAfterCommit <= confirmed)
        assert.ok(inKafka.has(bound.id), `row ${bound.id} was confirmed to the slot before Kafka had it`);
    if (
      commitBounds.every((bound) => inKafka.has(bound.id)) &&
      confirmed >= (commitBounds.at(-1)?.walAfterCommit ?? 0n)
    )
      break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const row2 = (await readTopics(brokers, [topic])).find((record) => payloadOf(record.key)?.id === 2);
  const row2Source = payloadOf(row2?.value)?.source as Payload | undefined;
  assert.ok(row2Source, "row 2 reached Kafka");
  const row2Commit = BigInt(row2Source.lsn as number);
  for (const { confirmed, stored } of heldSamples) {
    assert.ok(confirmed < row2Commit, "while acks were held the slot stayed before the first held commit");
    assert.ok(
      stored < row2Commit,
      "while acks were held the stored offset stayed before the first held commit",
    );
  }
});

test("an unreachable broker is a BROKERS_UNREACHABLE error naming the brokers", {
  timeout: 60_000,
}, async (t) => {
  const fixture = await captureFixture(t, "create table work (id int primary key)");
  const settings = fixture.settings({ brokers: "127.0.0.1:1,127.0.0.1:2" });
  await assert.rejects(
    KafkaCapture.open(settings),
    (error: unknown) =>
      error instanceof KafkaTransportError &&
      error.code === "BROKERS_UNREACHABLE" &&
      error.message.includes("127.0.0.1:1, 127.0.0.1:2") &&
      /FLOE_KAFKA_BROKERS/.test(error.message),
  );
});
