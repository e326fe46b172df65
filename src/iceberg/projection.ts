/**
 * Inclusive projection (spec "Scan Planning"): turns a row filter into a filter on one partition spec's
 * partition tuple that is true for every partition that may hold a matching row. Each predicate on a source
 * column becomes the conjunction of its projections through every partition field of that source; a
 * predicate a transform cannot express projects to `true`. Also evaluates such a partition filter on a
 * manifest's partition field summaries (spec "Manifest Lists", field_summary).
 */
import { fromBinary, type PrimitiveValue } from "./conversions.ts";
import {
  andBound,
  type BoundExpression,
  type BoundPredicate,
  type BoundReference,
  compareValues,
  mightMatch,
  orBound,
  rewriteNot,
} from "./expressions.ts";
import type { PartitionFieldSummary } from "./partition-summary.ts";
import type { PartitionField, PartitionSpec } from "./partitioning.ts";
import { applyTransform, resultType } from "./transforms.ts";
import type { PrimitiveType } from "./types.ts";

const TRUE: BoundExpression = { op: "true" };

/**
 * The partition filter of `spec` for a bound row filter; references in the result are partition fields
 * (`fieldId` = partition field id, `name` = partition field name, `type` = the transform's result type).
 */
export function projectInclusive(filter: BoundExpression, spec: PartitionSpec): BoundExpression {
  const visit = (e: BoundExpression): BoundExpression => {
    switch (e.op) {
      case "true":
      case "false":
        return e;
      case "and":
        return andBound(visit(e.left), visit(e.right));
      case "or":
        return orBound(visit(e.left), visit(e.right));
      case "not":
        // rewriteNot below removed every not; keep this total anyway.
        return TRUE;
      default: {
        let projected: BoundExpression = TRUE;
        for (const field of spec.fields) {
          if (field.sourceId !== e.ref.fieldId) continue;
          projected = andBound(projected, projectPredicate(e, field));
        }
        return projected;
      }
    }
  };
  return visit(rewriteNot(filter));
}

function partitionRef(field: PartitionField, source: BoundReference): BoundReference {
  return {
    fieldId: field.fieldId,
    name: field.name,
    type: resultType(field.transform, source.type) as PrimitiveType,
  };
}

/** One value one step towards -∞ or +∞ for integer-like types, so `<`/`>` project as tight `<=`/`>=`. */
function step(type: PrimitiveType, value: PrimitiveValue, delta: -1 | 1): PrimitiveValue | undefined {
  switch (type.kind) {
    case "int":
    case "date":
      return (value as number) + delta;
    case "long":
    case "time":
    case "timestamp":
    case "timestamptz":
    case "timestamp_ns":
    case "timestamptz_ns":
    case "decimal":
      return (value as bigint) + BigInt(delta);
    default:
      return undefined;
  }
}

function projectPredicate(pred: BoundPredicate, field: PartitionField): BoundExpression {
  const transform = field.transform;
  if (transform.kind === "void" || transform.kind === "unknown") return TRUE;
  const source = pred.ref;
  const ref = partitionRef(field, source);
  const apply = (value: PrimitiveValue) => applyTransform(transform, source.type, value) as PrimitiveValue;

  // Null-ness survives every real transform: null in, null out; a value in, a value out.
  if (pred.op === "isNull" || pred.op === "notNull") return { op: pred.op, ref };
  if (transform.kind === "identity") {
    return { ...pred, ref } as BoundExpression;
  }
  switch (transform.kind) {
    case "bucket":
      if (pred.op === "eq") return { op: "eq", ref, value: apply(pred.value) };
      if (pred.op === "in") return { op: "in", ref, values: dedupe(ref.type, pred.values.map(apply)) };
      return TRUE;
    case "truncate":
    case "year":
    case "month":
    case "day":
    case "hour":
      return projectOrdered(
        pred,
        ref,
        apply,
        transform.kind === "truncate" ? truncateWidth(field) : undefined,
      );
    default:
      return TRUE;
  }
}

function truncateWidth(field: PartitionField): number | undefined {
  return field.transform.kind === "truncate" ? field.transform.width : undefined;
}

