/**
 * The manifest list's `field_summary` per partition field (contains_null, contains_nan, lower_bound,
 * upper_bound), accumulated over a manifest's partition tuples. Values are compared decoded, by the
 * partition field's type, and the bounds are written in the spec's binary single-value serialization
 * (Appendix D).
 */
import { toBinary } from "./conversions.ts";
import type { PartitionData, PartitionValue } from "./data-file.ts";
import { IcebergError } from "./errors.ts";
import type { PrimitiveType, StructType } from "./types.ts";

export interface PartitionFieldSummary {
  containsNull: boolean;
  /** Null when the writer did not say (v1 manifest lists). */
  containsNan: boolean | null;
  /** Binary single-value serialization; null when every value is null or NaN. */
  lowerBound: Uint8Array | null;
  upperBound: Uint8Array | null;
}

/** Orders two non-null values of one partition type; consistent with the spec's bound semantics. */
export type PartitionValueComparator = (type: PrimitiveType, a: PartitionValue, b: PartitionValue) => number;

/** The binary single-value serialization (spec Appendix D) of a non-null partition value. */
export function serializePartitionValue(type: PrimitiveType, value: PartitionValue): Uint8Array {
  if (value === null) throw new IcebergError("DATA_INVALID", `a null ${type.kind} has no binary form`);
  return toBinary(type, value);
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

/**
 * The default comparator: numbers and bigints numerically (with -0.0 before +0.0, as the spec requires for
 * bounds), strings by their UTF-8 bytes (= code point order), binary, fixed and uuid as unsigned bytes.
 */
export const comparePartitionValues: PartitionValueComparator = (type, a, b) => {
  switch (type.kind) {
    case "string":
      return compareBytes(Buffer.from(a as string, "utf8"), Buffer.from(b as string, "utf8"));
    case "uuid":
    case "fixed":
    case "binary":
      return compareBytes(serializePartitionValue(type, a), serializePartitionValue(type, b));
    case "boolean":
      return Number(a) - Number(b);
    case "float":
    case "double": {
      const x = a as number;
      const y = b as number;
      if (x === y)
        return Object.is(x, -0) && Object.is(y, 0) ? -1 : Object.is(x, 0) && Object.is(y, -0) ? 1 : 0;
      return x < y ? -1 : 1;
    }
    default: {
      const x = typeof a === "number" ? BigInt(a) : (a as bigint);
      const y = typeof b === "number" ? BigInt(b) : (b as bigint);
      return x < y ? -1 : x > y ? 1 : 0;
    }
  }
};

interface FieldAccumulator {
  name: string;
  type: PrimitiveType;
  containsNull: boolean;
  containsNan: boolean;
  lower: PartitionValue;
  upper: PartitionValue;
}

/** Accumulates `field_summary` values over partition tuples of one partition type. */
export class PartitionSummaryBuilder {
  readonly #fields: FieldAccumulator[];
  readonly #compare: PartitionValueComparator;

  constructor(partitionType: StructType, compare: PartitionValueComparator = comparePartitionValues) {
    this.#compare = compare;
    this.#fields = partitionType.fields.map((field) => {
      if (field.type.kind === "struct" || field.type.kind === "list" || field.type.kind === "map") {
        throw new IcebergError(
          "DATA_INVALID",
          `partition field '${field.name}' has nested type ${field.type.kind}`,
        );
      }
      return {
        name: field.name,
        type: field.type,
        containsNull: false,
        containsNan: false,
        lower: null,
        upper: null,
      };
    });
  }

  update(partition: PartitionData): void {
    for (const field of this.#fields) {
      const value = partition[field.name] ?? null;
      if (value === null) {
        field.containsNull = true;
      } else if (typeof value === "number" && Number.isNaN(value)) {
        field.containsNan = true;
      } else {
        if (field.lower === null || this.#compare(field.type, value, field.lower) < 0) field.lower = value;
        if (field.upper === null || this.#compare(field.type, value, field.upper) > 0) field.upper = value;
      }
    }
  }

  summaries(): PartitionFieldSummary[] {
    return this.#fields.map((field) => ({
      containsNull: field.containsNull,
      // Written for every type (false where NaN cannot occur), as other writers do; null only on read.
      containsNan: field.containsNan,
      lowerBound: field.lower === null ? null : serializePartitionValue(field.type, field.lower),
      upperBound: field.upper === null ? null : serializePartitionValue(field.type, field.upper),
    }));
  }
}
