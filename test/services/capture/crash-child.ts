// Child process for crash.test.ts: runs capture with a FileOffsetStore and a sink that appends every
// change event to a file, fsyncs, and only then acknowledges. Args: url slot offsetPath eventsPath.
// Prints "ready" once streaming runs. The parent kills it with SIGKILL at any moment.
import { open } from "node:fs/promises";
import {
  Capture,
  type ChangeBatch,
  type ChangeSink,
  FileOffsetStore,
  type SourcePosition,
} from "../../../src/capture/capture.ts";
import { parseCaptureConfig } from "../../../src/capture/config.ts";

const [url, slot, offsetPath, eventsPath] = process.argv.slice(2);
if (!url || !slot || !offsetPath || !eventsPath)
  throw new Error("usage: crash-child url slot offsetPath eventsPath");

const file = await open(eventsPath, "a");

class FsyncSink implements ChangeSink {
  private listener: ((position: SourcePosition) => void) | null = null;
  async write(batch: ChangeBatch): Promise<void> {
    const lines: string[] = [];
    for (const event of batch.events) {
      if (event.kind !== "change") continue;
      lines.push(
        JSON.stringify({
          id: Number(event.key?.id),
          lsn: String(event.value.source.lsn),
          order: event.value.transaction?.total_order ?? null,
        }),
      );
    }
    // The acknowledged position is recorded with the data it covers, after it.
    lines.push(JSON.stringify({ ack: batch.position.lsn }));
    await file.write(`${lines.join("\n")}\n`);
    await file.datasync();
    this.listener?.(batch.position);
  }
  onDurable(listener: (position: SourcePosition) => void): void {
    this.listener = listener;
  }
}

const config = parseCaptureConfig({
  url,
  "slot.name": slot,
  "publication.name": slot,
  "snapshot.mode": "never",
  "max.batch.size": 50,
});
const capture = new Capture(config, new FsyncSink(), new FileOffsetStore(offsetPath));
const { done } = await capture.start();
process.stdout.write("ready\n");
await done;
