/**
 * The sink's table side: table writers (upsert / changelog) with their key index and the source
 * position committed with the data. What this file exports is the module's contract; see map.md.
 */
export {
  type CreateSinkTableOptions,
  createSinkTable,
  type EventSchema,
  type EvolveSchemaOptions,
  evolutionPlan,
  evolveSchema,
  type PartitionFieldConfig,
  type SourceColumn,
  sinkSchema,
} from "./auto-create.ts";
export {
  CHANGELOG_COMMIT_TIME_COLUMN,
  CHANGELOG_OP_COLUMN,
  CHANGELOG_POSITION_COLUMN,
  type Change,
  type ChangeOp,
  comparePositions,
  formatLsn,
  formatPosition,
  parsePosition,
  type Row,
  type SourcePosition,
} from "./change.ts";
export { SinkError, type SinkErrorCode } from "./errors.ts";
export { encodeKey, KeyIndex, type KeyIndexOptions, type RowLocation } from "./key-index.ts";
export {
  committedPosition,
  positionSummary,
  SOURCE_LSN_PROPERTY,
  SOURCE_POSITION_PROPERTY,
} from "./position.ts";
export { type CommitResult, commitStaged, type StagedCommit } from "./staged-commit.ts";
export {
  ChangelogTableWriter,
  type DeleteMode,
  type PreparedCommit,
  SINK_ID_PROPERTY,
  type StageOptions,
  type TableWriterOptions,
  UpsertTableWriter,
  type UpsertTableWriterOptions,
} from "./table-writer.ts";
