/**
 * Schema evolution (spec "Schema Evolution"): a builder of column additions, deletions, renames, moves,
 * type promotions and identifier changes applied to a schema, assigning new field ids above the table's
 * `last-column-id` and refusing any change that would misread existing data files.
 */
import { toJsonValue } from "./conversions.ts";
import { IcebergError } from "./errors.ts";
import { identifierFieldProblem, indexFields, Schema } from "./schema.ts";
import {
  type IcebergType,
  isPrimitive,
  type ListType,
  type MapType,
  type NestedField,
  type PrimitiveType,
  type StructType,
  typeToString,
} from "./types.ts";

export interface AddColumnOptions {
  /** Dotted name of the struct to add into (a list or map whose element/value is a struct works too). */
  parent?: string;
  /** A required column needs a non-null `initialDefault`, the value existing rows read as. */
  required?: boolean;
  doc?: string;
  /** In Floe's in-memory representation (see `PrimitiveValue`); stored in its JSON single-value form. */
  initialDefault?: unknown;
  /** Defaults to `initialDefault`, as the spec asks. */
  writeDefault?: unknown;
}

export interface SchemaUpdateResult {
  schema: Schema;
  lastColumnId: number;
}

function incompatible(message: string): IcebergError {
  return new IcebergError("INCOMPATIBLE_CHANGE", message);
}

/** Where a named field lives in the schema being edited. */
interface Located {
  id: number;
  name: string;
  field: NestedField;
  /** The type holding the field: the root or a nested struct, or the list/map it is the element/key/value of. */
  holder: StructType | ListType | MapType;
}

/**
 * Changes apply in call order to a working copy, so later calls see earlier ones: a renamed column is
 * found by its new name, a just-added struct can receive columns. `apply()` returns the new schema.
 */
export class SchemaUpdate {
  readonly #root: StructType;
  readonly #base: Schema;
  #lastColumnId: number;
  #identifierIds: number[];
  #newSchemaId: number;

  constructor(base: Schema, lastColumnId: number, options: { newSchemaId?: number } = {}) {
    if (!Number.isInteger(lastColumnId) || lastColumnId < base.highestFieldId()) {
      throw new IcebergError(
        "DATA_INVALID",
        `last-column-id ${lastColumnId} is below the schema's highest field id ${base.highestFieldId()}; the table metadata is corrupt`,
      );
    }
    this.#base = base;
    // structuredClone keeps the base schema untouched while the builder edits in place.
    this.#root = structuredClone(base.struct);
    this.#lastColumnId = lastColumnId;
    this.#identifierIds = [...base.identifierFieldIds];
    this.#newSchemaId = options.newSchemaId ?? base.schemaId + 1;
  }

