/** `src/kafka`: capture → Kafka (topics, the change producer, the offset store, heartbeats). This file is the contract. */
export { connectAdmin } from "./brokers.ts";
export {
  KafkaChangeSink,
  type KafkaChangeSinkOptions,
  type KafkaChangeSinkStats,
  kafkaRecordSender,
  type OutgoingRecord,
  type RecordSender,
} from "./change-producer.ts";
export {
  KAFKA_ALIASES,
  type KafkaCaptureConfig,
  KafkaCaptureConfigSchema,
  parseKafkaCaptureConfig,
} from "./config.ts";
export { KafkaTransportError, type KafkaTransportErrorCode } from "./errors.ts";
export { heartbeatRecord, heartbeatTopic } from "./heartbeat.ts";
export { KafkaCapture, type KafkaCaptureOptions } from "./kafka-capture.ts";
export { KafkaOffsetStore, type KafkaOffsetStoreOptions, OffsetRecordSchema } from "./offset-store.ts";
export { keyPartitioner, murmur2 } from "./partitioner.ts";
export { readTopic, type TopicRecord } from "./topic-reader.ts";
export { kafkaTopicName, TopicManager, type TopicSettings } from "./topics.ts";
