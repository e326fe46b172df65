/**
 * Iceberg's data types (spec "Schemas and Data Types"): primitives, struct, list and map, with field ids,
 * and their JSON serialization exactly as the spec's "JSON serialization" appendix writes them.
 */
import { IcebergError } from "./errors.ts";

export type PrimitiveTypeName =
  | "boolean"
  | "int"
  | "long"
  | "float"
  | "double"
  | "date"
  | "time"
  | "timestamp"
  | "timestamptz"
  | "timestamp_ns"
  | "timestamptz_ns"
  | "string"
  | "uuid"
  | "binary";

export type PrimitiveType =
  | { kind: PrimitiveTypeName }
  | { kind: "decimal"; precision: number; scale: number }
  | { kind: "fixed"; length: number };

export interface NestedField {
  id: number;
  name: string;
  required: boolean;
  type: IcebergType;
  doc?: string;
  /** JSON single-value serialization of the default for rows written before the field existed. */
  initialDefault?: unknown;
  writeDefault?: unknown;
}

export interface StructType {
  kind: "struct";
  fields: NestedField[];
}

export interface ListType {
  kind: "list";
  elementId: number;
  elementRequired: boolean;
  element: IcebergType;
}

export interface MapType {
  kind: "map";
  keyId: number;
  key: IcebergType;
  valueId: number;
  valueRequired: boolean;
  value: IcebergType;
}

export type IcebergType = PrimitiveType | StructType | ListType | MapType;

export const primitive = (kind: PrimitiveTypeName): PrimitiveType => ({ kind });
export const decimal = (precision: number, scale: number): PrimitiveType => ({
  kind: "decimal",
  precision,
  scale,
});
export const fixed = (length: number): PrimitiveType => ({ kind: "fixed", length });

export function isPrimitive(type: IcebergType): type is PrimitiveType {
  return type.kind !== "struct" && type.kind !== "list" && type.kind !== "map";
}

/** The spec's type string: `decimal(9,2)`, `fixed[16]`, `long`; nested types have no string form. */
export function typeToString(type: IcebergType): string {
  switch (type.kind) {
    case "decimal":
      return `decimal(${type.precision},${type.scale})`;
    case "fixed":
      return `fixed[${type.length}]`;
    case "struct":
    case "list":
    case "map":
      return type.kind;
    default:
      return type.kind;
  }
}

const primitiveNames = new Set<string>([
  "boolean",
  "int",
  "long",
  "float",
  "double",
  "date",
  "time",
  "timestamp",
  "timestamptz",
  "timestamp_ns",
  "timestamptz_ns",
  "string",
  "uuid",
  "binary",
]);

export function parsePrimitiveType(text: string): PrimitiveType {
  const trimmed = text.trim();
  if (primitiveNames.has(trimmed)) return { kind: trimmed as PrimitiveTypeName };
  const dec = /^decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)$/.exec(trimmed);
  if (dec) {
    const precision = Number(dec[1]);
    const scale = Number(dec[2]);
    if (precision < 1 || precision > 38 || scale > precision) {
      throw new IcebergError(
        "DATA_INVALID",
        `invalid decimal type '${text}': precision must be 1..38 and scale <= precision`,
      );
    }
    return decimal(precision, scale);
  }
  const fix = /^fixed\[\s*(\d+)\s*\]$/.exec(trimmed);
  if (fix) return fixed(Number(fix[1]));
  throw new IcebergError("DATA_INVALID", `unknown Iceberg type '${text}'`);
}

/** JSON forms as the spec writes them (`type` of a field is a string for primitives, an object otherwise). */
export type TypeJson = string | StructTypeJson | ListTypeJson | MapTypeJson;

export interface NestedFieldJson {
  id: number;
  name: string;
  required: boolean;
  type: TypeJson;
  doc?: string;
  "initial-default"?: unknown;
  "write-default"?: unknown;
}

export interface StructTypeJson {
  type: "struct";
  fields: NestedFieldJson[];
}