  addColumn(name: string, type: IcebergType, options: AddColumnOptions = {}): this {
    if (name === "") throw incompatible("cannot add a column with an empty name");
    const fields = this.#structToAddInto(options.parent);
    const fullName = options.parent ? `${options.parent}.${name}` : name;
    if (fields.some((f) => f.name === name)) {
      throw incompatible(
        `cannot add column '${fullName}': a column with that name exists; delete or rename it first, or pick another name`,
      );
    }
    const required = options.required ?? false;
    if (required && (options.initialDefault === undefined || options.initialDefault === null)) {
      throw incompatible(
        `cannot add required column '${fullName}' without an initial default: existing rows have no value for it; add it as optional or give initialDefault`,
      );
    }
    const field: NestedField = { id: ++this.#lastColumnId, name, required, type: this.#freshIds(type) };
    if (options.doc !== undefined) field.doc = options.doc;
    const initial = options.initialDefault ?? null;
    const write = options.writeDefault === undefined ? initial : options.writeDefault;
    if (initial !== null) field.initialDefault = this.#defaultJson(fullName, field.type, initial);
    if (write !== null) field.writeDefault = this.#defaultJson(fullName, field.type, write);
    fields.push(field);
    return this;
  }

  deleteColumn(name: string): this {
    const located = this.#structField(name, "delete");
    const holder = located.holder as StructType;
    const removedIds = new Set(indexFields({ kind: "struct", fields: [located.field] }).allIds);
    const identifier = this.#identifierIds.find((id) => removedIds.has(id));
    if (identifier !== undefined) {
      throw incompatible(
        `cannot delete column '${name}': it is or holds an identifier field; set identifier fields without it first`,
      );
    }
    holder.fields.splice(holder.fields.indexOf(located.field), 1);
    return this;
  }

  renameColumn(name: string, newName: string): this {
    const located = this.#structField(name, "rename");
    if (newName === "") throw incompatible(`cannot rename column '${name}' to an empty name`);
    if (newName === located.field.name) return this;
    if ((located.holder as StructType).fields.some((f) => f.name === newName)) {
      throw incompatible(
        `cannot rename column '${name}' to '${newName}': that name is taken in the same struct; rename or delete the other column first`,
      );
    }
    located.field.name = newName;
    return this;
  }

  moveFirst(name: string): this {
    const located = this.#structField(name, "move");
    const fields = (located.holder as StructType).fields;
    fields.splice(fields.indexOf(located.field), 1);
    fields.unshift(located.field);
    return this;
  }

  moveBefore(name: string, referenceName: string): this {
    return this.#moveRelative(name, referenceName, 0);
  }

  moveAfter(name: string, referenceName: string): this {
    return this.#moveRelative(name, referenceName, 1);
  }

  #moveRelative(name: string, referenceName: string, offset: 0 | 1): this {
    const located = this.#structField(name, "move");
    const reference = this.#structField(referenceName, "move relative to");
    if (located.id === reference.id) throw incompatible(`cannot move column '${name}' relative to itself`);
    if (located.holder !== reference.holder) {
      throw incompatible(
        `cannot move column '${name}' next to '${referenceName}': columns move only within their own struct`,
      );
    }
    const fields = (located.holder as StructType).fields;
    fields.splice(fields.indexOf(located.field), 1);
    fields.splice(fields.indexOf(reference.field) + offset, 0, located.field);
    return this;
  }

  /** Makes a column, list element or map value nullable; always safe for readers of existing files. */
  makeColumnOptional(name: string): this {
    const located = this.#locate(name);
    if (this.#identifierIds.includes(located.id)) {
      throw incompatible(
        `cannot make identifier field '${name}' optional; set identifier fields without it first`,
      );
    }
    const holder = located.holder;
    if (holder.kind === "struct") located.field.required = false;
    else if (holder.kind === "list") holder.elementRequired = false;
    else if (located.id === holder.valueId) holder.valueRequired = false;
    else throw incompatible(`cannot make map key '${name}' optional: map keys are always required`);
    return this;
  }

  /** Refused unless already required: files written while the column was optional may hold nulls. */
  requireColumn(name: string): this {
    const located = this.#locate(name);
    if (located.field.required) return this;
    throw incompatible(
      `cannot make column '${name}' required: existing data files may hold nulls; add a new required column with an initial default instead`,
    );
  }

  /** Promotes a primitive column: int→long, float→double, decimal(P,S)→decimal(P',S) with P' > P. */
  updateColumnType(name: string, newType: PrimitiveType): this {
    const located = this.#locate(name);
    const current = located.field.type;
    if (!isPrimitive(current)) {
      throw incompatible(
        `cannot change the type of ${current.kind} column '${name}'; only primitives promote`,
      );
    }
    if (typeToString(current) === typeToString(newType)) return this;
    const problem = promotionProblem(current, newType);
    if (problem)
      throw incompatible(
        `cannot change column '${name}' from ${typeToString(current)} to ${typeToString(newType)}: ${problem}`,
      );
    const holder = located.holder;
    if (holder.kind === "struct") located.field.type = newType;
    else if (holder.kind === "list") holder.element = newType;
    else if (located.id === holder.keyId) holder.key = newType;
    else holder.value = newType;
    return this;
  }

  updateColumnDoc(name: string, doc: string | undefined): this {
    const located = this.#structField(name, "document");
    if (doc === undefined) delete located.field.doc;
    else located.field.doc = doc;
    return this;
  }

