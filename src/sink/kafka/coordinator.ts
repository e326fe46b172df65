/**
 * The commit coordinator of `floe sink`. Every sink process runs a candidate: a consumer of the control
 * topic (one partition) in the group `<sink>-coordinator`, so Kafka's group protocol elects exactly one
 * member per generation; the generation id is the coordinator's **epoch**.
 *
 * The elected coordinator, every `commitIntervalMs`: sends start-commit, collects the workers'
 * data-written/data-complete events (published in their Kafka transactions) until every source
 * partition answered or `commitTimeoutMs` passed (an idle or slow worker never stalls a round), then
 * commits every table's files of every round not yet in the tables in ONE catalog transaction, with the
 * sink id, its epoch, the rounds and the highest control-topic offset per table in the snapshot summary.
 *
 * Exactly-once and fencing: a table's committed control offset (its watermark) is read back from its
 * snapshots, and events at or below it are never committed again — after a restart the new coordinator
 * re-reads the control topic from its group's committed offset and commits what the old one did not.
 * Before committing, and again after every conflict, the coordinator checks that no snapshot of the
 * table carries a higher epoch: a zombie coordinator (a previous generation still running) is rejected
 * with SinkError COORDINATOR_FENCED instead of committing. The control offset commit also carries the
 * generation, so Kafka refuses a zombie's.
 *
 * When compaction removed a data file a round's position deletes target, the round's equality-delete
 * fallback (written by the worker next to the position deletes) is committed instead.
 */
import { randomUUID } from "node:crypto";
import {
  Admin,
  Consumer,
  FetchIsolationLevels,
  ListOffsetTimestamps,
  type Message,
  type MessagesStream,
  MessagesStreamFallbackModes,
  MessagesStreamModes,
  Producer,
  stringDeserializers,
  stringSerializers,
} from "@platformatic/kafka";
import type { Catalog, LoadedTable, TableIdentifier } from "../../catalog/catalog.ts";
import { IcebergError } from "../../iceberg/errors.ts";
import { RowDelta } from "../../iceberg/operations/row-delta.ts";
import { ancestorsOf, snapshotForRef } from "../../iceberg/table-metadata.ts";
import { SinkError } from "../errors.ts";
import { type CommitResult, commitStaged, type StagedCommit } from "../staged-commit.ts";
import { SINK_ID_PROPERTY } from "../table-writer.ts";
import {
  type ControlEvent,
  committedControlOffset,
  coordinatorGroupId,
  decodeControlEvent,
  encodeControlEvent,
  publicationId,
  SINK_CONTROL_OFFSET_PROPERTY,
  SINK_EPOCH_PROPERTY,
  SINK_PUBLICATIONS_PROPERTY,
  SINK_ROUNDS_PROPERTY,
  tableKey,
} from "./control.ts";

export interface CoordinatorOptions {
  sinkId: string;
  brokers: string[];
  controlTopic: string;
  catalog: Catalog;
  /** The source partitions the workers consume: a round is complete when all of them answered. */
  partitions: () => Promise<Set<string>>;
  commitIntervalMs: number;
  commitTimeoutMs: number;
  log: (line: string) => void;
  clientId?: string;
}

type DataWritten = Extract<ControlEvent, { type: "data-written" }>;

interface PendingFiles {
  event: DataWritten;
  offset: bigint;
}

export interface CoordinatorStats {
  rounds: number;
  commits: number;
  epoch: number | undefined;
}

export class Coordinator {
  readonly #options: CoordinatorOptions;
  readonly #consumer: Consumer<string, string, string, string>;
  readonly #producer: Producer<string, string, string, string>;
  readonly #admin: Admin;
  #stream: MessagesStream<string, string, string, string> | undefined;
  /** Epoch changes seen; messages of a stream opened before the latest one are ignored. */
  #generation = 0;
  #streamGeneration = -1;
  #reopening: Promise<void> = Promise.resolve();
  /** Set while this process holds partition 0 of the control topic. */
  #epoch: number | undefined;
  #pending: PendingFiles[] = [];
  /** Round → partitions that answered. */
  readonly #answered = new Map<string, Set<string>>();
  /** Publications (`<round>/<worker>`) whose data-complete was read (at this offset): all their events are here. */
  readonly #published = new Map<string, bigint>();
  #lastMessage: Message<string, string, string, string> | undefined;
  #round: string | undefined;
  #roundWaiter: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> = Promise.resolve();
  #closed = false;
  #failure: unknown;
  readonly stats: CoordinatorStats = { rounds: 0, commits: 0, epoch: undefined };

