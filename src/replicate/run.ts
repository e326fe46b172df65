/**
 * One direct replication: capture (publication, slot, snapshot, stream) into a {@link DirectSink}, its
 * offset kept in the catalog (NamespaceOffsetStore). `floe replicate` and the tests drive it.
 */
import { Capture, type CaptureConfigInput, parseCaptureConfig } from "../capture/index.ts";
import type { Catalog } from "../catalog/catalog.ts";
import { DirectSink, NamespaceOffsetStore, type ReplicateMode } from "./direct.ts";

export interface ReplicationOptions {
  /** PostgreSQL connection URL. */
  pgUrl: string;
  catalog: Catalog;
  /** Iceberg namespace the tables go to (default `public`). */
  namespace?: string[];
  /** Source tables (`name` = `public.name`, or `schema.name`); default: every table of the publication. */
  tables?: string[];
  mode?: ReplicateMode;
  slotName?: string;
  publicationName?: string;
  commitIntervalMs?: number;
  maxBufferedChanges?: number;
  /** More capture settings (Floe or Debezium names), e.g. `snapshot.mode`. */
  capture?: Record<string, unknown>;
  log?: (line: string) => void;
}

export interface Replication {
  sink: DirectSink;
  capture: Capture;
  /** Settles when replication ends: rejects on a capture or commit failure. */
  done: Promise<void>;
  /** Commits what is written, stops capture, commits the rest and closes the writers. */
  stop(): Promise<void>;
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** `orders` → `public\.orders`; `shop.orders` → `shop\.orders` (exact names, as include-list regexes). */
export function tableIncludeList(tables: string[]): string[] {
  return tables.map((name) => {
    const dot = name.indexOf(".");
    const [schema, table] = dot < 0 ? ["public", name] : [name.slice(0, dot), name.slice(dot + 1)];
    return `${escapeRegex(schema)}\\.${escapeRegex(table)}`;
  });
}

export async function startReplication(options: ReplicationOptions): Promise<Replication> {
  const namespace = options.namespace ?? ["public"];
  const input: CaptureConfigInput & Record<string, unknown> = {
    ...options.capture,
    url: options.pgUrl,
    slotName: options.slotName ?? "floe",
    publicationName: options.publicationName ?? "floe",
    // Tombstones and transaction markers are Kafka concerns; the sink needs neither.
    tombstonesOnDelete: false,
  };
  if (options.tables && options.tables.length > 0) input.tableIncludeList = tableIncludeList(options.tables);
  const config = parseCaptureConfig(input);
  const sink = new DirectSink({
    catalog: options.catalog,
    namespace,
    mode: options.mode ?? "upsert",
    ...(options.commitIntervalMs !== undefined ? { commitIntervalMs: options.commitIntervalMs } : {}),
    ...(options.maxBufferedChanges !== undefined ? { maxBufferedChanges: options.maxBufferedChanges } : {}),
    ...(options.log ? { log: options.log } : {}),
  });
  const capture = new Capture(
    config,
    sink,
    new NamespaceOffsetStore(options.catalog, namespace, config.slotName),
  );
  sink.start();
  let started: Awaited<ReturnType<Capture["start"]>>;
  try {
    started = await Promise.race([capture.start(), sink.failed]);
  } catch (error) {
    await capture.stop().catch(() => {});
    await sink.close().catch(() => {});
    throw error;
  }
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      try {
        await sink.commitRound(); // while the stream runs, so the acknowledgement reaches the slot
      } finally {
        await capture.stop();
        await sink.close();
      }
    })();
    return stopping;
  };
  const done = Promise.race([started.done, sink.failed]);
  done.catch(() => {});
  return { sink, capture, done, stop };
}
