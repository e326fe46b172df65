/**
 * The first contact with Kafka: an admin client whose bootstrap brokers answered and whose advertised
 * brokers are reachable, or a BROKERS_UNREACHABLE error naming them — so a wrong address fails in a
 * second with a message, not as an endless retry loop inside the producer.
 */
import { Admin } from "@platformatic/kafka";
import { brokerMessage, KafkaTransportError } from "./errors.ts";

export async function connectAdmin(options: { brokers: string[]; clientId: string }): Promise<Admin> {
  const admin = new Admin({
    clientId: `${options.clientId}-admin`,
    bootstrapBrokers: options.brokers,
    retries: 3,
    retryDelay: 300,
  });
  try {
    await admin.metadata({ topics: [] });
  } catch (error) {
    await admin.close().catch(() => {});
    throw new KafkaTransportError(
      "BROKERS_UNREACHABLE",
      `no Kafka broker answered at ${options.brokers.join(", ")} (${brokerMessage(error)}); check --brokers / FLOE_KAFKA_BROKERS / bootstrap.servers and that Kafka runs and is reachable from this machine`,
      { cause: error },
    );
  }
  try {
    await admin.connectToBrokers(null);
  } catch (error) {
    const advertised = [...(admin.currentMetadata?.brokers.values() ?? [])]
      .map((broker) => `${broker.host}:${broker.port}`)
      .join(", ");
    await admin.close().catch(() => {});
    throw new KafkaTransportError(
      "BROKERS_UNREACHABLE",
      `the bootstrap broker ${options.brokers.join(", ")} answered, but the brokers it advertises (${advertised}) are not reachable from here (${brokerMessage(error)}); fix the brokers' advertised.listeners`,
      { cause: error },
    );
  }
  return admin;
}
