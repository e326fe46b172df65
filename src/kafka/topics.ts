/**
 * Topics: Kafka-legal names for capture's topics, and making sure a topic exists before anything is
 * produced to it (CreateTopics with the configured partitions, replication factor and topic configs, as
 * Kafka Connect's `topic.creation.default.*` does). Creating a topic that already exists is success;
 * any other refusal is a typed error naming the topics and the broker's reason.
 */
import type { Admin } from "@platformatic/kafka";
import { brokerMessage, KafkaTransportError } from "./errors.ts";

/** Kafka's TOPIC_ALREADY_EXISTS error code. */
const TOPIC_ALREADY_EXISTS = 36;

const MAX_TOPIC_NAME_LENGTH = 249;

/**
 * A Kafka-legal topic name: characters other than ASCII letters, digits, `.`, `_` and `-` become `_`,
 * as Debezium's topic-name sanitizer does (a table named `Order Lines` goes to `prefix.public.Order_Lines`).
 */
export function kafkaTopicName(name: string): string {
  const sanitized = name.replace(/[^A-Za-z0-9._-]/g, "_");
  if (sanitized === "." || sanitized === "..")
    throw new KafkaTransportError("CONFIG_INVALID", `"${name}" cannot be a Kafka topic name`);
  if (sanitized.length > MAX_TOPIC_NAME_LENGTH)
    throw new KafkaTransportError(
      "CONFIG_INVALID",
      `topic name "${sanitized}" is longer than Kafka's ${MAX_TOPIC_NAME_LENGTH} characters; use a shorter topic.prefix`,
    );
  return sanitized;
}

export interface TopicSettings {
  /** -1 = the broker's default. */
  partitions: number;
  /** -1 = the broker's default. */
  replicationFactor: number;
  configs?: Record<string, string>;
}

export class TopicManager {
  private readonly known = new Set<string>();
  private readonly creating = new Map<string, Promise<void>>();

  constructor(
    private readonly admin: Admin,
    private readonly settings: TopicSettings,
  ) {}

  /** Resolves once every topic exists; topics seen before cost nothing. */
  async ensure(topics: Iterable<string>, settings: Partial<TopicSettings> = {}): Promise<void> {
    const missing: string[] = [];
    const waits: Promise<void>[] = [];
    for (const topic of topics) {
      if (this.known.has(topic)) continue;
      const pending = this.creating.get(topic);
      if (pending) waits.push(pending);
      else if (!missing.includes(topic)) missing.push(topic);
    }
    if (missing.length > 0) {
      const created = this.create(missing, { ...this.settings, ...settings });
      for (const topic of missing) this.creating.set(topic, created);
      waits.push(
        created.finally(() => {
          for (const topic of missing) this.creating.delete(topic);
        }),
      );
    }
    await Promise.all(waits);
  }

  private async create(topics: string[], settings: TopicSettings): Promise<void> {
    const configs = Object.entries(settings.configs ?? {}).map(([name, value]) => ({ name, value }));
    try {
      await this.admin.createTopics({
        topics,
        partitions: settings.partitions,
        replicas: settings.replicationFactor,
        ...(configs.length > 0 ? { configs } : {}),
      });
    } catch (error) {
      const refused = refusedTopics(error);
      if (!refused || refused.some((topic) => topic.errorCode !== TOPIC_ALREADY_EXISTS)) {
        const names = refused
          ? refused.filter((topic) => topic.errorCode !== TOPIC_ALREADY_EXISTS).map((topic) => topic.name)
          : topics;
        throw new KafkaTransportError(
          "TOPIC_CREATION_FAILED",
          `the broker refused to create ${names.join(", ")}: ${brokerMessage(error)}; check topic.creation.default.partitions / replication.factor (at most the number of brokers) and the client's CREATE permission, or create the topics yourself`,
          { cause: error },
        );
      }
    }
    for (const topic of topics) this.known.add(topic);
  }
}

/** The per-topic results of a failed CreateTopics, when the broker answered (null when it did not). */
function refusedTopics(error: unknown): Array<{ name: string; errorCode: number }> | null {
  // @platformatic/kafka attaches the parsed response to the error; it is not in its public types.
  const response = (error as { response?: { topics?: Array<{ name: string; errorCode: number }> } })
    ?.response;
  const topics = response?.topics?.filter((topic) => topic.errorCode !== 0);
  return topics && topics.length > 0 ? topics : null;
}