/** Projection through an order-preserving transform (truncate and the date/time transforms). */
function projectOrdered(
  pred: BoundPredicate,
  ref: BoundReference,
  apply: (value: PrimitiveValue) => PrimitiveValue,
  truncateWidthOrUndefined: number | undefined,
): BoundExpression {
  const type = pred.ref.type;
  switch (pred.op) {
    case "eq":
      return { op: "eq", ref, value: apply(pred.value) };
    case "in":
      return { op: "in", ref, values: dedupe(ref.type, pred.values.map(apply)) };
    case "lt": {
      const previous = step(type, pred.value, -1);
      return { op: "ltEq", ref, value: apply(previous ?? pred.value) };
    }
    case "ltEq":
      return { op: "ltEq", ref, value: apply(pred.value) };
    case "gt": {
      const next = step(type, pred.value, 1);
      return { op: "gtEq", ref, value: apply(next ?? pred.value) };
    }
    case "gtEq":
      return { op: "gtEq", ref, value: apply(pred.value) };
    case "startsWith": {
      if (truncateWidthOrUndefined === undefined || typeof pred.value !== "string") return TRUE;
      const prefix = pred.value;
      // A prefix longer than the width pins the partition value; a shorter one is a prefix of it.
      if (Array.from(prefix).length >= truncateWidthOrUndefined)
        return { op: "eq", ref, value: apply(prefix) };
      return { op: "startsWith", ref, value: prefix };
    }
    default:
      return TRUE;
  }
}

function dedupe(type: PrimitiveType, values: PrimitiveValue[]): PrimitiveValue[] {
  const out: PrimitiveValue[] = [];
  for (const value of values) if (!out.some((v) => compareValues(type, v, value) === 0)) out.push(value);
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Manifest evaluator: a partition filter against a manifest's field summaries.

/**
 * Whether a manifest whose partition field summaries are `summaries` (in `spec` field order) may hold a
 * partition matching `partitionFilter` (the output of `projectInclusive` for that spec). Summaries that are
 * missing make the manifest a possible match.
 */
export function manifestMightMatch(
  partitionFilter: BoundExpression,
  spec: PartitionSpec,
  summaries: readonly PartitionFieldSummary[] | null,
): boolean {
  if (partitionFilter.op === "true") return true;
  if (partitionFilter.op === "false") return false;
  if (summaries === null || summaries.length !== spec.fields.length) return true;
  const byFieldId = new Map(spec.fields.map((field, i) => [field.fieldId, summaries[i]!]));

  const leaf = (e: BoundPredicate): boolean => {
    const summary = byFieldId.get(e.ref.fieldId);
    if (!summary) return true;
    const type = e.ref.type;
    const allNull = summary.lowerBound === null && summary.upperBound === null;
    switch (e.op) {
      case "isNull":
        return summary.containsNull;
      case "notNull":
        // Bounds are absent only when every value is null (or NaN).
        return !(allNull && summary.containsNan === false);
      case "isNan":
        return summary.containsNan !== false;
      case "notNan":
        return true;
      default:
        break;
    }
    if (allNull) return false;
    const lower = summary.lowerBound === null ? null : fromBinary(type, summary.lowerBound);
    const upper = summary.upperBound === null ? null : fromBinary(type, summary.upperBound);
    if (!boundsComparable(type, lower, upper)) return true;
    return rangeMightMatch(e, type, lower, upper);
  };
  return mightMatch(partitionFilter, leaf);
}

function boundsComparable(type: PrimitiveType, lower: PrimitiveValue | null, upper: PrimitiveValue | null) {
  const isNan = (v: PrimitiveValue | null) => typeof v === "number" && Number.isNaN(v);
  return !(type.kind === "float" || type.kind === "double") || (!isNan(lower) && !isNan(upper));
}

/**
 * Whether some value in [lower, upper] (either end may be unknown) can satisfy the comparison predicate.
 * Shared by the manifest and the metrics evaluators.
 */
export function rangeMightMatch(
  pred: BoundPredicate,
  type: PrimitiveType,
  lower: PrimitiveValue | null,
  upper: PrimitiveValue | null,
): boolean {
  const cmp = (a: PrimitiveValue, b: PrimitiveValue) => compareValues(type, a, b);
  switch (pred.op) {
    case "lt":
      return lower === null || cmp(lower, pred.value) < 0;
    case "ltEq":
      return lower === null || cmp(lower, pred.value) <= 0;
    case "gt":
      return upper === null || cmp(upper, pred.value) > 0;
    case "gtEq":
      return upper === null || cmp(upper, pred.value) >= 0;
    case "eq":
      return (
        (lower === null || cmp(lower, pred.value) <= 0) && (upper === null || cmp(upper, pred.value) >= 0)
      );
    case "in":
      return pred.values.some(
        (v) => (lower === null || cmp(lower, v) <= 0) && (upper === null || cmp(upper, v) >= 0),
      );
    case "startsWith": {
      if (typeof pred.value !== "string") return true;
      const prefix = Buffer.from(pred.value, "utf8");
      const clip = (v: PrimitiveValue) => Buffer.from(v as string, "utf8").subarray(0, prefix.length);
      if (lower !== null && Buffer.compare(clip(lower), prefix) > 0) return false;
      if (upper !== null && Buffer.compare(clip(upper), prefix) < 0) return false;
      return true;
    }
    default:
      // notEq, notIn, notStartsWith and the null/NaN checks cannot be refuted by a range.
      return true;
  }
}
