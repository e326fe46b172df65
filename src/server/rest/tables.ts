/**
 * Table routes: list, create (and stage-create), load with ETag / If-None-Match, exists, commit (also
 * the commit that finishes a staged create), drop with purge, register, unregister, rename, vended
 * storage credentials, and client metrics reports. Every change goes through the bucket's StoreCatalog;
 * responses carrying table metadata reuse its JSON serialized once per metadata file
 * (`load-table-cache.ts`), so a load whose JSON is cached reads only the table's pointer.
 */
import { createHash, randomUUID } from "node:crypto";
import type { FastifyInstance, FastifyReply } from "fastify";
import {
  formatIdentifier,
  type LoadedTable,
  type TableIdentifier,
  validateName,
} from "../../catalog/catalog.ts";
import { CatalogError } from "../../catalog/errors.ts";
import type { StoreCatalog } from "../../catalog/store-catalog.ts";
import { IcebergError } from "../../iceberg/errors.ts";
import {
  type PartitionSpec,
  partitionFieldsFromJson,
  validatePartitionSpec,
} from "../../iceberg/partitioning.ts";
import { type Schema, schemaFromJson } from "../../iceberg/schema.ts";
import { type SortOrder, sortOrderFromJson, validateSortOrder } from "../../iceberg/sort-order.ts";
import {
  metadataFileName,
  newTableMetadata,
  parseTableMetadata,
  serializeTableMetadata,
  type TableMetadata,
  tableMetadataToJson,
} from "../../iceberg/table-metadata.ts";
import {
  applyUpdates,
  checkRequirements,
  type TableRequirement,
  type TableUpdate,
  tableRequirementFromJson,
  tableUpdateFromJson,
} from "../../iceberg/table-update.ts";
import { IoError } from "../../io/errors.ts";
import type { TableBucketRecord } from "../store/store.ts";
import { commitWithServerRetry, type RestContext, resolveBucket } from "./context.ts";
import { commitTableResponseJson, loadTableResultJson, type SnapshotsMode } from "./load-table-cache.ts";
import {
  badRequest,
  bodyObject,
  identifierFromJson,
  identifierToJson,
  list,
  namespaceFromPath,
  optionalBoolean,
  optionalString,
  type PageQuery,
  paginate,
  requiredString,
  type Schemas,
  stringMap,
} from "./request.ts";

interface NamespaceParams {
  prefix: string;
  namespace: string;
}

interface TableParams extends NamespaceParams {
  table: string;
}

/** LoadTableResult with Floe's metadata JSON (64-bit ids as bigint, written losslessly). */
type LoadTableBody = Omit<Schemas["LoadTableResult"], "metadata"> & { metadata: Record<string, unknown> };

const JSON_CONTENT_TYPE = "application/json; charset=utf-8";

function tableIdentifier(params: TableParams): TableIdentifier {
  return { namespace: namespaceFromPath(params.namespace), name: params.table };
}

/** Distinct per metadata file and per `snapshots` mode (the spec asks both to differ). */
function etagOf(metadataLocation: string, mode: SnapshotsMode = "all"): string {
  return `"${createHash("sha256").update(`${mode}\n${metadataLocation}`).digest("hex").slice(0, 40)}"`;
}

