/**
 * The Kafka transport's one error type. Messages name the brokers, topic or setting involved and say
 * what to do, because they end up in front of the operator of `floe capture`.
 */
import { FloeError } from "../errors.ts";

export type KafkaTransportErrorCode =
  /** No broker of the bootstrap list answered (down, wrong address, firewall). */
  | "BROKERS_UNREACHABLE"
  /** The broker refused to create a topic (invalid name, replication factor above the broker count, ACLs). */
  | "TOPIC_CREATION_FAILED"
  /** The broker did not acknowledge a produce request after the retries: capture stops, nothing is confirmed past it. */
  | "PRODUCE_FAILED"
  /** The offset topic could not be read, or holds a value that is not a capture offset. */
  | "OFFSET_READ_FAILED"
  /** The offset could not be written to the offset topic. */
  | "OFFSET_WRITE_FAILED"
  /** A Kafka-side setting is invalid or names something Floe does not support (e.g. an Avro converter). */
  | "CONFIG_INVALID"
  /** The sink was used after close() or after it failed. */
  | "SINK_CLOSED";

export class KafkaTransportError extends FloeError<KafkaTransportErrorCode> {}

/** The broker's own words for a failed request: the error codes and messages @platformatic/kafka attaches. */
export function brokerMessage(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const parts: string[] = [];
  // @platformatic/kafka errors carry `response` (the parsed reply) and `errors` (one per attempt or
  // per failed item); neither is in its public types, so they are read structurally here.
  const detail = error as Error & {
    response?: { topics?: Array<{ name?: string; errorCode?: number; errorMessage?: string | null }> };
    errors?: unknown[];
  };
  for (const topic of detail.response?.topics ?? []) {
    if (topic.errorCode) parts.push(`${topic.name}: ${topic.errorMessage ?? `error ${topic.errorCode}`}`);
  }
  if (parts.length === 0 && Array.isArray(detail.errors)) {
    const nested = [
      ...new Set(detail.errors.map((inner) => (inner instanceof Error ? inner.message : String(inner)))),
    ];
    if (nested.length > 0) parts.push(nested.slice(0, 3).join("; "));
  }
  return parts.length > 0 ? `${error.message} (${parts.join("; ")})` : error.message;
}
