/**
 * A table schema (spec "Schemas and Data Types"): a struct with a schema id and identifier field ids, its
 * JSON form (Appendix C), lookups by field id and dotted name, and the rules every valid schema follows.
 */
import { IcebergError } from "./errors.ts";
import {
  fieldToJson,
  type IcebergType,
  isPrimitive,
  type NestedField,
  type StructType,
  structFromJson,
  typeToString,
} from "./types.ts";

/** Field ids above this are reserved for metadata columns (`_file`, `_pos`, ...). */
export const MAX_USER_FIELD_ID = 2147483447;

export interface SchemaJson {
  type: "struct";
  "schema-id": number;
  "identifier-field-ids"?: number[];
  fields: ReturnType<typeof fieldToJson>[];
}

/** Where a field id sits in a schema: its field, its dotted name, and the chain of ids above it. */
export interface FieldLocation {
  field: NestedField;
  name: string;
  /** Ids of the enclosing struct fields, list elements and map keys/values, outermost first. */
  parentIds: number[];
}

export interface FieldIndex {
  byId: Map<number, FieldLocation>;
  byName: Map<string, number>;
  /** Every id in the schema (struct fields and list/map ids) in depth-first order, duplicates included. */
  allIds: number[];
}

/**
 * Indexes a struct's fields. List elements and map keys/values are indexed as `list.element`, `map.key`
 * and `map.value`, as the reference implementation names them; fields of a struct inside a list or map
 * also get the short alias without `element`/`value`, so `points.x` finds `points.element.x`.
 */
export function indexFields(struct: StructType): FieldIndex {
  const byId = new Map<number, FieldLocation>();
  const byName = new Map<string, number>();
  const shortNames = new Map<string, number>();
  const allIds: number[] = [];

  const visit = (field: NestedField, name: string, shortName: string, parentIds: number[]) => {
    allIds.push(field.id);
    if (!byId.has(field.id)) byId.set(field.id, { field, name, parentIds });
    if (!byName.has(name)) byName.set(name, field.id);
    if (shortName !== name && !shortNames.has(shortName)) shortNames.set(shortName, field.id);
    visitType(field.type, name, shortName, [...parentIds, field.id]);
  };

  const visitType = (type: IcebergType, name: string, shortName: string, parentIds: number[]) => {
    const child = (prefix: string, leaf: string) => (prefix === "" ? leaf : `${prefix}.${leaf}`);
    switch (type.kind) {
      case "struct":
        for (const field of type.fields) {
          visit(field, child(name, field.name), child(shortName, field.name), parentIds);
        }
        break;
      case "list": {
        const element: NestedField = {
          id: type.elementId,
          name: "element",
          required: type.elementRequired,
          type: type.element,
        };
        allIds.push(element.id);
        const elementName = child(name, "element");
        if (!byId.has(element.id)) byId.set(element.id, { field: element, name: elementName, parentIds });
        if (!byName.has(elementName)) byName.set(elementName, element.id);
        // Fields of an element struct are addressable without the `element` step.
        visitType(type.element, elementName, shortName, [...parentIds, element.id]);
        break;
      }
      case "map": {
        const key: NestedField = { id: type.keyId, name: "key", required: true, type: type.key };
        const value: NestedField = {
          id: type.valueId,
          name: "value",
          required: type.valueRequired,
          type: type.value,
        };
        for (const [entry, keepShort] of [
          [key, false],
          [value, true],
        ] as const) {
          allIds.push(entry.id);
          const entryName = child(name, entry.name);
          if (!byId.has(entry.id)) byId.set(entry.id, { field: entry, name: entryName, parentIds });
          if (!byName.has(entryName)) byName.set(entryName, entry.id);
          visitType(entry.type, entryName, keepShort ? shortName : entryName, [...parentIds, entry.id]);
        }
        break;
      }
      default:
        break;
    }
  };

  visitType(struct, "", "", []);
  for (const [shortName, id] of shortNames) if (!byName.has(shortName)) byName.set(shortName, id);
  return { byId, byName, allIds };
}

export class Schema {
  readonly schemaId: number;
  readonly struct: StructType;
  readonly identifierFieldIds: readonly number[];
  readonly #index: FieldIndex;

  /** Builds and validates a schema; an invalid one throws `DATA_INVALID` naming the offending field. */
  constructor(schemaId: number, fields: NestedField[], identifierFieldIds: readonly number[] = []) {
    this.schemaId = schemaId;
    this.struct = { kind: "struct", fields };
    this.identifierFieldIds = [...identifierFieldIds];
    this.#index = indexFields(this.struct);
    validateSchema(this);
  }

  get fields(): NestedField[] {
    return this.struct.fields;
  }

  /** The field (struct field, list element, map key or value) with this id, if any. */
  findField(id: number): NestedField | undefined {
    return this.#index.byId.get(id)?.field;
  }

  /** Case-sensitive lookup by dotted name: `address.city`, `tags.element`, `props.value`. */
  findFieldByName(name: string): NestedField | undefined {
    const id = this.#index.byName.get(name);
    return id === undefined ? undefined : this.findField(id);
  }

  /** The full dotted name of a field id. */
  findColumnName(id: number): string | undefined {
    return this.#index.byId.get(id)?.name;
  }

  /** Ids of the fields enclosing `id`, outermost first; undefined when the id is not in the schema. */
  parentIds(id: number): number[] | undefined {
    return this.#index.byId.get(id)?.parentIds;
  }

  /** The largest field id used anywhere in the schema (0 for an empty schema). */
  highestFieldId(): number {
    return this.#index.allIds.reduce((max, id) => Math.max(max, id), 0);
  }