  /** Replaces the identifier fields; each must be a required non-float primitive outside lists, maps and optional structs. */
  setIdentifierFields(names: readonly string[]): this {
    const current = new Schema(this.#newSchemaId, this.#root.fields);
    const ids = names.map((name) => {
      const field = current.findFieldByName(name);
      if (!field) throw incompatible(`cannot use '${name}' as identifier field: no such column`);
      const problem = identifierFieldProblem(current, field.id);
      if (problem)
        throw incompatible(`${problem}; choose another identifier column or change this one first`);
      return field.id;
    });
    if (new Set(ids).size !== ids.length) {
      throw incompatible(`identifier fields ${JSON.stringify(names)} name the same column twice`);
    }
    this.#identifierIds = ids;
    return this;
  }

  apply(): SchemaUpdateResult {
    return {
      schema: new Schema(this.#newSchemaId, structuredClone(this.#root.fields), this.#identifierIds),
      lastColumnId: this.#lastColumnId,
    };
  }

  /** The base schema the update started from. */
  get base(): Schema {
    return this.#base;
  }

  #locate(name: string): Located {
    const index = indexFields(this.#root);
    const id = index.byName.get(name);
    if (id === undefined)
      throw incompatible(`no column '${name}' in the schema; check the name (case-sensitive)`);
    const location = index.byId.get(id)!;
    const parentId = location.parentIds.at(-1);
    const holder = parentId === undefined ? this.#root : index.byId.get(parentId)!.field.type;
    if (holder.kind !== "struct" && holder.kind !== "list" && holder.kind !== "map") {
      throw new Error(`unreachable: field ${id} sits under a primitive`);
    }
    // A list element or map entry is reported by the index as its own synthetic field; its holder is the list/map.
    return { id, name: location.name, field: location.field, holder };
  }

  #structField(name: string, action: string): Located {
    const located = this.#locate(name);
    if (located.holder.kind !== "struct") {
      throw incompatible(
        `cannot ${action} '${name}': it is a ${located.holder.kind} ${located.field.name}, not a struct column; change the enclosing column instead`,
      );
    }
    return located;
  }

  #structToAddInto(parent: string | undefined): NestedField[] {
    if (parent === undefined) return this.#root.fields;
    const located = this.#locate(parent);
    let type = located.field.type;
    if (type.kind === "list") type = type.element;
    else if (type.kind === "map") type = type.value;
    if (type.kind !== "struct") {
      throw incompatible(
        `cannot add a column to '${parent}': it is ${typeToString(located.field.type)}, not a struct; choose a struct column as parent`,
      );
    }
    return type.fields;
  }

  /** New columns get new ids whatever the caller's type carries: the column first, then nested ids level by level. */
  #freshIds(type: IcebergType): IcebergType {
    switch (type.kind) {
      case "struct": {
        const ids = type.fields.map(() => ++this.#lastColumnId);
        return {
          kind: "struct",
          fields: type.fields.map((field, i) => ({
            ...field,
            id: ids[i]!,
            type: this.#freshIds(field.type),
          })),
        };
      }
      case "list": {
        const elementId = ++this.#lastColumnId;
        return { ...type, elementId, element: this.#freshIds(type.element) };
      }
      case "map": {
        const keyId = ++this.#lastColumnId;
        const valueId = ++this.#lastColumnId;
        return { ...type, keyId, valueId, key: this.#freshIds(type.key), value: this.#freshIds(type.value) };
      }
      default:
        return type;
    }
  }

  #defaultJson(name: string, type: IcebergType, value: unknown): unknown {
    if (type.kind === "struct") {
      // The spec stores struct defaults as {} only: each sub-field carries its own default.
      if (typeof value === "object" && value !== null && Object.keys(value).length === 0) return {};
      throw incompatible(`default of struct column '${name}' must be null or {}; set defaults on its fields`);
    }
    if (type.kind === "list" || type.kind === "map") {
      throw new IcebergError(
        "FEATURE_UNSUPPORTED",
        `defaults for ${type.kind} column '${name}' are not supported`,
      );
    }
    try {
      return toJsonValue(type, value);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw incompatible(`default for column '${name}' does not fit ${typeToString(type)}: ${reason}`);
    }
  }
}

/** Why `from` cannot be promoted to `to`, or undefined when the spec allows it (v1/v2 promotions). */
export function promotionProblem(from: PrimitiveType, to: PrimitiveType): string | undefined {
  if (from.kind === "int" && to.kind === "long") return undefined;
  if (from.kind === "float" && to.kind === "double") return undefined;
  if (from.kind === "decimal" && to.kind === "decimal") {
    if (to.scale !== from.scale) return "a decimal's scale cannot change; only its precision can widen";
    if (to.precision <= from.precision) return "a decimal's precision can only widen";
    if (to.precision > 38) return "decimal precision is at most 38";
    return undefined;
  }
  return "only int→long, float→double and widening decimal precision are allowed; add a new column and backfill it instead";
}
