/**
 * The error of a Kafka record the sink cannot decode. It names the record (topic, partition, offset),
 * the column when one is at fault, what is wrong and how to fix it, so the worker can route the record
 * to a dead-letter topic (dead-letter.ts) and an operator can find it there.
 */
import { FloeError } from "../../errors.ts";

export type DecodeErrorCode =
  /** Not JSON, not a Kafka Connect/Debezium record, or an envelope field missing or malformed. */
  | "RECORD_INVALID"
  /** A column value that does not fit its type (a date that is not a number of days, bad base64, ...). */
  | "VALUE_INVALID"
  /** A record without a Connect schema (`schemas.enable=false`) and no target table to convert it by. */
  | "SCHEMA_MISSING"
  /** Without a Connect schema, a column the target table does not have. */
  | "COLUMN_UNKNOWN"
  /** A Connect schema type with no Iceberg counterpart. */
  | "TYPE_UNSUPPORTED";

/** Where a record sits in Kafka. */
export interface RecordLocation {
  topic: string;
  partition: number;
  offset: bigint | number | string;
}

export class DecodeError extends FloeError<DecodeErrorCode> {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  /** The column (dotted path for nested values) at fault, when the problem is one value. */
  readonly column: string | undefined;
  /** SCHEMA_MISSING: the source table, so the caller can decode again by its Iceberg table's schema. */
  readonly source: { schema: string; table: string } | undefined;

  constructor(
    code: DecodeErrorCode,
    at: RecordLocation,
    problem: string,
    options?: { column?: string; cause?: unknown; source?: { schema: string; table: string } },
  ) {
    super(code, `${describeLocation(at)}: ${problem}`, options);
    this.topic = at.topic;
    this.partition = at.partition;
    this.offset = String(at.offset);
    this.column = options?.column;
    this.source = options?.source;
  }
}

/** `topic[partition]@offset`, the way every decode message names its record. */
export function describeLocation(at: RecordLocation): string {
  return `record ${at.topic}[${at.partition}]@${at.offset}`;
}

/** A Connect schema the decoder cannot use: malformed (RECORD_INVALID) or without an Iceberg type. */
export class SchemaProblem extends Error {
  constructor(
    readonly code: "RECORD_INVALID" | "TYPE_UNSUPPORTED",
    message: string,
  ) {
    super(message);
    this.name = "SchemaProblem";
  }
}

/**
 * A value problem found below the record level (converters do not know the record); the decoder
 * turns it into a VALUE_INVALID {@link DecodeError} with the record's location and the column.
 */
export class ValueProblem extends Error {
  constructor(
    message: string,
    /** Path inside the column's value (`[2]`, `.street`), empty for the value itself. */
    readonly path: string = "",
  ) {
    super(message);
    this.name = "ValueProblem";
  }
}