  constructor(options: CoordinatorOptions) {
    this.#options = options;
    const clientId = options.clientId ?? `floe-sink-${options.sinkId}`;
    this.#consumer = new Consumer({
      clientId: `${clientId}-coordinator`,
      groupId: coordinatorGroupId(options.sinkId),
      bootstrapBrokers: options.brokers,
      isolationLevel: FetchIsolationLevels.READ_COMMITTED,
      deserializers: stringDeserializers,
      maxWaitTime: 100,
      sessionTimeout: 10_000,
      heartbeatInterval: 1_000,
      rebalanceTimeout: 15_000,
    });
    this.#admin = new Admin({ clientId: `${clientId}-coordinator-admin`, bootstrapBrokers: options.brokers });
    this.#producer = new Producer({
      clientId: `${clientId}-coordinator-producer`,
      bootstrapBrokers: options.brokers,
      idempotent: true,
      serializers: stringSerializers,
    });
  }

  /** True while this process is the elected coordinator. */
  get isLeader(): boolean {
    return this.#epoch !== undefined;
  }

  get failure(): unknown {
    return this.#failure;
  }

  async start(): Promise<void> {
    this.#consumer.on("consumer:group:join", (payload) => {
      const mine = payload.assignments?.some(
        (a) => a.topic === this.#options.controlTopic && a.partitions.includes(0),
      );
      const epoch = mine ? this.#consumer.generationId : undefined;
      if (epoch !== this.#epoch) {
        // A new generation: what was heard under the old one is re-read from the committed offset,
        // by a fresh stream positioned there (rewinding the old one raced with its in-flight fetches,
        // which could skip a round's data-written events for good).
        this.#pending = [];
        this.#answered.clear();
        this.#published.clear();
        this.#lastMessage = undefined;
        this.#generation++;
        if (epoch !== undefined && this.#stream) this.#scheduleReopen();
      }
      this.#epoch = epoch;
      this.stats.epoch = epoch;
      if (epoch !== undefined) this.#options.log(`coordinator: elected, epoch ${epoch}`);
    });
    const first = await this.#consumer.consume({
      topics: [this.#options.controlTopic],
      mode: MessagesStreamModes.COMMITTED,
      fallbackMode: MessagesStreamFallbackModes.EARLIEST,
      autocommit: false,
    });
    // Created after the join, so positioned at the committed offset already.
    this.#attach(first, this.#generation);
    this.#schedule();
  }

  #attach(stream: MessagesStream<string, string, string, string>, generation: number): void {
    const previous = this.#stream;
    this.#stream = stream;
    this.#streamGeneration = generation;
    stream.on("data", (message: Message<string, string, string, string>) =>
      this.#onMessage(message, generation),
    );
    stream.on("error", (error: unknown) => this.#fail(error));
    if (previous) {
      previous.removeAllListeners("data");
      previous.removeAllListeners("error");
      previous.on("error", () => {});
      previous.close().catch(() => {});
    }
  }

  /** Replaces the control stream with one that starts at the group's committed offset. */
  #scheduleReopen(): void {
    this.#reopening = this.#reopening
      .then(async () => {
        const generation = this.#generation;
        if (this.#closed || this.#streamGeneration === generation) return;
        const topic = this.#options.controlTopic;
        let offset = await committedControlOffset(this.#admin, this.#options.sinkId, topic);
        if (offset < 0n) {
          const earliest = await this.#consumer.listOffsets({
            topics: [topic],
            timestamp: ListOffsetTimestamps.EARLIEST,
          });
          offset = earliest.get(topic)?.[0] ?? 0n;
        }
        if (this.#closed || this.#generation !== generation) return; // a newer election reopens again
        const stream = await this.#consumer.consume({
          topics: [topic],
          mode: MessagesStreamModes.MANUAL,
          fallbackMode: MessagesStreamFallbackModes.EARLIEST,
          offsets: [{ topic, partition: 0, offset }],
          autocommit: false,
        });
        this.#attach(stream, generation);
      })
      .catch((error: unknown) => this.#fail(error));
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#running = this.#tick()
        .catch((error: unknown) => {
          if (error instanceof SinkError && error.code === "COORDINATOR_FENCED") {
            this.#options.log(`coordinator: ${error.message}`);
            this.#epoch = undefined;
            return;
          }
          this.#options.log(`coordinator: commit round failed: ${(error as Error).message}`);
        })
        .finally(() => this.#schedule());
    }, this.#options.commitIntervalMs);
  }

  #fail(error: unknown): void {
    if (this.#closed) return;
    this.#failure = error;
    this.#options.log(`coordinator: control stream failed: ${(error as Error).message}`);
  }

  #onMessage(message: Message<string, string, string, string>, generation: number): void {
    if (generation !== this.#generation) return; // a stream from before the latest election
    if (message.key !== this.#options.sinkId || this.#epoch === undefined) return;
    const event = decodeControlEvent(
      message.value,
      `${message.topic}/${message.partition}@${message.offset}`,
    );
    this.#lastMessage = message;
    if (event.type === "data-written") this.#pending.push({ event, offset: message.offset });
    else if (event.type === "data-complete") {
      this.#published.set(publicationId(event.round, event.worker), message.offset);
      let answered = this.#answered.get(event.round);
      if (!answered) {
        answered = new Set();
        this.#answered.set(event.round, answered);
      }
      for (const p of event.partitions) answered.add(`${p.topic}/${p.partition}`);
      if (event.round === this.#round) this.#roundWaiter?.();
    }
  }

  /** One round: start-commit, wait for the workers, commit. */
  async #tick(): Promise<void> {
    const epoch = this.#epoch;
    if (epoch === undefined) return;
    // Until the stream of this election is in place, what was heard is incomplete.
    if (this.#streamGeneration !== this.#generation) return;
    // Files published before this round (a previous coordinator's rounds, answers that came after a
    // round's timeout) are committed at once: workers that took over partitions wait for them.
    if (this.#pending.length > 0) await this.commitPending(epoch);
    const round = randomUUID();
    this.#round = round;
    const expected = await this.#options.partitions();
    const started = Date.now();
    await this.#producer.send({
      messages: [
        {
          topic: this.#options.controlTopic,
          key: this.#options.sinkId,
          value: encodeControlEvent({
            type: "start-commit",
            sinkId: this.#options.sinkId,
            round,
            epoch,
            tsMs: started,
          }),
        },
      ],
    });
    await new Promise<void>((resolve) => {
      const check = () => {
        const answered = this.#answered.get(round);
        if ([...expected].every((p) => answered?.has(p))) finish();
      };
      const timeout = setTimeout(() => finish(), this.#options.commitTimeoutMs);
      const finish = () => {
        clearTimeout(timeout);
        this.#roundWaiter = undefined;
        resolve();
      };
      this.#roundWaiter = check;
      check();
    });
    this.#answered.delete(round);
    if (this.#epoch !== epoch) return; // lost the election while waiting
    this.stats.rounds++;
    await this.commitPending(epoch);
  }

  /**
   * Commits the pending data-written events above their tables' watermarks, all tables at once: the
   * longest prefix (in control-topic order) of events whose publication is complete. A worker's
   * transaction is read message by message, and other workers' transactions interleave with it, so an
   * event can be here before its publication's data-complete; committing a later event first would
   * move the table's watermark (the highest committed offset) past it and drop it for good.
   */
  async commitPending(epoch: number): Promise<CommitResult[]> {
    // A copy: events that arrive while this commit awaits stay pending for the next one (with the
    // array itself, the filter below dropped them uncommitted while a later watermark passed them).
    const waiting = this.#pending.findIndex(
      (p) => !this.#published.has(publicationId(p.event.round, p.event.worker)),
    );
    const pending = waiting < 0 ? [...this.#pending] : this.#pending.slice(0, waiting);
    // Where a restarted coordinator must read again: the first event not committed here, if any.
    const holdAt = waiting < 0 ? undefined : this.#pending[waiting]!.offset;
    const last = this.#lastMessage;
    const byTable = new Map<string, { table: TableIdentifier; events: PendingFiles[] }>();
    for (const item of pending) {
      const key = tableKey(item.event.table);
      let group = byTable.get(key);
      if (!group) {
        group = { table: item.event.table, events: [] };
        byTable.set(key, group);
      }
      group.events.push(item);
    }
    let staged: { commit: StagedCommit; events: PendingFiles[] }[] = [];
    let results: CommitResult[] = [];
    for (let attempt = 1; byTable.size > 0; attempt++) {
      staged = [];
      for (const group of byTable.values()) {
        const table = await this.#options.catalog.loadTable(group.table);
        const { watermark } = this.#checkEpoch(table, epoch);
        const events = group.events.filter((e) => watermark === undefined || e.offset > watermark);
        if (events.length === 0) continue;
        staged.push({ commit: this.#stage(table, events, epoch, watermark), events });
      }
      try {
        results = await commitStaged(
          this.#options.catalog,
          staged.map((s) => s.commit),
        );
        break;
      } catch (error) {
        // Another coordinator of this sink (an older one still finishing its round) committed some of
        // these events first: stage again from the tables as they are now, so none lands twice.
        if (
          !(error instanceof SinkError && error.code === "COORDINATORS_OVERLAP") ||
          attempt >= MAX_WATERMARK_RESTAGES
        )
          throw error;
        this.#options.log(`coordinator: ${error.message}; staging the round again`);
      }
    }
    if (staged.length > 0) {
      this.stats.commits++;
      await this.#producer.send({
        messages: [
          {
            topic: this.#options.controlTopic,
            key: this.#options.sinkId,
            value: encodeControlEvent({
              type: "commit-complete",
              sinkId: this.#options.sinkId,
              epoch,
              rounds: [...new Set(staged.flatMap((s) => s.events.map((e) => e.event.round)))],
              tables: results.map((r, i) => ({
                table: staged[i]!.commit.identifier,
                snapshotId: String(r.snapshotId),
              })),
              publications: staged.map((s) => ({
                table: s.commit.identifier,
                ids: publicationsOf(s.events),
              })),
            }),
          },
        ],
      });
    }
    this.#pending = this.#pending.filter((p) => !pending.includes(p));
    // A publication completed before the first event still pending has nothing left here.
    const handled = holdAt ?? (last ? last.offset + 1n : 0n);
    for (const [id, offset] of this.#published) if (offset < handled) this.#published.delete(id);
    await this.#commitControlOffset(holdAt, last);
    if (staged.length > 0) {
      const files = staged.reduce(
        (n, s) => n + s.events.reduce((m, e) => m + e.event.dataFiles.length + e.event.deleteFiles.length, 0),
        0,
      );
      this.#options.log(
        `coordinator: committed ${staged.map((s) => tableKey(s.commit.identifier)).join(", ")} files=${files} publications=${staged.reduce((n, s) => n + s.events.length, 0)} epoch=${epoch}`,
      );
    }
    return results;
  }

  /**
   * Commits the coordinator group's control offset: everything below it is in the tables (workers
   * wait on it after a rebalance; a new coordinator reads from it). Held at the first event not yet
   * committed, else just past the last message read.
   */
  async #commitControlOffset(
    holdAt: bigint | undefined,
    last: Message<string, string, string, string> | undefined,
  ): Promise<void> {
    if (holdAt === undefined) {
      if (last) await last.commit();
      return;
    }
    if (last && last.offset < holdAt) {
      await last.commit();
      return;
    }
    await this.#consumer.commit({
      offsets: [{ topic: this.#options.controlTopic, partition: 0, offset: holdAt, leaderEpoch: -1 }],
    });
  }

  /** The table's watermark for this sink; COORDINATOR_FENCED when a newer epoch committed to it. */
  #checkEpoch(table: LoadedTable, epoch: number): { watermark: bigint | undefined } {
    let watermark: bigint | undefined;
    for (const snapshot of ancestorsOf(table.metadata, snapshotForRef(table.metadata))) {
      if (snapshot.summary[SINK_ID_PROPERTY] !== this.#options.sinkId) continue;
      const theirs = Number(snapshot.summary[SINK_EPOCH_PROPERTY] ?? "0");
      if (theirs > epoch) {
        throw new SinkError(
          "COORDINATOR_FENCED",
          `${tableKey(table.identifier)} was committed by coordinator epoch ${theirs}, newer than this one's (${epoch}); this coordinator stands down`,
        );
      }
      const offset = snapshot.summary[SINK_CONTROL_OFFSET_PROPERTY];
      if (offset !== undefined && watermark === undefined) watermark = BigInt(offset);
      if (watermark !== undefined) break;
    }
    return { watermark };
  }

  #stage(
    start: LoadedTable,
    events: PendingFiles[],
    epoch: number,
    watermark: bigint | undefined,
  ): StagedCommit {
    let maxOffset = -1n;
    for (const e of events) if (e.offset > maxOffset) maxOffset = e.offset;
    const summary: Record<string, string> = {
      [SINK_ID_PROPERTY]: this.#options.sinkId,
      [SINK_EPOCH_PROPERTY]: String(epoch),
      [SINK_CONTROL_OFFSET_PROPERTY]: String(maxOffset),
      [SINK_ROUNDS_PROPERTY]: [...new Set(events.map((e) => e.event.round))].join(","),
      [SINK_PUBLICATIONS_PROPERTY]: publicationsOf(events).join(","),
    };
    /** Events whose position deletes lost their target to compaction: their equality fallback instead. */
    const fallback = new Set<PendingFiles>();
    let base = start;
    const delta = (table: LoadedTable) => {
      const rowDelta = new RowDelta(this.#options.catalog, table);
      for (const item of events) {
        for (const { file, specId } of item.event.dataFiles) rowDelta.addRows(file, specId);
        const deletes = fallback.has(item) ? (item.event.equalityFallback ?? []) : item.event.deleteFiles;
        for (const { file, specId } of deletes) rowDelta.addDeletes(file, specId);
        if (!fallback.has(item)) rowDelta.validateDataFilesExist(item.event.referencedDataFiles);
      }
      for (const [key, value] of Object.entries(summary)) rowDelta.set(key, value);
      return rowDelta;
    };
    return {
      identifier: start.identifier,
      table: start,
      prepare: async (table) => {
        if (table !== start) {
          // A retry after a conflict: the table moved. If it moved because another coordinator of this
          // sink committed, its watermark may now cover some of these events; committing them again
          // would add their files a second time (duplicate rows). Start over from the new watermarks.
          const now = this.#checkEpoch(table, epoch).watermark;
          if (now !== watermark) throw watermarkMoved(start.identifier, watermark, now);
        }
        for (;;) {
          try {
            return await delta(base).prepare(table);
          } catch (error) {
            if (!(error instanceof IcebergError && error.code === "VALIDATION_FAILED")) throw error;
            const switchable = events.filter(
              (e) => !fallback.has(e) && e.event.referencedDataFiles.length > 0,
            );
            if (switchable.length === 0) throw error;
            for (const e of switchable) {
              if (e.event.equalityFallback === null) {
                throw new SinkError(
                  "COMMIT_RETRIES_EXHAUSTED",
                  `${tableKey(start.identifier)}: compaction removed files a round's deletes target and the round has no equality fallback; pause compaction for this table`,
                  { cause: error },
                );
              }
              fallback.add(e);
            }
            base = table;
          }
        }
      },
      complete: async (table, snapshot) => ({
        table,
        snapshotId: snapshot.snapshotId,
        sourcePosition: undefined,
        attempts: 1,
      }),
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#running.catch(() => {});
    await this.#reopening.catch(() => {});
    await quietly(() => this.#stream?.close());
    await quietly(() => this.#consumer.close(true));
    await quietly(() => this.#producer.close());
    await quietly(() => this.#admin.close());
  }
}

/** The distinct publications (`<round>/<worker>`) of these events, in order. */
function publicationsOf(events: PendingFiles[]): string[] {
  return [...new Set(events.map((e) => publicationId(e.event.round, e.event.worker)))];
}

/** Restaging rounds because another coordinator committed first, before the round fails. */
const MAX_WATERMARK_RESTAGES = 5;

/** A table's control-offset watermark changed between staging a round and committing it. */
function watermarkMoved(table: TableIdentifier, before: bigint | undefined, after: bigint | undefined) {
  return new SinkError(
    "COORDINATORS_OVERLAP",
    `${tableKey(table)}: another coordinator of this sink committed control events up to offset ${after ?? "none"} (was ${before ?? "none"}) while this one was committing`,
  );
}

/** Runs a shutdown step; a failure to close a client must not hide the reason for shutting down. */
export async function quietly(step: () => unknown): Promise<void> {
  try {
    await step();
  } catch {
    // already closing
  }
}
