/**
 * Tables: CreateTable and ListTables (PUT/GET /tables/{tableBucketARN}[/{namespace}]), GetTable
 * (GET /get-table), DeleteTable, RenameTable, and Get/UpdateTableMetadataLocation. A versionToken on
 * DeleteTable, RenameTable or UpdateTableMetadataLocation is a compare-and-swap in the store (the
 * version every pointer change, Iceberg REST commits included, moves on), never check-then-act.
 * CreateTable writes a real Iceberg table (an empty schema when no metadata is given).
 */
import type { FastifyInstance } from "fastify";
import type { CreateTableOptions } from "../../catalog/catalog.ts";
import { partitionSpecFromJson } from "../../iceberg/partitioning.ts";
import { Schema, schemaFromJson } from "../../iceberg/schema.ts";
import { sortOrderFromJson } from "../../iceberg/sort-order.ts";
import { parseTableMetadata } from "../../iceberg/table-metadata.ts";
import type { TableBucketRecord, TableRecord } from "../store/store.ts";
import { parseTableArn } from "./arns.ts";
import {
  bodyOf,
  bucketIdOf,
  bucketOf,
  checkVersionToken,
  decodeContinuationToken,
  encodeContinuationToken,
  type Json,
  namespaceIdOf,
  optionalString,
  pageSize,
  paramsOf,
  queryOf,
  requiredString,
  type S3TablesContext,
  tableArnFor,
  tableOf,
  versionTokenFor,
  warehouseLocationOf,
} from "./context.ts";
import { S3TablesError } from "./errors.ts";
import { validateNamespaceName, validateTableName } from "./names.ts";
import { putTags, validateTags } from "./tags.ts";

/** `metadata.iceberg` of CreateTable → the catalog's create options. */
export function createOptionsOf(metadata: unknown): CreateTableOptions {
  if (metadata === undefined || metadata === null) return { schema: new Schema(0, [], []) };
  const iceberg = (metadata as Json).iceberg as Json | undefined;
  if (typeof iceberg !== "object" || iceberg === null) {
    throw new S3TablesError("BAD_REQUEST", "metadata must be {iceberg: {schema: {fields: [...]}}}");
  }
  let schema: Schema;
  if (iceberg.schemaV2 !== undefined) {
    schema = schemaFromJson(iceberg.schemaV2);
  } else {
    const fields = (iceberg.schema as Json | undefined)?.fields;
    if (!Array.isArray(fields))
      throw new S3TablesError("BAD_REQUEST", "metadata.iceberg.schema.fields is required");
    // S3 Tables' field types are Iceberg's type names; ids are optional there and assigned in order here.
    schema = schemaFromJson({
      type: "struct",
      "schema-id": 0,
      fields: fields.map((field: Json, index) => ({
        id: field.id ?? index + 1,
        name: requiredString(field.name, `metadata.iceberg.schema.fields[${index}].name`),
        type: requiredString(field.type, `metadata.iceberg.schema.fields[${index}].type`),
        required: field.required === true,
      })),
    });
  }
  const options: CreateTableOptions = { schema };
  if (iceberg.partitionSpec !== undefined) options.spec = partitionSpecFromJson(iceberg.partitionSpec);
  if (iceberg.writeOrder !== undefined) options.sortOrder = sortOrderFromJson(iceberg.writeOrder);
  if (iceberg.properties !== undefined) {
    const properties = iceberg.properties as Json;
    if (typeof properties !== "object" || Object.values(properties).some((v) => typeof v !== "string")) {
      throw new S3TablesError("BAD_REQUEST", "metadata.iceberg.properties must map strings to strings");
    }
    options.properties = properties as Record<string, string>;
  }
  return options;
}

const conflictSinceRead = () =>
  new S3TablesError(
    "CONFLICT",
    "the table changed (or was renamed or deleted) since its versionToken was read; read it again and retry",
  );

function tableSummary(bucket: TableBucketRecord, table: TableRecord, namespaceCreatedAt?: string) {
  return {
    namespace: table.namespace,
    name: table.name,
    type: "customer",
    tableARN: tableArnFor(bucket, table),
    createdAt: table.createdAt,
    modifiedAt: table.updatedAt,
    ...(namespaceCreatedAt
      ? { namespaceId: namespaceIdOf(bucket, table.namespace, namespaceCreatedAt) }
      : {}),
    tableBucketId: bucketIdOf(bucket),
  };
}