  /** Names of the identifier fields, in the order of `identifierFieldIds`. */
  identifierFieldNames(): string[] {
    return this.identifierFieldIds.map((id) => this.findColumnName(id) ?? String(id));
  }

  /** Same fields and identifier fields, ignoring schema-id: a commit reuses an existing schema when so. */
  sameStructure(other: Schema): boolean {
    const shape = (schema: Schema) => {
      const { "schema-id": _ignored, ...rest } = schemaToJson(schema);
      return JSON.stringify(rest);
    };
    return shape(this) === shape(other);
  }
}

/**
 * Why `id` cannot be an identifier field, or undefined when it can: it must exist, be a required primitive
 * other than float/double, and sit only under required structs (never under a list or map).
 */
export function identifierFieldProblem(schema: Schema, id: number): string | undefined {
  const field = schema.findField(id);
  if (!field) return `identifier field id ${id} is not in the schema`;
  const name = schema.findColumnName(id)!;
  if (!isPrimitive(field.type)) {
    return `identifier field '${name}' must be a primitive column, not ${typeToString(field.type)}`;
  }
  if (field.type.kind === "float" || field.type.kind === "double") {
    return `identifier field '${name}' cannot be ${field.type.kind}: use an exact type`;
  }
  if (!field.required) return `identifier field '${name}' must be required (not null)`;
  for (const parentId of schema.parentIds(id) ?? []) {
    const parent = schema.findField(parentId)!;
    const parentName = schema.findColumnName(parentId)!;
    if (parent.type.kind === "list" || parent.type.kind === "map") {
      return `identifier field '${name}' cannot be nested in ${parent.type.kind} '${parentName}'`;
    }
    if (!parent.required) {
      return `identifier field '${name}' cannot be nested in optional struct '${parentName}'`;
    }
  }
  return undefined;
}

function validateSchema(schema: Schema): void {
  const invalid = (message: string) => new IcebergError("DATA_INVALID", message);
  if (!Number.isInteger(schema.schemaId) || schema.schemaId < 0) {
    throw invalid(`schema-id must be a non-negative integer, got ${schema.schemaId}`);
  }
  const seen = new Set<number>();
  const walk = (type: IcebergType, path: string) => {
    const checkId = (id: number, what: string) => {
      if (!Number.isInteger(id) || id < 0 || id > MAX_USER_FIELD_ID) {
        throw invalid(`${what} has id ${id}; field ids must be in 0..${MAX_USER_FIELD_ID}`);
      }
      if (seen.has(id)) throw invalid(`${what} reuses field id ${id}; field ids must be unique in a schema`);
      seen.add(id);
    };
    switch (type.kind) {
      case "struct": {
        const names = new Set<string>();
        for (const field of type.fields) {
          const name = path === "" ? field.name : `${path}.${field.name}`;
          if (field.name === "") throw invalid(`a field under '${path || "<root>"}' has an empty name`);
          if (names.has(field.name)) throw invalid(`field name '${name}' appears twice in the same struct`);
          names.add(field.name);
          checkId(field.id, `field '${name}'`);
          walk(field.type, name);
        }
        break;
      }
      case "list":
        checkId(type.elementId, `element of list '${path}'`);
        walk(type.element, `${path}.element`);
        break;
      case "map":
        checkId(type.keyId, `key of map '${path}'`);
        checkId(type.valueId, `value of map '${path}'`);
        walk(type.key, `${path}.key`);
        walk(type.value, `${path}.value`);
        break;
      default:
        break;
    }
  };
  walk(schema.struct, "");
  if (new Set(schema.identifierFieldIds).size !== schema.identifierFieldIds.length) {
    throw invalid(`identifier-field-ids has duplicates: ${JSON.stringify(schema.identifierFieldIds)}`);
  }
  for (const id of schema.identifierFieldIds) {
    const problem = identifierFieldProblem(schema, id);
    if (problem) throw invalid(problem);
  }
}

/** The spec's JSON form; `identifier-field-ids` is written only when there are some. */
export function schemaToJson(schema: Schema): SchemaJson {
  const fields = schema.fields.map(fieldToJson);
  if (schema.identifierFieldIds.length === 0) return { type: "struct", "schema-id": schema.schemaId, fields };
  return {
    type: "struct",
    "schema-id": schema.schemaId,
    "identifier-field-ids": [...schema.identifierFieldIds],
    fields,
  };
}

/** Reads a schema's JSON form; v1 schemas without `schema-id` get id 0. */
export function schemaFromJson(json: unknown): Schema {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new IcebergError("DATA_INVALID", `schema must be a JSON object, got ${JSON.stringify(json)}`);
  }
  const obj = json as Record<string, unknown>;
  if (obj.type !== undefined && obj.type !== "struct") {
    throw new IcebergError("DATA_INVALID", `schema type must be "struct", got ${JSON.stringify(obj.type)}`);
  }
  const schemaId = obj["schema-id"] ?? 0;
  if (typeof schemaId !== "number" || !Number.isInteger(schemaId)) {
    throw new IcebergError("DATA_INVALID", `schema-id must be an integer, got ${JSON.stringify(schemaId)}`);
  }
  const identifiers = obj["identifier-field-ids"] ?? [];
  if (!Array.isArray(identifiers) || !identifiers.every((id) => Number.isInteger(id))) {
    throw new IcebergError(
      "DATA_INVALID",
      `identifier-field-ids must be a list of ints, got ${JSON.stringify(identifiers)}`,
    );
  }
  return new Schema(schemaId, structFromJson(obj).fields, identifiers as number[]);
}
