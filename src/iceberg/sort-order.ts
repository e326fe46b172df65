/**
 * Sort orders (spec "Sorting"): fields of transform, source column, direction and null order, their JSON
 * form (Appendix C), and the unsorted order that id 0 is reserved for.
 */
import { IcebergError } from "./errors.ts";
import { sourceIdFromJson } from "./partitioning.ts";
import type { Schema } from "./schema.ts";
import {
  canTransform,
  parseTransform,
  type Transform,
  transformsEqual,
  transformToString,
} from "./transforms.ts";
import { isPrimitive, typeToString } from "./types.ts";

export type SortDirection = "asc" | "desc";
export type NullOrder = "nulls-first" | "nulls-last";

export interface SortField {
  transform: Transform;
  sourceId: number;
  direction: SortDirection;
  nullOrder: NullOrder;
}

export interface SortOrder {
  orderId: number;
  fields: SortField[];
}

export interface SortFieldJson {
  transform: string;
  "source-id": number;
  direction: SortDirection;
  "null-order": NullOrder;
}

export interface SortOrderJson {
  "order-id": number;
  fields: SortFieldJson[];
}

export const UNSORTED_ORDER_ID = 0;
export const UNSORTED_ORDER: SortOrder = Object.freeze({
  orderId: UNSORTED_ORDER_ID,
  fields: [],
}) as SortOrder;

export function isUnsorted(order: SortOrder): boolean {
  return order.fields.length === 0;
}

/** A sort field with the conventional null order: nulls first when ascending, last when descending. */
export function sortField(
  sourceId: number,
  direction: SortDirection = "asc",
  transform?: Transform,
): SortField {
  return {
    transform: transform ?? { kind: "identity" },
    sourceId,
    direction,
    nullOrder: direction === "asc" ? "nulls-first" : "nulls-last",
  };
}

export function sortOrderToJson(order: SortOrder): SortOrderJson {
  return {
    "order-id": order.orderId,
    fields: order.fields.map((field) => ({
      transform: transformToString(field.transform),
      "source-id": field.sourceId,
      direction: field.direction,
      "null-order": field.nullOrder,
    })),
  };
}

export function sortOrderFromJson(json: unknown): SortOrder {
  const obj = expectObject(json, "sort order");
  const orderId = obj["order-id"];
  if (typeof orderId !== "number" || !Number.isInteger(orderId)) {
    throw invalid(`sort order needs an integer order-id, got ${JSON.stringify(orderId)}`);
  }
  if (!Array.isArray(obj.fields)) throw invalid(`sort order ${orderId} needs a fields list`);
  const order: SortOrder = {
    orderId,
    fields: obj.fields.map((item, index) => {
      const field = expectObject(item, "sort field");
      const what = `sort order ${orderId} field ${index}`;
      if (typeof field.transform !== "string") throw invalid(`${what} has no transform`);
      if (field.direction !== "asc" && field.direction !== "desc") {
        throw invalid(`${what} has direction ${JSON.stringify(field.direction)}; expected "asc" or "desc"`);
      }
      if (field["null-order"] !== "nulls-first" && field["null-order"] !== "nulls-last") {
        throw invalid(
          `${what} has null-order ${JSON.stringify(field["null-order"])}; expected "nulls-first" or "nulls-last"`,
        );
      }
      return {
        transform: parseTransform(field.transform),
        sourceId: sourceIdFromJson(field, what),
        direction: field.direction,
        nullOrder: field["null-order"],
      };
    }),
  };
  checkOrderId(order);
  return order;
}

/** Id 0 is the unsorted order and only it; a sorted order needs another id. */
function checkOrderId(order: SortOrder): void {
  if (order.orderId === UNSORTED_ORDER_ID && order.fields.length > 0) {
    throw invalid("sort order id 0 is reserved for the unsorted order, but this one has fields");
  }
  if (order.orderId !== UNSORTED_ORDER_ID && order.fields.length === 0) {
    throw invalid(`unsorted order must have id 0, got ${order.orderId}`);
  }
}

/** Checks the order's id and that each source column exists, is primitive and accepts its transform. */
export function validateSortOrder(order: SortOrder, schema: Schema): void {
  checkOrderId(order);
  for (const field of order.fields) {
    const source = schema.findField(field.sourceId);
    if (!source) {
      throw invalid(`sort order ${order.orderId} sorts by source-id ${field.sourceId}, not in the schema`);
    }
    const name = schema.findColumnName(field.sourceId)!;
    if (!isPrimitive(source.type)) {
      throw invalid(
        `sort order ${order.orderId} cannot sort by ${typeToString(source.type)} column '${name}'`,
      );
    }
    if (field.transform.kind !== "unknown" && !canTransform(field.transform, source.type)) {
      throw invalid(
        `sort order ${order.orderId}: ${transformToString(field.transform)} cannot be applied to ${typeToString(source.type)} column '${name}'`,
      );
    }
  }
}

/** Same fields in the same order, ignoring the order id: a table reuses an existing order when so. */
export function sortOrdersEquivalent(a: SortOrder, b: SortOrder): boolean {
  return (
    a.fields.length === b.fields.length &&
    a.fields.every((field, i) => {
      const other = b.fields[i]!;
      return (
        field.sourceId === other.sourceId &&
        field.direction === other.direction &&
        field.nullOrder === other.nullOrder &&
        transformsEqual(field.transform, other.transform)
      );
    })
  );
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