export function registerTableRoutes(app: FastifyInstance, context: S3TablesContext): void {
  const store = context.buckets.store;
  const namespaceCreatedAt = async (bucket: TableBucketRecord, namespace: readonly string[]) =>
    (await store.getNamespaceRecord(bucket.name, namespace))?.createdAt;

  app.put("/tables/:tableBucketARN/:namespace", async (request) => {
    const { tableBucketARN, namespace = "" } = paramsOf(request);
    const bucket = await bucketOf(context, tableBucketARN);
    const body = bodyOf(request);
    const name = requiredString(body.name, "name");
    validateNamespaceName(namespace);
    validateTableName(name);
    if (body.format !== "ICEBERG") throw new S3TablesError("BAD_REQUEST", 'format must be "ICEBERG"');
    const tags = validateTags(body.tags);
    if (Object.keys(tags).length > 50)
      throw new S3TablesError("BAD_REQUEST", "a resource can have at most 50 tags");
    const options = createOptionsOf(body.metadata);
    await context.buckets.catalog(bucket).createTable({ namespace: [namespace], name }, options);
    const table = await tableOf(context, bucket, namespace, name);
    await putTags(context, tableArnFor(bucket, table), tags);
    return { tableARN: tableArnFor(bucket, table), versionToken: versionTokenFor(table) };
  });

  app.get("/get-table", async (request) => {
    const query = queryOf(request);
    let bucket: TableBucketRecord;
    let table: TableRecord | undefined;
    const tableArn = optionalString(query.tableArn, "tableArn");
    if (tableArn) {
      const parsed = parseTableArn(tableArn);
      if (!parsed) throw new S3TablesError("BAD_REQUEST", `invalid table ARN ${JSON.stringify(tableArn)}`);
      bucket = await bucketOf(context, parsed.bucketArn);
      table = await store.getTableRecordById(bucket.name, parsed.tableId);
      if (!table) throw new S3TablesError("NOT_FOUND", `table ${tableArn} does not exist`);
    } else {
      bucket = await bucketOf(context, query.tableBucketARN);
      table = await tableOf(
        context,
        bucket,
        requiredString(query.namespace, "namespace"),
        requiredString(query.name, "name"),
      );
    }
    const createdAt = await namespaceCreatedAt(bucket, table.namespace);
    return {
      ...tableSummary(bucket, table, createdAt),
      versionToken: versionTokenFor(table),
      warehouseLocation: warehouseLocationOf(table),
      createdBy: context.buckets.accountId,
      modifiedBy: context.buckets.accountId,
      ownerAccountId: context.buckets.accountId,
      format: "ICEBERG",
      metadataLocation: table.metadataLocation,
    };
  });

  app.get("/tables/:tableBucketARN", async (request) => {
    const bucket = await bucketOf(context, paramsOf(request).tableBucketARN);
    const query = queryOf(request);
    const limit = pageSize(query.maxTables, "maxTables");
    const namespace = optionalString(query.namespace, "namespace");
    const prefix = optionalString(query.prefix, "prefix");
    const after = decodeContinuationToken(query.continuationToken);
    if (after !== undefined && !/^\[".*"\]$/.test(after)) {
      throw new S3TablesError("BAD_REQUEST", "continuationToken is not one this server returned");
    }
    const rows = await store.listTableRecords(bucket.name, {
      limit: limit + 1,
      ...(namespace ? { namespace: [namespace] } : {}),
      ...(prefix ? { prefix } : {}),
      ...(after !== undefined ? { after } : {}),
    });
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    const createdAt = new Map<string, string | undefined>();
    const tables = [];
    for (const table of page) {
      const key = JSON.stringify(table.namespace);
      if (!createdAt.has(key)) createdAt.set(key, await namespaceCreatedAt(bucket, table.namespace));
      tables.push(tableSummary(bucket, table, createdAt.get(key)));
    }
    return {
      tables,
      ...(rows.length > limit && last
        ? {
            continuationToken: encodeContinuationToken(
              JSON.stringify([JSON.stringify(last.namespace), last.name]),
            ),
          }
        : {}),
    };
  });

  app.delete("/tables/:tableBucketARN/:namespace/:name", async (request, reply) => {
    const { tableBucketARN, namespace = "", name = "" } = paramsOf(request);
    const bucket = await bucketOf(context, tableBucketARN);
    const table = await tableOf(context, bucket, namespace, name);
    const versionToken = queryOf(request).versionToken;
    if (versionToken === undefined || versionToken === "") {
      await context.buckets.catalog(bucket).dropTable({ namespace: table.namespace, name }, { purge: true });
      await store.deleteResourceAttributes(tableArnFor(bucket, table));
      return reply.code(204).send();
    }
    checkVersionToken(table, versionToken);
    // The token's version is compared in the same store transaction that deletes the row, so a commit
    // or another delete between the read above and here makes this one a conflict, never a lost update.
    if (!(await store.deleteTableAtVersion(bucket.name, table, tableArnFor(bucket, table)))) {
      throw conflictSinceRead();
    }
    const io = context.buckets.io(bucket);
    const files: string[] = [];
    for await (const file of io.list(`${warehouseLocationOf(table)}/`)) files.push(file.location);
    await io.deleteMany(files);
    return reply.code(204).send();
  });

  app.put("/tables/:tableBucketARN/:namespace/:name/rename", async (request, reply) => {
    const { tableBucketARN, namespace = "", name = "" } = paramsOf(request);
    const bucket = await bucketOf(context, tableBucketARN);
    const body = bodyOf(request);
    const newNamespace = optionalString(body.newNamespaceName, "newNamespaceName") ?? namespace;
    const newName = optionalString(body.newName, "newName") ?? name;
    validateNamespaceName(newNamespace);
    validateTableName(newName);
    const table = await tableOf(context, bucket, namespace, name);
    const destination = { namespace: [newNamespace], name: newName };
    if (body.versionToken === undefined || body.versionToken === null || body.versionToken === "") {
      await context.buckets.catalog(bucket).renameTable({ namespace: table.namespace, name }, destination);
      return reply.code(204).send();
    }
    checkVersionToken(table, body.versionToken);
    if (!(await store.renameTableAtVersion(bucket.name, table, destination))) throw conflictSinceRead();
    return reply.code(204).send();
  });

  app.get("/tables/:tableBucketARN/:namespace/:name/metadata-location", async (request) => {
    const { tableBucketARN, namespace = "", name = "" } = paramsOf(request);
    const table = await tableOf(context, await bucketOf(context, tableBucketARN), namespace, name);
    return {
      versionToken: versionTokenFor(table),
      metadataLocation: table.metadataLocation,
      warehouseLocation: warehouseLocationOf(table),
    };
  });

  app.put("/tables/:tableBucketARN/:namespace/:name/metadata-location", async (request) => {
    const { tableBucketARN, namespace = "", name = "" } = paramsOf(request);
    const bucket = await bucketOf(context, tableBucketARN);
    const body = bodyOf(request);
    const versionToken = requiredString(body.versionToken, "versionToken");
    const metadataLocation = requiredString(body.metadataLocation, "metadataLocation");
    const table = await tableOf(context, bucket, namespace, name);
    checkVersionToken(table, versionToken);
    const warehouseLocation = warehouseLocationOf(table);
    if (!metadataLocation.startsWith(`${warehouseLocation}/metadata/`)) {
      throw new S3TablesError(
        "BAD_REQUEST",
        `metadataLocation must be a file under the table's ${warehouseLocation}/metadata/`,
      );
    }
    let text: string;
    try {
      text = new TextDecoder().decode(await context.buckets.io(bucket).read(metadataLocation));
    } catch (error) {
      throw new S3TablesError("BAD_REQUEST", `cannot read the metadata file ${metadataLocation}`, {
        cause: error,
      });
    }
    const metadata = parseTableMetadata(text, metadataLocation);
    if (metadata.location !== warehouseLocation) {
      throw new S3TablesError(
        "BAD_REQUEST",
        `the metadata file belongs to ${metadata.location}, not to this table (${warehouseLocation})`,
      );
    }
    if (!(await store.swapTableVersion(bucket.name, table.tableId, table.version, metadataLocation))) {
      throw conflictSinceRead();
    }
    const next = await tableOf(context, bucket, namespace, name);
    return {
      name: next.name,
      tableARN: tableArnFor(bucket, next),
      namespace: next.namespace,
      versionToken: versionTokenFor(next),
      metadataLocation: next.metadataLocation,
    };
  });
}
