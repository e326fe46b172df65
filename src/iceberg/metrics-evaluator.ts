/**
 * Inclusive metrics evaluation (spec "Scan Planning"): whether a data file may hold rows matching a row
 * filter, judged from its manifest metrics (value/null/NaN counts, lower/upper bounds). "Might match"
 * whenever a metric is missing: files written without metrics are never skipped.
 */
import { fromBinary, type PrimitiveValue } from "./conversions.ts";
import type { DataFile } from "./data-file.ts";
import { type BoundExpression, type BoundPredicate, mightMatch, rewriteNot } from "./expressions.ts";
import { rangeMightMatch } from "./projection.ts";

/** Whether `file` may contain a row matching `filter` (bound to the scan schema). */
export function fileMightMatch(filter: BoundExpression, file: DataFile): boolean {
  if (filter.op === "true") return true;
  if (file.recordCount === 0) return false;
  const rewritten = rewriteNot(filter);

  const valueCount = (id: number) => file.valueCounts?.get(id);
  const nullCount = (id: number) => file.nullValueCounts?.get(id);
  const nanCount = (id: number) => file.nanValueCounts?.get(id);
  const onlyNulls = (id: number) => {
    const values = valueCount(id);
    const nulls = nullCount(id);
    return values !== undefined && nulls !== undefined && values === nulls;
  };
  const onlyNans = (id: number) => {
    const values = valueCount(id);
    const nans = nanCount(id);
    return values !== undefined && nans !== undefined && values === nans;
  };

  const leaf = (e: BoundPredicate): boolean => {
    const id = e.ref.fieldId;
    const type = e.ref.type;
    switch (e.op) {
      case "isNull":
        return nullCount(id) !== 0;
      case "notNull":
        return !onlyNulls(id);
      case "isNan": {
        if (nanCount(id) === 0) return false;
        return !onlyNulls(id);
      }
      case "notNan":
        return !onlyNans(id);
      case "notEq":
      case "notIn":
      case "notStartsWith":
        return true;
      default:
        break;
    }
    const literals = "values" in e ? e.values : [e.value];
    if (literals.some((v) => typeof v === "number" && Number.isNaN(v))) return true;
    if (onlyNulls(id) || onlyNans(id)) return false;
    const decode = (bytes: Uint8Array | undefined): PrimitiveValue | null => {
      if (bytes === undefined) return null;
      const value = fromBinary(type, bytes);
      // A NaN bound (old writers) says nothing about the range.
      return typeof value === "number" && Number.isNaN(value) ? null : value;
    };
    const lower = decode(file.lowerBounds?.get(id));
    const upper = decode(file.upperBounds?.get(id));
    return rangeMightMatch(e, type, lower, upper);
  };
  return mightMatch(rewritten, leaf);
}
