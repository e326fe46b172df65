/**
 * Reading REST requests: namespaces in paths (levels joined by the unit separator 0x1F), table
 * identifiers and string maps in bodies, and page tokens. Everything malformed is a ServerError
 * BAD_REQUEST naming the field, so handlers work with checked values only.
 */
import type { Namespace, TableIdentifier } from "../../catalog/catalog.ts";
import { ServerError } from "../errors.ts";
import type { components } from "./openapi.gen.ts";

export type Schemas = components["schemas"];

/** The spec's default separator of namespace levels in paths and `parent` (URL-encoded `%1F`). */
export const NAMESPACE_SEPARATOR = "\u001f";

export function badRequest(message: string): ServerError {
  return new ServerError("BAD_REQUEST", message);
}

export function namespaceFromPath(text: string | undefined): Namespace {
  if (text === undefined || text === "") throw badRequest("the namespace in the path is empty");
  const levels = text.split(NAMESPACE_SEPARATOR);
  if (levels.some((level) => level === "")) {
    throw badRequest(`namespace ${JSON.stringify(text)} has an empty level`);
  }
  return levels;
}

export function namespaceToPath(namespace: Namespace): string {
  return namespace.join(NAMESPACE_SEPARATOR);
}

/** The request body as a JSON object (content-type parsing already turned it into values). */
export function bodyObject(body: unknown, what: string): Record<string, unknown> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw badRequest(`the request body must be a JSON object (${what})`);
  }
  return body as Record<string, unknown>;
}

export function requiredString(obj: Record<string, unknown>, field: string): string {
  const value = obj[field];
  if (typeof value !== "string") throw badRequest(`field '${field}' must be a string`);
  return value;
}

export function optionalString(obj: Record<string, unknown>, field: string): string | undefined {
  const value = obj[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw badRequest(`field '${field}' must be a string`);
  return value;
}

export function optionalBoolean(obj: Record<string, unknown>, field: string): boolean {
  const value = obj[field];
  if (value === undefined || value === null) return false;
  if (typeof value !== "boolean") throw badRequest(`field '${field}' must be true or false`);
  return value;
}

export function stringMap(value: unknown, field: string): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (typeof value !== "object" || Array.isArray(value))
    throw badRequest(`field '${field}' must be an object`);
  const out: Record<string, string> = {};
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    if (typeof v !== "string") throw badRequest(`${field}.${key} must be a string`);
    out[key] = v;
  }
  return out;
}

export function stringList(value: unknown, field: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) {
    throw badRequest(`field '${field}' must be a list of strings`);
  }
  return value as string[];
}

export function namespaceFromJson(value: unknown, field: string): Namespace {
  const levels = stringList(value, field);
  if (levels.length === 0) throw badRequest(`field '${field}' must name at least one namespace level`);
  return levels;
}

export function identifierFromJson(value: unknown, field: string): TableIdentifier {
  const obj = bodyObject(value, field);
  return {
    namespace: namespaceFromJson(obj.namespace, `${field}.namespace`),
    name: requiredString(obj, "name"),
  };
}

export function identifierToJson(identifier: TableIdentifier): Schemas["TableIdentifier"] {
  return { namespace: [...identifier.namespace], name: identifier.name };
}

export function list(value: unknown, field: string): unknown[] {
  if (!Array.isArray(value)) throw badRequest(`field '${field}' must be a list`);
  return value;
}

export interface PageQuery {
  pageToken?: string | undefined;
  pageSize?: string | undefined;
}

/**
 * One page of `items` (sorted by `keyOf`). Pagination applies when the client sends `pageToken`
 * (possibly empty, to start) or `pageSize`; otherwise everything comes back with a null token, as the
 * spec asks. The token is the last returned key, base64url-encoded: stable under inserts and deletes.
 */
export function paginate<T>(
  items: readonly T[],
  keyOf: (item: T) => string,
  query: PageQuery,
): { page: T[]; nextPageToken: string | null } {
  const sorted = [...items].sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0));
  if (query.pageToken === undefined && query.pageSize === undefined) {
    return { page: sorted, nextPageToken: null };
  }
  let size = sorted.length;
  if (query.pageSize !== undefined) {
    size = Number(query.pageSize);
    if (!Number.isInteger(size) || size < 1) {
      throw badRequest(`pageSize must be a positive integer, got ${JSON.stringify(query.pageSize)}`);
    }
  }
  let start = 0;
  if (query.pageToken) {
    const after = Buffer.from(query.pageToken, "base64url").toString("utf8");
    start = sorted.findIndex((item) => keyOf(item) > after);
    if (start < 0) start = sorted.length;
  }
  const page = sorted.slice(start, start + size);
  const last = page.at(-1);
  const more = start + size < sorted.length;
  return {
    page,
    nextPageToken: more && last !== undefined ? Buffer.from(keyOf(last), "utf8").toString("base64url") : null,
  };
}
