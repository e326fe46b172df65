// A test downstream: records every batch in memory and reports durability only when the test says so.
import type { ChangeBatch, ChangeSink, SourcePosition } from "../../../src/capture/capture.ts";
import type { CaptureEvent, ChangeEvent } from "../../../src/capture/envelope.ts";

export class RecordingSink implements ChangeSink {
  readonly batches: ChangeBatch[] = [];
  private listener: ((position: SourcePosition) => void) | null = null;
  private waiters: Array<{
    predicate: () => boolean;
    resolve: () => void;
    reject: (error: unknown) => void;
  }> = [];
  private failure: unknown = null;

  /** Fails every pending and future wait: the capture stream ended with this error. */
  fail(error: unknown): void {
    this.failure = error;
    for (const waiter of this.waiters) waiter.reject(error);
    this.waiters = [];
  }

  constructor(private readonly autoAck = false) {}

  async write(batch: ChangeBatch): Promise<void> {
    this.batches.push(batch);
    if (this.autoAck) this.listener?.(batch.position);
    this.waiters = this.waiters.filter((waiter) => {
      if (!waiter.predicate()) return true;
      waiter.resolve();
      return false;
    });
  }

  onDurable(listener: (position: SourcePosition) => void): void {
    this.listener = listener;
  }

  /** Declares everything written so far durable. */
  ackAll(): void {
    const last = this.batches[this.batches.length - 1];
    if (last) this.listener?.(last.position);
  }

  get events(): CaptureEvent[] {
    return this.batches.flatMap((batch) => batch.events);
  }

  changes(table?: string): ChangeEvent[] {
    return this.events.filter(
      (event): event is ChangeEvent =>
        event.kind === "change" && (table === undefined || event.table.table === table),
    );
  }

  async waitFor(predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
    if (predicate()) return;
    if (this.failure) throw this.failure;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("timed out waiting for events")), timeoutMs);
      this.waiters.push({
        predicate,
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }
}
