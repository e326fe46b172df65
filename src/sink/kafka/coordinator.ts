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
import { formatLsn } from "../change.ts";
import { SinkError } from "../errors.ts";
import { SOURCE_LSN_PROPERTY } from "../position.ts";
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
import { type CommitPoint, TransactionLedger } from "./transaction-ledger.ts";

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
  /**
   * Transaction-consistent mode: the capture's transaction-metadata topic (`<prefix>.transaction`, one
   * partition). Rounds then hold only whole PostgreSQL transactions, across tables (see
   * transaction-ledger.ts); a round waits for every partition's answer instead of timing out.
   */
  transactionTopic?: string;
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
  /** Transaction-consistent mode: the ledger, the transaction-topic reader and its election. */
  readonly #ledger: TransactionLedger | undefined;
  #transactions: Consumer<string, string, string, string> | undefined;
  #transactionStream: MessagesStream<string, string, string, string> | undefined;
  #transactionGeneration = -1;
  #waitingForTransactions = false;
  /** When a commit last landed (or there was nothing to commit), and the last stall line. */
  #lastProgress = Date.now();
  #lastStallReport = 0;
  #lastFrontier: bigint | undefined;
  /** The last control-topic offset read (any sink's record). */
  #lastRead = -1n;
  /** Transaction-consistent mode: per worker, whether its last answer said it waits for earlier rounds. */
  readonly #waitingWorkers = new Map<string, number>();
  /** This election's read-back probe (transaction-consistent mode). */
  #probe: { round: string; generation: number; read: boolean } | undefined;
  #subscribedTopics: string[] = [];
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
    if (options.transactionTopic !== undefined) {
      this.#ledger = new TransactionLedger((collection) =>
        this.#subscribedTopics.some((topic) => topic.endsWith(`.${collection}`)),
      );
    }
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
        this.#ledger?.reset();
        this.#waitingWorkers.clear();
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

  /**
   * Transaction-consistent mode: (re)opens the transaction-topic reader for this election, from the
   * END after the last committed transaction (read back from the control topic) — or its start.
   */
  async #openTransactions(generation: number): Promise<void> {
    const topic = this.#options.transactionTopic!;
    const ledger = this.#ledger!;
    if (!this.#transactions) {
      this.#transactions = new Consumer({
        clientId: `${this.#options.clientId ?? `floe-sink-${this.#options.sinkId}`}-transactions`,
        groupId: `${coordinatorGroupId(this.#options.sinkId)}-transactions-${randomUUID().slice(0, 8)}`,
        bootstrapBrokers: this.#options.brokers,
        isolationLevel: FetchIsolationLevels.READ_COMMITTED,
        deserializers: stringDeserializers,
        maxWaitTime: 100,
      });
    }
    // The capture creates the topic with the first transaction; until then nothing is released.
    const partitions = await this.#transactions
      .metadata({ topics: [topic] })
      .then((metadata) => metadata.topics.get(topic)?.partitionsCount ?? 0)
      .catch((error: unknown) => {
        if (
          /UNKNOWN_TOPIC|does not exist/i.test(
            `${(error as Error).message} ${JSON.stringify((error as { errors?: unknown }).errors ?? "")}`,
          )
        )
          return 0;
        throw error;
      });
    if (partitions === 0) {
      if (!this.#waitingForTransactions)
        this.#options.log(`coordinator: waiting for the transaction topic ${topic}`);
      this.#waitingForTransactions = true;
      return;
    }
    if (partitions !== 1) {
      throw new SinkError(
        "TABLE_INVALID",
        `transaction-consistent mode reads the transaction topic ${topic} in commit order, which needs exactly one partition (it has ${partitions}); recreate it with one partition (floe capture does) or run without --transaction-topic`,
      );
    }
    const old = this.#transactionStream;
    if (old) {
      old.removeAllListeners("data");
      old.removeAllListeners("error");
      old.on("error", () => {});
      old.close().catch(() => {});
    }
    const from = ledger.committed.transactionOffset + 1n;
    const stream = await this.#transactions.consume({
      topics: [topic],
      mode: from > 0n ? MessagesStreamModes.MANUAL : MessagesStreamModes.EARLIEST,
      fallbackMode: MessagesStreamFallbackModes.EARLIEST,
      ...(from > 0n ? { offsets: [{ topic, partition: 0, offset: from }] } : {}),
      autocommit: false,
    });
    stream.on("data", (message: Message<string, string, string, string>) => {
      if (generation !== this.#generation) return;
      const end = transactionEndOf(message.value);
      if (end) ledger.addEnd(end.id, message.offset, end.dataCollections);
    });
    stream.on("error", (error: unknown) => this.#fail(error));
    this.#transactionStream = stream;
    this.#transactionGeneration = generation;
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => {
      const epoch = this.#epoch;
      this.#running = this.#tick()
        .catch((error: unknown) => {
          if (error instanceof SinkError && error.code === "COORDINATOR_FENCED") {
            this.#options.log(`coordinator: ${error.message}`);
            // Only the fenced epoch stands down: if this process was elected again meanwhile (a
            // SIGSTOPped coordinator waking up finishes its old round after its new election), the new
            // epoch goes on — clearing it left the sink without a coordinator until the next rebalance.
            if (this.#epoch === epoch) this.#epoch = undefined;
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
    if (message.offset > this.#lastRead) this.#lastRead = message.offset;
    if (message.key !== this.#options.sinkId || this.#epoch === undefined) return;
    const event = decodeControlEvent(
      message.value,
      `${message.topic}/${message.partition}@${message.offset}`,
    );
    this.#lastMessage = message;
    if (event.type === "start-commit") {
      if (this.#probe?.round === event.round) this.#probe.read = true;
    } else if (event.type === "data-written") this.#pending.push({ event, offset: message.offset });
    else if (event.type === "commit-complete") {
      if (event.committed) {
        this.#ledger?.restore({
          lsn: BigInt(event.committed.lsn),
          transactionOffset: BigInt(event.committed.transactionOffset),
        });
      }
    } else if (event.type === "data-complete") {
      this.#published.set(publicationId(event.round, event.worker), message.offset);
      if (this.#ledger) {
        if (event.waitingForRounds) this.#waitingWorkers.set(event.worker, Date.now());
        else this.#waitingWorkers.delete(event.worker);
      }
      this.#ledger?.report(
        publicationId(event.round, event.worker),
        message.offset,
        event.partitions,
        event.released ?? [],
      );
      let answered = this.#answered.get(event.round);
      if (!answered) {
        answered = new Set();
        this.#answered.set(event.round, answered);
      }
      for (const p of event.partitions) answered.add(`${p.topic}/${p.partition}`);
      if (event.round === this.#round) this.#roundWaiter?.();
    }
  }

  /** Logs, at most every 30 s while nothing is committed though publications wait, what holds it up. */
  #reportStall(): void {
    const now = Date.now();
    const frontier = this.#ledger?.frontier;
    if (frontier !== undefined && frontier !== this.#lastFrontier) {
      this.#lastFrontier = frontier;
      this.#lastProgress = now;
    }
    if (this.#pending.length === 0 && this.#published.size === 0 && !this.#ledger?.holding())
      this.#lastProgress = now;
    if (now - this.#lastProgress < 30_000 || now - this.#lastStallReport < 30_000) return;
    this.#lastStallReport = now;
    this.#options.log(
      `coordinator: nothing committed for ${Math.round((now - this.#lastProgress) / 1000)} s: epoch ${this.#epoch}, stream ${this.#streamGeneration === this.#generation ? "open" : "reopening"}, ${this.#pending.length} files events pending, ${this.#published.size} publications complete` +
        (this.#ledger
          ? `; probe ${this.#probe?.generation === this.#generation && this.#probe.read ? "read" : "not read"}, transaction topic ${this.#transactionGeneration === this.#generation ? "open" : "not open"}; ${this.#ledger.describe()}`
          : ""),
    );
  }

  /** One round: start-commit, wait for the workers, commit. */
  async #tick(): Promise<void> {
    this.#reportStall();
    const epoch = this.#epoch;
    if (epoch === undefined) return;
    // Until the stream of this election is in place, what was heard is incomplete.
    if (this.#streamGeneration !== this.#generation) return;
    const expected = await this.#options.partitions();
    this.#subscribedTopics = [...new Set([...expected].map((tp) => tp.slice(0, tp.lastIndexOf("/"))))];
    if (this.#ledger) {
      // The last commit point comes back from the control topic: read it to its end first, which is
      // when this election's probe (a start-commit without a frontier) is read back. (Offsets cannot
      // tell: Kafka's transaction markers take offsets that no record is delivered at.)
      if (this.#probe?.generation !== this.#generation) {
        const probe = { round: randomUUID(), generation: this.#generation, read: false };
        this.#probe = probe;
        await this.#producer.send({
          messages: [
            {
              topic: this.#options.controlTopic,
              key: this.#options.sinkId,
              value: encodeControlEvent({
                type: "start-commit",
                sinkId: this.#options.sinkId,
                round: probe.round,
                epoch,
                tsMs: Date.now(),
              }),
            },
          ],
        });
      }
      if (!this.#probe.read) return;
      if (this.#transactionGeneration !== this.#generation) await this.#openTransactions(this.#generation);
    }
    // Files published before this round (a previous coordinator's rounds, answers that came after a
    // round's timeout) are committed at once: workers that took over partitions wait for them.
    if (this.#pending.length > 0) await this.commitPending(epoch);
    const round = randomUUID();
    this.#round = round;
    const frontier = this.#ledger?.advanceFrontier();
    const startCommit = {
      topic: this.#options.controlTopic,
      key: this.#options.sinkId,
      value: encodeControlEvent({
        type: "start-commit",
        sinkId: this.#options.sinkId,
        round,
        epoch,
        tsMs: Date.now(),
        ...(frontier !== undefined
          ? {
              frontier: String(frontier),
              committedThrough: String(this.#pending[0]?.offset ?? this.#lastRead + 1n),
            }
          : {}),
      }),
    };
    await this.#producer.send({ messages: [startCommit] });
    for (;;) {
      const all = await new Promise<boolean>((resolve) => {
        const check = () => {
          const answered = this.#answered.get(round);
          if ([...expected].every((p) => answered?.has(p))) finish(true);
          else if (this.#closed || this.#epoch !== epoch) finish(false);
        };
        const timeout = setTimeout(() => finish(false), this.#options.commitTimeoutMs);
        const finish = (answered: boolean) => {
          clearTimeout(timeout);
          this.#roundWaiter = undefined;
          resolve(answered);
        };
        this.#roundWaiter = check;
        check();
      });
      // Without the transaction topic a round commits what arrived by its timeout (an idle or slow
      // worker never stalls it). Transaction-consistent mode waits for every partition — a round
      // without one could hold part of a transaction, and a late answer overtaking the next round's
      // would keep the commit prefix from ever being whole — asking again each timeout (a
      // partition's new owner answers the repeat) and committing meanwhile what is whole (a worker may
      // be waiting for that before it can answer).
      if (all || !this.#ledger || this.#closed || this.#epoch !== epoch) break;
      this.#reportStall();
      await this.commitPending(epoch);
      await this.#producer.send({ messages: [startCommit] });
    }
    this.#answered.delete(round);
    if (this.#epoch !== epoch) return; // lost the election while waiting
    this.stats.rounds++;
    await this.commitPending(epoch);
  }

  /** A worker said lately (it answers every round) that it waits for rounds published before its rebalance. */
  #workerWaiting(): boolean {
    const recent = Date.now() - 2 * (this.#options.commitTimeoutMs + this.#options.commitIntervalMs);
    for (const [worker, at] of this.#waitingWorkers) {
      if (at >= recent) return true;
      this.#waitingWorkers.delete(worker); // gone, or no longer waiting
    }
    return false;
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
    let cut = waiting < 0 ? this.#pending.length : waiting;
    const last = this.#lastMessage;
    let point: CommitPoint | undefined;
    let ledgerPublications: Set<string> | undefined;
    let degraded: Set<string> | undefined;
    if (this.#ledger) {
      // Whole publications only (a transaction's events in one of them must land together), and only
      // when every transaction they reach is entirely in them.
      for (;;) {
        const after = new Set(this.#pending.slice(cut).map(publicationOf));
        const split = this.#pending.findIndex((p, i) => i < cut && after.has(publicationOf(p)));
        if (split < 0) break;
        cut = split;
      }
      const cutOffset = cut < this.#pending.length ? this.#pending[cut]!.offset : (last?.offset ?? -1n) + 1n;
      const publications = new Set(this.#pending.slice(0, cut).map(publicationOf));
      for (const [id, offset] of this.#published) if (offset < cutOffset) publications.add(id);
      point = this.#ledger.commitTarget(publications);
      if (point) ledgerPublications = publications;
      else if (this.#workerWaiting()) {
        // A worker that took over partitions waits for these rounds before it can write the rest of
        // their transactions: commit them without a consistent point (no floe.source.lsn), or neither
        // would ever move. Happens only after a worker left mid-round.
        degraded = publications;
      } else cut = 0;
    }
    const pending = this.#pending.slice(0, cut);
    // Where a restarted coordinator must read again: the first event not committed here, if any.
    let holdAt = cut < this.#pending.length ? this.#pending[cut]!.offset : undefined;
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
        const extra: Record<string, string> =
          point && point.lsn >= 0n ? { [SOURCE_LSN_PROPERTY]: formatLsn(point.lsn) } : {};
        staged.push({ commit: this.#stage(table, events, epoch, watermark, extra), events });
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
    if (point && ledgerPublications) this.#ledger?.commit(point, ledgerPublications);
    if (degraded) {
      this.#ledger?.commitDegraded(degraded);
      if (staged.length > 0)
        this.#options.log(
          "coordinator: committed part of a transaction without a consistent point (floe.source.lsn): a worker that took over partitions needed it",
        );
    }
    const committed = this.#ledger?.committed;
    if (staged.length > 0 || (committed && committed.lsn >= 0n)) {
      if (staged.length > 0) {
        this.stats.commits++;
        this.#lastProgress = Date.now();
      }
      // Transaction-consistent mode announces every time: the control offset is held at the latest
      // announcement, so a new coordinator reads the last commit point back.
      const sent = await this.#producer.send({
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
              ...(committed && committed.lsn >= 0n
                ? {
                    committed: {
                      lsn: String(committed.lsn),
                      transactionOffset: String(committed.transactionOffset),
                    },
                  }
                : {}),
            }),
          },
        ],
      });
      const announced = sent.offsets?.[0]?.offset;
      if (this.#ledger && announced !== undefined && (holdAt === undefined || announced < holdAt))
        holdAt = announced;
    }
    if (this.#ledger) {
      const oldest = this.#ledger.oldestUncommitted();
      if (oldest !== undefined && (holdAt === undefined || oldest < holdAt)) holdAt = oldest;
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
    extraSummary: Record<string, string> = {},
  ): StagedCommit {
    let maxOffset = -1n;
    for (const e of events) if (e.offset > maxOffset) maxOffset = e.offset;
    const summary: Record<string, string> = {
      [SINK_ID_PROPERTY]: this.#options.sinkId,
      [SINK_EPOCH_PROPERTY]: String(epoch),
      [SINK_CONTROL_OFFSET_PROPERTY]: String(maxOffset),
      [SINK_ROUNDS_PROPERTY]: [...new Set(events.map((e) => e.event.round))].join(","),
      [SINK_PUBLICATIONS_PROPERTY]: publicationsOf(events).join(","),
      ...extraSummary,
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
    await quietly(() => this.#transactionStream?.close());
    await quietly(() => this.#transactions?.close(true));
    await quietly(() => this.#consumer.close(true));
    await quietly(() => this.#producer.close());
    await quietly(() => this.#admin.close());
  }
}

function publicationOf(item: PendingFiles): string {
  return publicationId(item.event.round, item.event.worker);
}

/** The END record of a transaction-topic value (Kafka Connect JSON, with or without the schema envelope). */
function transactionEndOf(
  value: string | undefined,
): { id: string; dataCollections: Array<{ dataCollection: string; eventCount: number }> } | undefined {
  if (!value) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return undefined;
  }
  const record = parsed as { payload?: unknown } | null;
  const payload = (record && typeof record === "object" && "payload" in record ? record.payload : record) as {
    status?: unknown;
    id?: unknown;
    data_collections?: unknown;
  } | null;
  if (payload?.status !== "END" || typeof payload.id !== "string") return undefined;
  const collections = Array.isArray(payload.data_collections) ? payload.data_collections : [];
  return {
    id: payload.id,
    dataCollections: collections.flatMap((c: { data_collection?: unknown; event_count?: unknown }) =>
      typeof c?.data_collection === "string" && Number.isFinite(Number(c.event_count))
        ? [{ dataCollection: c.data_collection, eventCount: Number(c.event_count) }]
        : [],
    ),
  };
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
