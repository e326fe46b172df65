/**
 * Partition specs (spec "Partitioning"): their JSON form, the partition tuple type and values of a row,
 * spec evolution that keeps partition field ids stable, and the `name=value` paths of data files.
 */
import type { PrimitiveValue } from "./conversions.ts";
import { IcebergError } from "./errors.ts";
import type { Schema } from "./schema.ts";
import {
  applyTransform,
  canTransform,
  parseTransform,
  resultType,
  type Transform,
  toHumanString,
  transformsEqual,
  transformToString,
} from "./transforms.ts";
import { isPrimitive, type NestedField, type StructType, typeToString } from "./types.ts";

/** v1 assigned partition field ids from here; v2 keeps counting up from the table's `last-partition-id`. */
export const PARTITION_DATA_ID_START = 1000;

export interface PartitionField {
  sourceId: number;
  fieldId: number;
  name: string;
  transform: Transform;
}

export interface PartitionSpec {
  specId: number;
  fields: PartitionField[];
}

export interface PartitionFieldJson {
  "source-id": number;
  "field-id": number;
  name: string;
  transform: string;
}

export interface PartitionSpecJson {
  "spec-id": number;
  fields: PartitionFieldJson[];
}

/** One value per spec field, in spec order, each in the representation of the field's result type. */
export type PartitionValues = (PrimitiveValue | null)[];

export const UNPARTITIONED_SPEC: PartitionSpec = Object.freeze({ specId: 0, fields: [] }) as PartitionSpec;

export function unpartitionedSpec(specId = 0): PartitionSpec {
  return { specId, fields: [] };
}

/** True when no field produces a value, including specs whose fields were all replaced by `void`. */
export function isUnpartitioned(spec: PartitionSpec): boolean {
  return spec.fields.every((field) => field.transform.kind === "void");
}

/** The highest partition field id in `spec`, or 999 when it has none (so the next id is 1000). */
export function lastAssignedFieldId(spec: PartitionSpec): number {
  return spec.fields.reduce((max, field) => Math.max(max, field.fieldId), PARTITION_DATA_ID_START - 1);
}

// ---------------------------------------------------------------------------------------------------------
// JSON (Appendix C).

export function partitionSpecToJson(spec: PartitionSpec): PartitionSpecJson {
  return { "spec-id": spec.specId, fields: spec.fields.map(partitionFieldToJson) };
}

export function partitionFieldToJson(field: PartitionField): PartitionFieldJson {
  return {
    "source-id": field.sourceId,
    "field-id": field.fieldId,
    name: field.name,
    transform: transformToString(field.transform),
  };
}

export function partitionSpecFromJson(json: unknown): PartitionSpec {
  const obj = expectObject(json, "partition spec");
  const specId = obj["spec-id"];
  if (typeof specId !== "number" || !Number.isInteger(specId)) {
    throw invalid(`partition spec needs an integer spec-id, got ${JSON.stringify(specId)}`);
  }
  return { specId, fields: partitionFieldsFromJson(obj.fields) };
}

/**
 * Reads a list of partition fields, as in a spec object or in v1 metadata's `partition-spec`. Fields
 * without `field-id` (v1) get 1000, 1001, ... by position, as the reference implementation assigned them.
 */
export function partitionFieldsFromJson(json: unknown): PartitionField[] {
  if (!Array.isArray(json))
    throw invalid(`partition spec fields must be a list, got ${JSON.stringify(json)}`);
  return json.map((item, index) => {
    const obj = expectObject(item, "partition field");
    if (typeof obj.name !== "string") throw invalid(`partition field ${index} has no name`);
    if (typeof obj.transform !== "string") throw invalid(`partition field '${obj.name}' has no transform`);
    const fieldId = obj["field-id"] ?? PARTITION_DATA_ID_START + index;
    if (typeof fieldId !== "number" || !Number.isInteger(fieldId)) {
      throw invalid(`partition field '${obj.name}' has a non-integer field-id ${JSON.stringify(fieldId)}`);
    }
    return {
      sourceId: sourceIdFromJson(obj, `partition field '${obj.name}'`),
      fieldId,
      name: obj.name,
      transform: parseTransform(obj.transform),
    };
  });
}

/** `source-id`, or a one-element `source-ids` (v3); multi-argument transforms are not supported yet. */
export function sourceIdFromJson(obj: Record<string, unknown>, what: string): number {
  let sourceId = obj["source-id"];
  const sourceIds = obj["source-ids"];
  if (sourceId === undefined && Array.isArray(sourceIds)) {
    if (sourceIds.length !== 1) {
      throw new IcebergError(
        "FEATURE_UNSUPPORTED",
        `${what} uses a multi-argument transform over source-ids ${JSON.stringify(sourceIds)}; Floe reads single-argument transforms only`,
      );
    }
    sourceId = sourceIds[0];
  }
  if (typeof sourceId !== "number" || !Number.isInteger(sourceId)) {
    throw invalid(`${what} needs an integer source-id, got ${JSON.stringify(sourceId)}`);
  }
  return sourceId;
}

