/** `src/capture`: PostgreSQL change data capture with Debezium-compatible events. This file is the contract. */
export {
  Capture,
  type CaptureMetrics,
  type CaptureOffset,
  type ChangeBatch,
  type ChangeSink,
  FileOffsetStore,
  MemoryOffsetStore,
  type OffsetStore,
  type SourcePosition,
} from "./capture.ts";
export {
  type CaptureConfig,
  type CaptureConfigInput,
  CaptureConfigSchema,
  DEBEZIUM_ALIASES,
  parseCaptureConfig,
} from "./config.ts";
export {
  type CaptureEvent,
  type ChangeEvent,
  type LogicalMessageEvent,
  type SchemaChangeEvent,
  serializeKey,
  serializeValue,
  type TombstoneEvent,
  type TransactionEvent,
  tableTopic,
  toJson,
} from "./envelope.ts";
export { CaptureError, type CaptureErrorCode } from "./errors.ts";
export { formatLsn, type Lsn, parseLsn } from "./lsn.ts";
export type { ConnectSchema, EventValue, IcebergType, ValueMapping } from "./pg-types.ts";
export { slotLagBytes } from "./publication.ts";
export type { ColumnChange, SchemaChange, TableSchema } from "./relation.ts";
