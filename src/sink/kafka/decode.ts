/**
 * The worker's record decoder: Debezium change events (Kafka Connect JSON, with or without schemas)
 * through {@link DebeziumDecoder} (debezium.ts), reduced to what a worker routes and writes: a change
 * for a source table with its shape, or something to skip (tombstones, transaction markers,
 * heartbeats, messages). Undecodable records throw DecodeError; the worker dead-letters them.
 */
import { changeOf, DebeziumDecoder, type DebeziumDecoderOptions } from "./debezium.ts";
import type { DecodedRecord, RecordDecoder } from "./worker.ts";

export function createDebeziumDecoder(options: DebeziumDecoderOptions = {}): RecordDecoder {
  const decoder = new DebeziumDecoder(options);
  return (record, target): DecodedRecord => {
    const event = decoder.decode(record, target);
    if (event.kind !== "change") return { kind: "skip" };
    return {
      kind: "change",
      source: event.source,
      change: changeOf(event),
      eventSchema: event.eventSchema,
      ...(event.lsn !== undefined ? { lsn: event.lsn } : {}),
      ...(event.transaction ? { transactionId: event.transaction.id } : {}),
    };
  };
}