function expectObject(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw invalid(`${what} must be a JSON object, got ${JSON.stringify(value)}`);
  }
  return value as Record<string, unknown>;
}

function invalid(message: string): IcebergError {
  return new IcebergError("DATA_INVALID", message);
}

// ---------------------------------------------------------------------------------------------------------
// Binding a spec to a schema.

/**
 * Checks `spec` against `schema`: sources exist, are primitive and not inside a list or map, accept the
 * transform; field names and ids are unique, and a name only shadows a column it is the identity of.
 * Fields whose source was dropped are allowed when their transform is `void` (v1 drops fields so).
 */
export function validatePartitionSpec(spec: PartitionSpec, schema: Schema): void {
  const names = new Set<string>();
  const ids = new Set<number>();
  for (const field of spec.fields) {
    const what = `partition field '${field.name}'`;
    if (field.name === "") throw invalid(`partition field ${field.fieldId} has an empty name`);
    if (names.has(field.name)) throw invalid(`${what} appears twice in spec ${spec.specId}`);
    names.add(field.name);
    if (ids.has(field.fieldId)) throw invalid(`${what} reuses partition field id ${field.fieldId}`);
    ids.add(field.fieldId);
    const source = schema.findField(field.sourceId);
    if (!source) {
      if (field.transform.kind === "void") continue;
      throw invalid(`${what} has source-id ${field.sourceId}, which is not in schema ${schema.schemaId}`);
    }
    const sourceName = schema.findColumnName(field.sourceId)!;
    if (!isPrimitive(source.type)) {
      throw invalid(`${what} cannot partition by ${typeToString(source.type)} column '${sourceName}'`);
    }
    for (const parentId of schema.parentIds(field.sourceId) ?? []) {
      const kind = schema.findField(parentId)?.type.kind;
      if (kind === "list" || kind === "map") {
        throw invalid(
          `${what} has source column '${sourceName}' inside a ${kind}; partition sources cannot be`,
        );
      }
    }
    if (field.transform.kind !== "unknown" && !canTransform(field.transform, source.type)) {
      throw invalid(
        `${what}: ${transformToString(field.transform)} cannot be applied to ${typeToString(source.type)} column '${sourceName}'`,
      );
    }
    const shadowed = schema.findFieldByName(field.name);
    if (shadowed && !(shadowed.id === field.sourceId && field.transform.kind === "identity")) {
      throw invalid(
        `${what} has the name of column '${field.name}'; name it differently or use identity on that column`,
      );
    }
  }
}

/** The struct of partition values written in manifests: one optional field per spec field, by field id. */
export function partitionType(spec: PartitionSpec, schema: Schema): StructType {
  const fields: NestedField[] = spec.fields.map((field) => {
    const source = schema.findField(field.sourceId);
    if (!source) {
      throw invalid(
        `partition field '${field.name}' has source-id ${field.sourceId}, which is not in schema ${schema.schemaId}`,
      );
    }
    return {
      id: field.fieldId,
      name: field.name,
      required: false,
      type: resultType(field.transform, source.type),
    };
  });
  return { kind: "struct", fields };
}

/**
 * The partition values of one row. `row` holds column values by name, nested structs as nested objects,
 * each value in the representation `PrimitiveValue` documents; a missing value is null.
 */
export function partitionKey(
  spec: PartitionSpec,
  schema: Schema,
  row: Record<string, unknown>,
): PartitionValues {
  return spec.fields.map((field) => {
    const source = schema.findField(field.sourceId);
    if (!source) {
      throw invalid(
        `partition field '${field.name}' has source-id ${field.sourceId}, which is not in the schema`,
      );
    }
    const value = sourceValue(schema, field.sourceId, row);
    return applyTransform(field.transform, source.type, value);
  });
}

function sourceValue(schema: Schema, sourceId: number, row: Record<string, unknown>): PrimitiveValue | null {
  const path = [...(schema.parentIds(sourceId) ?? []), sourceId].map((id) => schema.findField(id)!.name);
  let current: unknown = row;
  for (const name of path) {
    if (current === null || current === undefined || typeof current !== "object") return null;
    current = (current as Record<string, unknown>)[name];
  }
  return current === undefined ? null : (current as PrimitiveValue | null);
}

/**
 * The partition's directory under the table's data path, `ts_day=2017-11-16/id_bucket=3`. Names and
 * values are escaped as Java's `URLEncoder` does, so Floe's paths match the reference implementation's.
 */