export interface ListTypeJson {
  type: "list";
  "element-id": number;
  "element-required": boolean;
  element: TypeJson;
}

export interface MapTypeJson {
  type: "map";
  "key-id": number;
  key: TypeJson;
  "value-id": number;
  "value-required": boolean;
  value: TypeJson;
}

export function typeToJson(type: IcebergType): TypeJson {
  switch (type.kind) {
    case "struct":
      return structToJson(type);
    case "list":
      return {
        type: "list",
        "element-id": type.elementId,
        "element-required": type.elementRequired,
        element: typeToJson(type.element),
      };
    case "map":
      return {
        type: "map",
        "key-id": type.keyId,
        key: typeToJson(type.key),
        "value-id": type.valueId,
        "value-required": type.valueRequired,
        value: typeToJson(type.value),
      };
    default:
      return typeToString(type);
  }
}

export function structToJson(struct: StructType): StructTypeJson {
  return { type: "struct", fields: struct.fields.map(fieldToJson) };
}

export function fieldToJson(field: NestedField): NestedFieldJson {
  const json: NestedFieldJson = {
    id: field.id,
    name: field.name,
    required: field.required,
    type: typeToJson(field.type),
  };
  if (field.doc !== undefined) json.doc = field.doc;
  if (field.initialDefault !== undefined) json["initial-default"] = field.initialDefault;
  if (field.writeDefault !== undefined) json["write-default"] = field.writeDefault;
  return json;
}

function expectObject(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new IcebergError("DATA_INVALID", `${what} must be a JSON object, got ${JSON.stringify(value)}`);
  }
  return value as Record<string, unknown>;
}

function expectInt(value: unknown, what: string): number {
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw new IcebergError("DATA_INVALID", `${what} must be an integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

function expectBool(value: unknown, what: string): boolean {
  if (typeof value !== "boolean") {
    throw new IcebergError("DATA_INVALID", `${what} must be a boolean, got ${JSON.stringify(value)}`);
  }
  return value;
}

export function typeFromJson(json: unknown): IcebergType {
  if (typeof json === "string") return parsePrimitiveType(json);
  const obj = expectObject(json, "type");
  switch (obj.type) {
    case "struct":
      return structFromJson(obj);
    case "list":
      return {
        kind: "list",
        elementId: expectInt(obj["element-id"], "list element-id"),
        elementRequired: expectBool(obj["element-required"], "list element-required"),
        element: typeFromJson(obj.element),
      };
    case "map":
      return {
        kind: "map",
        keyId: expectInt(obj["key-id"], "map key-id"),
        key: typeFromJson(obj.key),
        valueId: expectInt(obj["value-id"], "map value-id"),
        valueRequired: expectBool(obj["value-required"], "map value-required"),
        value: typeFromJson(obj.value),
      };
    default:
      throw new IcebergError("DATA_INVALID", `unknown nested type ${JSON.stringify(obj.type)}`);
  }
}

export function structFromJson(json: unknown): StructType {
  const obj = expectObject(json, "struct type");
  if (!Array.isArray(obj.fields))
    throw new IcebergError("DATA_INVALID", "struct type needs a 'fields' array");
  return { kind: "struct", fields: obj.fields.map(fieldFromJson) };
}

export function fieldFromJson(json: unknown): NestedField {
  const obj = expectObject(json, "field");
  if (typeof obj.name !== "string")
    throw new IcebergError("DATA_INVALID", `field ${JSON.stringify(obj.id)} has no name`);
  const field: NestedField = {
    id: expectInt(obj.id, `field '${obj.name}' id`),
    name: obj.name,
    required: expectBool(obj.required, `field '${obj.name}' required`),
    type: typeFromJson(obj.type),
  };
  if (typeof obj.doc === "string") field.doc = obj.doc;
  if (obj["initial-default"] !== undefined) field.initialDefault = obj["initial-default"];
  if (obj["write-default"] !== undefined) field.writeDefault = obj["write-default"];
  return field;
}
