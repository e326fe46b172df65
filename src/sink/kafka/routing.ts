/**
 * Where `floe sink` writes a change: the Iceberg table a record's source table (or a field of its row)
 * names. Four ways, chosen by `floe sink`'s options (src/cli/sink.ts):
 * - `source` (the default): `<namespace>.<source table>`, the table named in the event's `source.table`.
 * - `map` (`--tables topicOrSourceTable=icebergTable,...`): the entry for the record's topic, its
 *   `schema.table` or its `table` (in that order), else the `*` entry, else as `source`.
 * - `field` (`--route-field f`, the Iceberg connector's `iceberg.tables.dynamic-enabled`): the value of
 *   field `f` of the row (`after`, or `before` for deletes), lower-cased as the Iceberg connector does,
 *   names the table (`name` in the namespace, or `ns.name`).
 * - `field-regex` (the Iceberg connector's `iceberg.tables` + `iceberg.tables.route-field` +
 *   `iceberg.table.<table>.route-regex`): the first table whose regex matches the whole field value.
 * A record the route cannot place (no such field, no matching regex) is a SinkError CHANGE_INVALID,
 * which the worker sends to the dead-letter topic (or stops on, without one).
 */
import type { Namespace, TableIdentifier } from "../../catalog/catalog.ts";
import { SinkError } from "../errors.ts";
import type { SourceRecord } from "./worker.ts";

export type RouteSpec =
  | { kind: "source" }
  | {
      kind: "map";
      /** Keys: a topic, `schema.table` or `table`; `*` catches the rest. */
      entries: ReadonlyMap<string, TableIdentifier>;
    }
  | { kind: "field"; field: string }
  | { kind: "field-regex"; field: string; tables: readonly { table: TableIdentifier; regex: RegExp }[] };

export type Router = (source: { schema: string; table: string }, record: SourceRecord) => TableIdentifier;

/** `name` → in `namespace`; `a.b.name` → namespace `a.b`. Undefined when a part is empty. */
export function parseTableName(text: string, namespace: Namespace): TableIdentifier | undefined {
  const parts = text.trim().split(".");
  if (parts.some((part) => part.trim() === "")) return undefined;
  const name = parts.pop() as string;
  return { namespace: parts.length > 0 ? parts : [...namespace], name };
}

export function formatTable(identifier: TableIdentifier): string {
  return [...identifier.namespace, identifier.name].join(".");
}

export function createRouter(spec: RouteSpec, namespace: Namespace): Router {
  const bySource = (source: { table: string }): TableIdentifier => ({
    namespace: [...namespace],
    name: source.table,
  });
  switch (spec.kind) {
    case "source":
      return (source) => bySource(source);
    case "map": {
      const fallback = spec.entries.get("*");
      return (source, record) =>
        spec.entries.get(record.topic) ??
        spec.entries.get(`${source.schema}.${source.table}`) ??
        spec.entries.get(source.table) ??
        fallback ??
        bySource(source);
    }
    case "field":
      return (_source, record) => {
        const value = routeFieldValue(record, spec.field);
        const table = parseTableName(value.toLowerCase(), namespace);
        if (!table)
          throw new SinkError(
            "CHANGE_INVALID",
            `${where(record)}: route field ${spec.field} is ${JSON.stringify(value)}, not a table name (name or namespace.name)`,
          );
        return table;
      };
    case "field-regex":
      return (_source, record) => {
        const value = routeFieldValue(record, spec.field);
        const match = spec.tables.find((t) => t.regex.test(value));
        if (!match)
          throw new SinkError(
            "CHANGE_INVALID",
            `${where(record)}: route field ${spec.field} is ${JSON.stringify(value)}, which no table's route-regex matches (${spec.tables.map((t) => `${formatTable(t.table)}: ${t.regex.source}`).join("; ")})`,
          );
        return match.table;
      };
  }
}

/** A full-match regex as Java's `Pattern.matcher(value).matches()` (the Iceberg connector's route-regex). */
export function fullMatch(pattern: string): RegExp {
  return new RegExp(`^(?:${pattern})$`);
}

function where(record: SourceRecord): string {
  return `record ${record.topic}/${record.partition}@${record.offset}`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/**
 * The text of `field` (dots for nested struct fields) in the record's row: `after`, or `before` when
 * `after` is null (deletes). Reads the Kafka Connect JSON value with or without its schema envelope.
 */
export function routeFieldValue(record: SourceRecord, field: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(record.value?.toString("utf8") ?? "null");
  } catch (error) {
    throw new SinkError("CHANGE_INVALID", `${where(record)}: the value is not JSON`, { cause: error });
  }
  const payload = isObject(parsed) && "schema" in parsed && "payload" in parsed ? parsed.payload : parsed;
  const row = isObject(payload) ? (isObject(payload.after) ? payload.after : payload.before) : undefined;
  let value: unknown = row;
  for (const part of field.split(".")) value = isObject(value) ? value[part] : undefined;
  if (typeof value === "string" || typeof value === "number" || typeof value === "bigint")
    return String(value);
  throw new SinkError(
    "CHANGE_INVALID",
    `${where(record)}: the row has no value for route field ${field}` +
      (value === null ? " (it is null)" : "") +
      "; a delete routes by its `before`, which holds only the key columns unless the source table has REPLICA IDENTITY FULL",
  );
}