export function partitionPath(spec: PartitionSpec, schema: Schema, values: PartitionValues): string {
  if (values.length !== spec.fields.length) {
    throw invalid(
      `spec ${spec.specId} has ${spec.fields.length} partition fields, got ${values.length} values`,
    );
  }
  return spec.fields
    .map((field, i) => {
      const sourceType = schema.findField(field.sourceId)?.type;
      const value = values[i] ?? null;
      const text = sourceType ? toHumanString(field.transform, sourceType, value) : String(value);
      return `${escapePathPart(field.name)}=${escapePathPart(text)}`;
    })
    .join("/");
}

/** `application/x-www-form-urlencoded` escaping: only `A-Za-z0-9.-*_` stay, a space becomes `+`. */
export function escapePathPart(text: string): string {
  return encodeURIComponent(text)
    .replace(/[!'()~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, "+");
}

// ---------------------------------------------------------------------------------------------------------
// Evolution.

/** Spec equivalence as the spec defines it: same fields in order with the same sources, transforms and names. */
export function specsEquivalent(a: PartitionSpec, b: PartitionSpec): boolean {
  return (
    a.fields.length === b.fields.length &&
    a.fields.every((field, i) => {
      const other = b.fields[i]!;
      return (
        field.sourceId === other.sourceId &&
        field.name === other.name &&
        transformsEqual(field.transform, other.transform)
      );
    })
  );
}

export interface PartitionFieldRequest {
  sourceId: number;
  transform: Transform;
  /** Defaults to the name of the earlier field with this source and transform, else a generated one. */
  name?: string;
}

export interface EvolvedSpec {
  spec: PartitionSpec;
  lastPartitionId: number;
  /** False when an equivalent spec already exists; `spec` is then that spec and must be reused. */
  isNew: boolean;
}

/**
 * Builds the spec with `fields`, reusing the field id of any earlier field with the same source and
 * transform (partition tuples in old manifests keep their meaning) and numbering new fields above
 * `lastPartitionId`. Returns an existing equivalent spec instead of a new one, as the spec requires.
 */
export function evolvePartitionSpec(args: {
  schema: Schema;
  specs: readonly PartitionSpec[];
  lastPartitionId: number;
  fields: readonly PartitionFieldRequest[];
}): EvolvedSpec {
  const { schema, specs } = args;
  let lastPartitionId = Math.max(args.lastPartitionId, PARTITION_DATA_ID_START - 1);
  const newest = [...specs].sort((a, b) => b.specId - a.specId);
  const seen = new Set<string>();
  const fields: PartitionField[] = args.fields.map((request) => {
    const source = schema.findField(request.sourceId);
    if (!source) {
      throw new IcebergError(
        "INCOMPATIBLE_CHANGE",
        `cannot partition by source-id ${request.sourceId}: no such column in schema ${schema.schemaId}`,
      );
    }
    const key = `${request.sourceId}:${transformToString(request.transform)}`;
    const sourceName = schema.findColumnName(request.sourceId)!;
    if (seen.has(key)) {
      throw new IcebergError(
        "INCOMPATIBLE_CHANGE",
        `column '${sourceName}' is partitioned by ${transformToString(request.transform)} twice; keep one`,
      );
    }
    seen.add(key);
    const earlier = newest
      .flatMap((spec) => spec.fields)
      .find((f) => f.sourceId === request.sourceId && transformsEqual(f.transform, request.transform));
    const fieldId = earlier?.fieldId ?? ++lastPartitionId;
    const name = request.name ?? earlier?.name ?? defaultPartitionName(sourceName, request.transform);
    return { sourceId: request.sourceId, fieldId, name, transform: request.transform };
  });
  const candidate: PartitionSpec = {
    specId: specs.reduce((max, spec) => Math.max(max, spec.specId + 1), 0),
    fields,
  };
  try {
    validatePartitionSpec(candidate, schema);
  } catch (error) {
    if (error instanceof IcebergError) throw new IcebergError("INCOMPATIBLE_CHANGE", error.message);
    throw error;
  }
  const existing = specs.find(
    (spec) =>
      specsEquivalent(spec, candidate) && spec.fields.every((f, i) => f.fieldId === fields[i]!.fieldId),
  );
  if (existing) return { spec: existing, lastPartitionId: args.lastPartitionId, isNew: false };
  return { spec: candidate, lastPartitionId, isNew: true };
}

/** Names as the reference implementation generates them: `id_bucket_16`, `name_trunc_4`, `ts_day`. */
export function defaultPartitionName(sourceName: string, transform: Transform): string {
  switch (transform.kind) {
    case "identity":
      return sourceName;
    case "bucket":
      return `${sourceName}_bucket_${transform.numBuckets}`;
    case "truncate":
      return `${sourceName}_trunc_${transform.width}`;
    case "void":
      return `${sourceName}_null`;
    case "unknown":
      return `${sourceName}_${transform.text.replace(/[^A-Za-z0-9_]/g, "_")}`;
    default:
      return `${sourceName}_${transform.kind}`;
  }
}