function matchesIfNoneMatch(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header
    .split(",")
    .map((tag) => tag.trim().replace(/^W\//, ""))
    .some((tag) => tag === "*" || tag === etag);
}

function isUnder(location: string, root: string): boolean {
  return location === root || location.startsWith(`${root}/`);
}

/** Tables live in their bucket's storage: a location elsewhere would let a client use the server's FileIO anywhere. */
function requireInBucket(bucket: TableBucketRecord, location: string, what: string): void {
  if (!isUnder(location.replace(/\/+$/, ""), bucket.storage)) {
    throw badRequest(
      `${what} ${location} is outside table bucket ${bucket.name}'s storage ${bucket.storage}`,
    );
  }
}

/** The LoadTableResult of a staged create: metadata not written anywhere yet, so never cached. */
function stagedLoadResult(
  context: RestContext,
  bucket: TableBucketRecord,
  metadata: TableMetadata,
): LoadTableBody {
  const config = context.buckets.storageProperties(bucket);
  const body: LoadTableBody = { "metadata-location": null, metadata: tableMetadataToJson(metadata), config };
  if (Object.keys(config).length > 0) body["storage-credentials"] = [{ prefix: bucket.storage, config }];
  return body;
}

/**
 * A LoadTableResult of a written metadata file, its metadata serialized once per file and mode
 * (`load-table-cache.ts`) and sent as JSON text with the file's ETag.
 */
function sendLoadResult(
  reply: FastifyReply,
  context: RestContext,
  bucket: TableBucketRecord,
  table: { metadataLocation: string; metadata: TableMetadata },
  mode: SnapshotsMode = "all",
) {
  const metadataJson = context.loadTableCache.serialize(table.metadataLocation, mode, table.metadata);
  return sendLoadResultJson(reply, context, bucket, table.metadataLocation, metadataJson, mode);
}

function sendLoadResultJson(
  reply: FastifyReply,
  context: RestContext,
  bucket: TableBucketRecord,
  metadataLocation: string,
  metadataJson: Buffer,
  mode: SnapshotsMode,
) {
  const config = context.buckets.storageProperties(bucket);
  return reply
    .header("etag", etagOf(metadataLocation, mode))
    .header("content-type", JSON_CONTENT_TYPE)
    .send(loadTableResultJson(metadataLocation, metadataJson, config, bucket.storage));
}

/** A CommitTableResponse; its serialized metadata is kept for the loads that follow a commit. */
function sendCommitResponse(
  reply: FastifyReply,
  context: RestContext,
  table: { metadataLocation: string; metadata: TableMetadata },
  options: { etag: boolean } = { etag: true },
) {
  const metadataJson = context.loadTableCache.serialize(table.metadataLocation, "all", table.metadata);
  if (options.etag) reply.header("etag", etagOf(table.metadataLocation));
  return reply
    .header("content-type", JSON_CONTENT_TYPE)
    .send(commitTableResponseJson(table.metadataLocation, metadataJson));
}

interface CreateTableInput {
  name: string;
  schema: Schema;
  spec: PartitionSpec | undefined;
  sortOrder: SortOrder | undefined;
  location: string | undefined;
  properties: Record<string, string>;
  stageCreate: boolean;
}

function createTableInput(body: unknown): CreateTableInput {
  const obj = bodyObject(body, "CreateTableRequest");
  const name = requiredString(obj, "name");
  validateName("table", name);
  if (obj.schema === undefined) throw badRequest("field 'schema' is required");
  const schema = schemaFromJson(obj.schema);
  let spec: PartitionSpec | undefined;
  if (obj["partition-spec"] !== undefined && obj["partition-spec"] !== null) {
    const json = bodyObject(obj["partition-spec"], "partition-spec");
    const specId = json["spec-id"];
    spec = {
      specId: typeof specId === "number" ? specId : 0,
      fields: partitionFieldsFromJson(json.fields ?? []),
    };
    validatePartitionSpec(spec, schema);
  }
  let sortOrder: SortOrder | undefined;
  if (obj["write-order"] !== undefined && obj["write-order"] !== null) {
    const json = bodyObject(obj["write-order"], "write-order");
    const fields = Array.isArray(json.fields) ? json.fields : [];
    sortOrder = sortOrderFromJson({ "order-id": fields.length === 0 ? 0 : 1, ...json });
    validateSortOrder(sortOrder, schema);
  }
  return {
    name,
    schema,
    spec,
    sortOrder,
    location: optionalString(obj, "location"),
    properties: stringMap(obj.properties, "properties"),
    stageCreate: optionalBoolean(obj, "stage-create"),
  };
}

function commitParts(obj: Record<string, unknown>): {
  requirements: TableRequirement[];
  updates: TableUpdate[];
} {
  return {
    requirements: list(obj.requirements ?? [], "requirements").map(tableRequirementFromJson),
    updates: list(obj.updates, "updates").map(tableUpdateFromJson),
  };
}

/** A table's default location: `<bucket storage>/<namespace levels>/<table>-<uuid>` (as StoreCatalog makes it). */
function defaultLocation(bucket: TableBucketRecord, identifier: TableIdentifier): string {
  return `${bucket.storage}/${identifier.namespace.map(encodeURIComponent).join("/")}/${encodeURIComponent(identifier.name)}-${randomUUID().replaceAll("-", "")}`;
}

/** Metadata with nothing in it, the base a staged create's updates build the table from. */
function emptyMetadata(location: string, nowMs: number): TableMetadata {
  return {
    formatVersion: 2,
    tableUuid: randomUUID(),
    location,
    lastSequenceNumber: 0n,
    lastUpdatedMs: nowMs,
    lastColumnId: 0,
    schemas: [],
    currentSchemaId: -1,
    partitionSpecs: [],
    defaultSpecId: -1,
    lastPartitionId: 999,
    properties: {},
    snapshots: [],
    refs: {},
    snapshotLog: [],
    metadataLog: [],
    sortOrders: [],
    defaultSortOrderId: -1,
    statistics: [],
    partitionStatistics: [],
  };
}

/**
 * Finishes a staged create (requirements include `assert-create`): builds the metadata from the
 * updates alone, writes it as version 0, then registers the table. If the name got taken meanwhile
 * the written file is deleted and the answer is AlreadyExists.
 */
async function commitCreate(
  context: RestContext,
  bucket: TableBucketRecord,
  catalog: StoreCatalog,
  identifier: TableIdentifier,
  requirements: TableRequirement[],
  updates: TableUpdate[],
): Promise<LoadedTable> {
  validateName("table", identifier.name);
  if (!(await catalog.namespaceExists(identifier.namespace))) {
    throw new CatalogError("NO_SUCH_NAMESPACE", `namespace ${identifier.namespace.join(".")} does not exist`);
  }
  if (await catalog.tableExists(identifier)) {
    throw new CatalogError("ALREADY_EXISTS", `table ${formatIdentifier(identifier)} already exists`);
  }
  checkRequirements(undefined, requirements);
  const metadata = applyUpdates(emptyMetadata(defaultLocation(bucket, identifier), Date.now()), updates);
  requireInBucket(bucket, metadata.location, "table location");
  const io = context.buckets.io(bucket);
  const location = `${metadata.location}/metadata/${metadataFileName(0)}`;
  await io.write(location, new TextEncoder().encode(serializeTableMetadata(metadata)), { ifNotExists: true });
  try {
    return await catalog.registerTable(identifier, location);
  } catch (error) {
    await io.delete(location).catch(() => {});
    throw error;
  }
}

export function registerTableRoutes(app: FastifyInstance, context: RestContext): void {
  app.get<{ Params: NamespaceParams; Querystring: PageQuery }>(
    "/v1/:prefix/namespaces/:namespace/tables",
    async (request) => {
      const { catalog } = await resolveBucket(context, request.params.prefix);
      const tables = await catalog.listTables(namespaceFromPath(request.params.namespace));
      const { page, nextPageToken } = paginate(tables, (t) => t.name, request.query);
      const response: Schemas["ListTablesResponse"] = {
        identifiers: page.map(identifierToJson),
        "next-page-token": nextPageToken,
      };
      return response;
    },
  );

  app.post<{ Params: NamespaceParams }>(
    "/v1/:prefix/namespaces/:namespace/tables",
    async (request, reply) => {
      const { bucket, catalog } = await resolveBucket(context, request.params.prefix);
      const namespace = namespaceFromPath(request.params.namespace);
      const input = createTableInput(request.body);
      const identifier = { namespace, name: input.name };
      if (input.location !== undefined) requireInBucket(bucket, input.location, "table location");
      if (input.stageCreate) {
        if (!(await catalog.namespaceExists(namespace))) {
          throw new CatalogError("NO_SUCH_NAMESPACE", `namespace ${namespace.join(".")} does not exist`);
        }
        if (await catalog.tableExists(identifier)) {
          throw new CatalogError("ALREADY_EXISTS", `table ${formatIdentifier(identifier)} already exists`);
        }
        const metadata = newTableMetadata({
          location: input.location ?? defaultLocation(bucket, identifier),
          schema: input.schema,
          ...(input.spec ? { spec: input.spec } : {}),
          ...(input.sortOrder ? { sortOrder: input.sortOrder } : {}),
          properties: input.properties,
        });
        return reply.send(stagedLoadResult(context, bucket, metadata));
      }
      const created = await catalog.createTable(identifier, {
        schema: input.schema,
        ...(input.spec ? { spec: input.spec } : {}),
        ...(input.sortOrder ? { sortOrder: input.sortOrder } : {}),
        ...(input.location ? { location: input.location } : {}),
        properties: input.properties,
      });
      return sendLoadResult(reply, context, bucket, created);
    },
  );

  app.get<{ Params: TableParams; Querystring: { snapshots?: string } }>(
    "/v1/:prefix/namespaces/:namespace/tables/:table",
    async (request, reply) => {
      const { bucket, catalog } = await resolveBucket(context, request.params.prefix);
      const mode = request.query.snapshots ?? "all";
      if (mode !== "all" && mode !== "refs") {
        throw badRequest(`snapshots must be 'all' or 'refs', got ${JSON.stringify(mode)}`);
      }
      const identifier = tableIdentifier(request.params);
      // The pointer alone answers an If-None-Match and, with the metadata's JSON cached, the whole load.
      const metadataLocation = await context.buckets.store.catalogStore(bucket.name).getTable(identifier);
      if (metadataLocation === undefined) {
        throw new CatalogError("NO_SUCH_TABLE", `table ${formatIdentifier(identifier)} does not exist`);
      }
      const etag = etagOf(metadataLocation, mode);
      if (matchesIfNoneMatch(request.headers["if-none-match"], etag)) {
        return reply.code(304).header("etag", etag).send();
      }
      const cached = context.loadTableCache.get(metadataLocation, mode);
      if (cached !== undefined) {
        return sendLoadResultJson(reply, context, bucket, metadataLocation, cached, mode);
      }
      // Read through the catalog: the pointer may have moved since; the answer names what was read.
      return sendLoadResult(reply, context, bucket, await catalog.loadTable(identifier), mode);
    },
  );

  app.head<{ Params: TableParams }>(
    "/v1/:prefix/namespaces/:namespace/tables/:table",
    async (request, reply) => {
      const { catalog } = await resolveBucket(context, request.params.prefix);
      const identifier = tableIdentifier(request.params);
      if (!(await catalog.tableExists(identifier))) {
        throw new CatalogError("NO_SUCH_TABLE", `table ${formatIdentifier(identifier)} does not exist`);
      }
      return reply.code(204).send();
    },
  );

  app.post<{ Params: TableParams }>(
    "/v1/:prefix/namespaces/:namespace/tables/:table",
    { config: { commit: true } },
    async (request, reply) => {
      const { bucket, catalog } = await resolveBucket(context, request.params.prefix);
      const identifier = tableIdentifier(request.params);
      const body = bodyObject(request.body, "CommitTableRequest");
      if (body.identifier !== undefined && body.identifier !== null) {
        const named = identifierFromJson(body.identifier, "identifier");
        if (formatIdentifier(named) !== formatIdentifier(identifier)) {
          throw badRequest(
            `the body's identifier ${formatIdentifier(named)} differs from the path's table ${formatIdentifier(identifier)}`,
          );
        }
      }
      const { requirements, updates } = commitParts(body);
      const committed = requirements.some((r) => r.type === "assert-create")
        ? await commitWithServerRetry(context, 1, () =>
            commitCreate(context, bucket, catalog, identifier, requirements, updates),
          )
        : await commitWithServerRetry(context, 1, () =>
            catalog.commitTable({ identifier, requirements, updates }),
          );
      return sendCommitResponse(reply, context, committed);
    },
  );

  app.delete<{ Params: TableParams; Querystring: { purgeRequested?: string } }>(
    "/v1/:prefix/namespaces/:namespace/tables/:table",
    async (request, reply) => {
      const { catalog } = await resolveBucket(context, request.params.prefix);
      // pyiceberg sends Python's `True` / `False`.
      const purge = request.query.purgeRequested?.toLowerCase();
      if (purge !== undefined && purge !== "true" && purge !== "false") {
        throw badRequest(`purgeRequested must be true or false, got ${JSON.stringify(purge)}`);
      }
      await catalog.dropTable(tableIdentifier(request.params), { purge: purge === "true" });
      return reply.code(204).send();
    },
  );

  app.post<{ Params: NamespaceParams }>(
    "/v1/:prefix/namespaces/:namespace/register",
    async (request, reply) => {
      const { bucket, catalog } = await resolveBucket(context, request.params.prefix);
      const body = bodyObject(request.body, "RegisterTableRequest");
      const identifier = {
        namespace: namespaceFromPath(request.params.namespace),
        name: requiredString(body, "name"),
      };
      const metadataLocation = requiredString(body, "metadata-location");
      requireInBucket(bucket, metadataLocation, "metadata-location");
      const overwrite = optionalBoolean(body, "overwrite");
      let table: LoadedTable;
      try {
        const current = overwrite ? await catalog.tableExists(identifier) : false;
        if (current) {
          const previous = await catalog.loadTable(identifier);
          const metadata = parseTableMetadata(
            new TextDecoder().decode(await context.buckets.io(bucket).read(metadataLocation)),
            metadataLocation,
          );
          const swapped = await context.buckets.store
            .catalogStore(bucket.name)
            .swapPointers([{ identifier, expected: previous.metadataLocation, next: metadataLocation }]);
          if (!swapped) {
            throw new CatalogError(
              "COMMIT_FAILED",
              `table ${formatIdentifier(identifier)} changed while registering; retry`,
            );
          }
          table = { identifier, metadataLocation, metadata, io: previous.io };
        } else {
          table = await catalog.registerTable(identifier, metadataLocation);
        }
      } catch (error) {
        if (error instanceof IoError && error.code === "NOT_FOUND") {
          throw badRequest(`metadata-location ${metadataLocation} does not exist`);
        }
        throw error;
      }
      return sendLoadResult(reply, context, bucket, table);
    },
  );

  app.post<{ Params: TableParams }>(
    "/v1/:prefix/namespaces/:namespace/tables/:table/unregister",
    async (request, reply) => {
      const { catalog } = await resolveBucket(context, request.params.prefix);
      const identifier = tableIdentifier(request.params);
      const table = await catalog.loadTable(identifier);
      await catalog.dropTable(identifier, { purge: false });
      return sendCommitResponse(reply, context, table, { etag: false });
    },
  );

  app.get<{ Params: TableParams }>(
    "/v1/:prefix/namespaces/:namespace/tables/:table/credentials",
    async (request) => {
      const { bucket, catalog } = await resolveBucket(context, request.params.prefix);
      await catalog.loadTable(tableIdentifier(request.params));
      const config = context.buckets.storageProperties(bucket);
      const response: Schemas["LoadCredentialsResponse"] = {
        "storage-credentials": Object.keys(config).length > 0 ? [{ prefix: bucket.storage, config }] : [],
      };
      return response;
    },
  );

  app.post<{ Params: TableParams }>(
    "/v1/:prefix/namespaces/:namespace/tables/:table/metrics",
    async (request, reply) => {
      const { catalog } = await resolveBucket(context, request.params.prefix);
      const identifier = tableIdentifier(request.params);
      const body = bodyObject(request.body, "ReportMetricsRequest");
      const reportType = requiredString(body, "report-type");
      if (!(await catalog.tableExists(identifier))) {
        throw new CatalogError("NO_SUCH_TABLE", `table ${formatIdentifier(identifier)} does not exist`);
      }
      context.metrics.metricsReports.inc({ report_type: reportType });
      request.log.debug({ table: formatIdentifier(identifier), report: body }, "metrics report");
      return reply.code(204).send();
    },
  );

  app.post<{ Params: { prefix: string } }>("/v1/:prefix/tables/rename", async (request, reply) => {
    const { catalog } = await resolveBucket(context, request.params.prefix);
    const body = bodyObject(request.body, "RenameTableRequest");
    const source = identifierFromJson(body.source, "source");
    const destination = identifierFromJson(body.destination, "destination");
    await catalog.renameTable(source, destination);
    return reply.code(204).send();
  });

  app.post<{ Params: { prefix: string } }>(
    "/v1/:prefix/transactions/commit",
    { config: { commit: true } },
    async (request, reply) => {
      const { catalog } = await resolveBucket(context, request.params.prefix);
      const body = bodyObject(request.body, "CommitTransactionRequest");
      const changes = list(body["table-changes"], "table-changes").map((change, index) => {
        const obj = bodyObject(change, `table-changes[${index}]`);
        if (obj.identifier === undefined) throw badRequest(`table-changes[${index}] needs an identifier`);
        const identifier = identifierFromJson(obj.identifier, `table-changes[${index}].identifier`);
        const parts = commitParts(obj);
        if (parts.requirements.some((r) => r.type === "assert-create")) {
          throw new IcebergError(
            "FEATURE_UNSUPPORTED",
            `table-changes[${index}]: creating a table (assert-create) inside a multi-table transaction is not supported; create it first`,
          );
        }
        return { identifier, ...parts };
      });
      if (changes.length === 0) throw badRequest("table-changes is empty");
      await commitWithServerRetry(context, changes.length, () => catalog.commitTransaction(changes));
      return reply.code(204).send();
    },
  );
}
