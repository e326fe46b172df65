/**
 * Which s3tables actions each route of `floe serve` needs, on which resource, for both APIs: the one
 * table a reviewer reads to see what every route is allowed to do. The Iceberg REST routes map to the
 * actions AWS's S3 Tables Iceberg endpoint uses (loadTable → GetTableMetadataLocation + GetTableData,
 * commit → UpdateTableMetadataLocation + PutTableData, ...). Resources are named as the request names
 * them (bucket name or ARN, namespace, table name); `authorize.ts` turns them into ARNs. A route missing
 * here makes `buildApp` fail, so no route goes unchecked.
 */
import type { FastifyRequest } from "fastify";
import { ServerError } from "../errors.ts";
import { bodyObject, identifierFromJson, list, namespaceFromPath } from "../rest/request.ts";
import { parseBucketArn, parseTableArn } from "../s3tables/arns.ts";

export type S3TablesAction =
  | "CreateNamespace"
  | "CreateTable"
  | "CreateTableBucket"
  | "DeleteNamespace"
  | "DeleteTable"
  | "DeleteTableBucket"
  | "DeleteTableBucketPolicy"
  | "DeleteTablePolicy"
  | "GetNamespace"
  | "GetTable"
  | "GetTableBucket"
  | "GetTableBucketMaintenanceConfiguration"
  | "GetTableBucketPolicy"
  | "GetTableData"
  | "GetTableMaintenanceConfiguration"
  | "GetTableMaintenanceJobStatus"
  | "GetTableMetadataLocation"
  | "GetTablePolicy"
  | "ListNamespaces"
  | "ListTableBuckets"
  | "ListTables"
  | "ListTagsForResource"
  | "PutTableBucketMaintenanceConfiguration"
  | "PutTableBucketPolicy"
  | "PutTableData"
  | "PutTableMaintenanceConfiguration"
  | "PutTablePolicy"
  | "RenameTable"
  | "TagResource"
  | "UntagResource"
  /** Floe's own: the Iceberg REST namespace-properties route (S3 Tables namespaces have no properties). */
  | "UpdateNamespaceProperties"
  | "UpdateTableMetadataLocation";

/** A resource as the request names it. */
export type ResourceRef =
  /** Account-level actions (ListTableBuckets): resource `*`. */
  | { kind: "account" }
  /**
   * A bucket by name (Iceberg REST prefix) or ARN (S3 Tables); `namespace` when the request names one
   * (for the s3tables:namespace condition key).
   */
  | { kind: "bucket"; bucket: string; namespace?: readonly string[] }
  | { kind: "table"; bucket: string; namespace: readonly string[]; name: string }
  /** A table by its ARN (S3 Tables GetTable with tableArn, tags). */
  | { kind: "table-arn"; arn: string }
  /** A table about to be created in the bucket: `<bucket ARN>/table/*` (namespace and name when known). */
  | { kind: "new-table"; bucket: string; namespace?: readonly string[]; name?: string };

export interface RequiredAccess {
  action: S3TablesAction;
  resource: ResourceRef;
}

export interface AccessContext {
  /** The bucket `/v1/config` uses when the client names no warehouse. */
  defaultBucket: string | undefined;
}

export type RouteAccess =
  /** No credentials needed (health, metrics, the token endpoint, which checks client credentials itself). */
  | { kind: "public" }
  /** Any authenticated caller (routes that answer 406 without touching a resource). */
  | { kind: "authenticated" }
  | { kind: "policy"; access: (request: FastifyRequest, context: AccessContext) => RequiredAccess[] };

type Params = Record<string, string | undefined>;
const paramsOf = (request: FastifyRequest) => request.params as Params;
const queryOf = (request: FastifyRequest) => (request.query ?? {}) as Record<string, unknown>;

/** Both APIs' error mappers know ServerError (the resolvers serve both). */
function badRequest(message: string): ServerError {
  return new ServerError("BAD_REQUEST", message);
}

function requiredParam(value: string | undefined, field: string): string {
  if (value === undefined || value === "") throw badRequest(`${field} is required`);
  return value;
}

// ---- Iceberg REST (under /iceberg) -----------------------------------------------------------------

/** The bucket of a REST route, with the namespace of its path, if it has one. */
const restBucket = (request: FastifyRequest): ResourceRef & { kind: "bucket" } => {
  const { prefix, namespace } = paramsOf(request);
  return {
    kind: "bucket",
    bucket: requiredParam(prefix, "prefix"),
    ...(namespace !== undefined ? { namespace: namespaceFromPath(namespace) } : {}),
  };
};

const restTable = (request: FastifyRequest): ResourceRef => {
  const { prefix, namespace, table } = paramsOf(request);
  return {
    kind: "table",
    bucket: requiredParam(prefix, "prefix"),
    namespace: namespaceFromPath(namespace),
    name: requiredParam(table, "table"),
  };
};

const onBucket =
  (...actions: S3TablesAction[]) =>
  (request: FastifyRequest): RequiredAccess[] =>
    actions.map((action) => ({ action, resource: restBucket(request) }));

const onTable =
  (...actions: S3TablesAction[]) =>
  (request: FastifyRequest): RequiredAccess[] =>
    actions.map((action) => ({ action, resource: restTable(request) }));

/** The table name a create-table or register body names (for s3tables:tableName), if it names one. */
function bodyTableName(request: FastifyRequest): string | undefined {
  const name = (request.body as { name?: unknown } | undefined)?.name;
  return typeof name === "string" ? name : undefined;
}

/**
 * Creating a table: CreateTable on the bucket and PutTableData on the table to be (named by the path of
 * a staged-create commit, else by the body).
 */
function creatingTable(request: FastifyRequest): RequiredAccess[] {
  const bucket = restBucket(request);
  const name = paramsOf(request).table ?? bodyTableName(request);
  const newTable: ResourceRef = {
    kind: "new-table",
    bucket: bucket.bucket,
    ...(bucket.namespace ? { namespace: bucket.namespace } : {}),
    ...(name !== undefined ? { name } : {}),
  };
  return [
    { action: "CreateTable", resource: bucket },
    { action: "PutTableData", resource: newTable },
  ];
}

function hasAssertCreate(body: unknown): boolean {
  const requirements = (body as { requirements?: unknown } | undefined)?.requirements;
  return (
    Array.isArray(requirements) &&
    requirements.some((r) => (r as { type?: unknown } | null)?.type === "assert-create")
  );
}

const restRoutes: Record<string, RouteAccess> = {
  "POST /iceberg/v1/oauth/tokens": { kind: "public" },
  "GET /iceberg/v1/config": {
    kind: "policy",
    access: (request, context) => {
      const warehouse = (queryOf(request).warehouse as string | undefined) || context.defaultBucket;
      return warehouse
        ? [{ action: "GetTableBucket", resource: { kind: "bucket", bucket: warehouse } }]
        : [{ action: "ListTableBuckets", resource: { kind: "account" } }];
    },
  },
  "GET /iceberg/v1/:prefix/namespaces": { kind: "policy", access: onBucket("ListNamespaces") },
  "POST /iceberg/v1/:prefix/namespaces": { kind: "policy", access: onBucket("CreateNamespace") },
  "GET /iceberg/v1/:prefix/namespaces/:namespace": { kind: "policy", access: onBucket("GetNamespace") },
  "HEAD /iceberg/v1/:prefix/namespaces/:namespace": { kind: "policy", access: onBucket("GetNamespace") },
  "DELETE /iceberg/v1/:prefix/namespaces/:namespace": { kind: "policy", access: onBucket("DeleteNamespace") },
  "POST /iceberg/v1/:prefix/namespaces/:namespace/properties": {
    kind: "policy",
    access: onBucket("UpdateNamespaceProperties"),
  },
  "GET /iceberg/v1/:prefix/namespaces/:namespace/tables": { kind: "policy", access: onBucket("ListTables") },
  "POST /iceberg/v1/:prefix/namespaces/:namespace/tables": { kind: "policy", access: creatingTable },
  "GET /iceberg/v1/:prefix/namespaces/:namespace/tables/:table": {
    kind: "policy",
    access: onTable("GetTableMetadataLocation", "GetTableData"),
  },
  "HEAD /iceberg/v1/:prefix/namespaces/:namespace/tables/:table": {
    kind: "policy",
    access: onTable("GetTable"),
  },
  "POST /iceberg/v1/:prefix/namespaces/:namespace/tables/:table": {
    kind: "policy",
    access: (request) =>
      hasAssertCreate(request.body)
        ? creatingTable(request)
        : onTable("UpdateTableMetadataLocation", "PutTableData")(request),
  },
  "DELETE /iceberg/v1/:prefix/namespaces/:namespace/tables/:table": {
    kind: "policy",
    access: onTable("DeleteTable"),
  },
  "POST /iceberg/v1/:prefix/namespaces/:namespace/register": {
    kind: "policy",
    access: (request) => {
      const body = bodyObject(request.body, "RegisterTableRequest");
      const access = creatingTable(request);
      if (body.overwrite === true && typeof body.name === "string") {
        const { prefix, namespace } = paramsOf(request);
        access.push({
          action: "UpdateTableMetadataLocation",
          resource: {
            kind: "table",
            bucket: requiredParam(prefix, "prefix"),
            namespace: namespaceFromPath(namespace),
            name: body.name,
          },
        });
      }
      return access;
    },
  },
  "POST /iceberg/v1/:prefix/namespaces/:namespace/tables/:table/unregister": {
    kind: "policy",
    access: onTable("DeleteTable"),
  },
  "GET /iceberg/v1/:prefix/namespaces/:namespace/tables/:table/credentials": {
    kind: "policy",
    access: onTable("GetTableData"),
  },
  "POST /iceberg/v1/:prefix/namespaces/:namespace/tables/:table/metrics": {
    kind: "policy",
    access: onTable("GetTableMetadataLocation"),
  },
  "POST /iceberg/v1/:prefix/tables/rename": {
    kind: "policy",
    access: (request) => {
      const source = identifierFromJson(bodyObject(request.body, "RenameTableRequest").source, "source");
      const bucket = requiredParam(paramsOf(request).prefix, "prefix");
      return [{ action: "RenameTable", resource: { kind: "table", bucket, ...source } }];
    },
  },
  "POST /iceberg/v1/:prefix/transactions/commit": {
    kind: "policy",
    access: (request) => {
      const bucket = requiredParam(paramsOf(request).prefix, "prefix");
      const body = bodyObject(request.body, "CommitTransactionRequest");
      return list(body["table-changes"], "table-changes").flatMap((change, index) => {
        // The same checks and messages as the route's own parsing (rest/tables.ts).
        const obj = bodyObject(change, `table-changes[${index}]`);
        if (obj.identifier === undefined) throw badRequest(`table-changes[${index}] needs an identifier`);
        const identifier = identifierFromJson(obj.identifier, `table-changes[${index}].identifier`);
        const resource: ResourceRef = { kind: "table", bucket, ...identifier };
        return [
          { action: "UpdateTableMetadataLocation" as const, resource },
          { action: "PutTableData" as const, resource },
        ];
      });
    },
  },
  // Listing views answers "none" after checking the namespace: the same right as listing tables.
  "GET /iceberg/v1/:prefix/namespaces/:namespace/views": { kind: "policy", access: onBucket("ListTables") },
  // Routes Floe does not serve answer 406 before touching anything.
  "POST /iceberg/v1/:prefix/namespaces/:namespace/views": { kind: "authenticated" },
  "GET /iceberg/v1/:prefix/namespaces/:namespace/views/:view": { kind: "authenticated" },
  "POST /iceberg/v1/:prefix/namespaces/:namespace/views/:view": { kind: "authenticated" },
  "DELETE /iceberg/v1/:prefix/namespaces/:namespace/views/:view": { kind: "authenticated" },
  "HEAD /iceberg/v1/:prefix/namespaces/:namespace/views/:view": { kind: "authenticated" },
  "POST /iceberg/v1/:prefix/views/rename": { kind: "authenticated" },
  "POST /iceberg/v1/:prefix/namespaces/:namespace/register-view": { kind: "authenticated" },
  "GET /iceberg/v1/:prefix/namespaces/:namespace/functions": { kind: "authenticated" },
  "GET /iceberg/v1/:prefix/namespaces/:namespace/functions/:function": { kind: "authenticated" },
  "POST /iceberg/v1/:prefix/namespaces/:namespace/tables/:table/plan": { kind: "authenticated" },
  "GET /iceberg/v1/:prefix/namespaces/:namespace/tables/:table/plan/:planId": { kind: "authenticated" },
  "DELETE /iceberg/v1/:prefix/namespaces/:namespace/tables/:table/plan/:planId": { kind: "authenticated" },
  "POST /iceberg/v1/:prefix/namespaces/:namespace/tables/:table/tasks": { kind: "authenticated" },
  "POST /iceberg/v1/:prefix/namespaces/:namespace/tables/:table/sign": { kind: "authenticated" },
};

// ---- S3 Tables control API (at the root) -------------------------------------------------------------

/** The bucket of an S3 Tables route, with the namespace of its path, if it has one. */
const s3Bucket = (request: FastifyRequest): ResourceRef => {
  const { tableBucketARN, namespace } = paramsOf(request);
  const arn = requiredParam(tableBucketARN, "tableBucketARN");
  parseBucketArn(arn);
  return { kind: "bucket", bucket: arn, ...(namespace ? { namespace: [namespace] } : {}) };
};

const s3Table = (request: FastifyRequest): ResourceRef => {
  const { tableBucketARN, namespace, name } = paramsOf(request);
  const bucket = requiredParam(tableBucketARN, "tableBucketARN");
  parseBucketArn(bucket);
  return {
    kind: "table",
    bucket,
    namespace: [requiredParam(namespace, "namespace")],
    name: requiredParam(name, "name"),
  };
};

const s3OnBucket =
  (action: S3TablesAction) =>
  (request: FastifyRequest): RequiredAccess[] => [{ action, resource: s3Bucket(request) }];

const s3OnTable =
  (action: S3TablesAction) =>
  (request: FastifyRequest): RequiredAccess[] => [{ action, resource: s3Table(request) }];

/** A tagged resource: a table ARN or a bucket ARN. */
function taggedResource(request: FastifyRequest): ResourceRef {
  const arn = requiredParam(paramsOf(request).resourceArn, "resourceArn");
  if (parseTableArn(arn)) return { kind: "table-arn", arn };
  parseBucketArn(arn);
  return { kind: "bucket", bucket: arn };
}

const s3TablesRoutes: Record<string, RouteAccess> = {
  "PUT /buckets": {
    kind: "policy",
    access: (request) => {
      const name = (request.body as { name?: unknown } | undefined)?.name;
      if (typeof name !== "string" || name === "") throw badRequest("name is required");
      return [{ action: "CreateTableBucket", resource: { kind: "bucket", bucket: name } }];
    },
  },
  "GET /buckets": {
    kind: "policy",
    access: () => [{ action: "ListTableBuckets", resource: { kind: "account" } }],
  },
  "GET /buckets/:tableBucketARN": { kind: "policy", access: s3OnBucket("GetTableBucket") },
  "DELETE /buckets/:tableBucketARN": { kind: "policy", access: s3OnBucket("DeleteTableBucket") },
  "PUT /namespaces/:tableBucketARN": { kind: "policy", access: s3OnBucket("CreateNamespace") },
  "GET /namespaces/:tableBucketARN": { kind: "policy", access: s3OnBucket("ListNamespaces") },
  "GET /namespaces/:tableBucketARN/:namespace": { kind: "policy", access: s3OnBucket("GetNamespace") },
  "DELETE /namespaces/:tableBucketARN/:namespace": { kind: "policy", access: s3OnBucket("DeleteNamespace") },
  "PUT /tables/:tableBucketARN/:namespace": { kind: "policy", access: s3OnBucket("CreateTable") },
  "GET /get-table": {
    kind: "policy",
    access: (request) => {
      const query = queryOf(request);
      if (typeof query.tableArn === "string" && query.tableArn !== "") {
        if (!parseTableArn(query.tableArn)) {
          throw badRequest(`invalid table ARN ${JSON.stringify(query.tableArn)}`);
        }
        return [{ action: "GetTable", resource: { kind: "table-arn", arn: query.tableArn } }];
      }
      const bucket = requiredParam(query.tableBucketARN as string | undefined, "tableBucketARN");
      parseBucketArn(bucket);
      return [
        {
          action: "GetTable",
          resource: {
            kind: "table",
            bucket,
            namespace: [requiredParam(query.namespace as string | undefined, "namespace")],
            name: requiredParam(query.name as string | undefined, "name"),
          },
        },
      ];
    },
  },
  "GET /tables/:tableBucketARN": { kind: "policy", access: s3OnBucket("ListTables") },
  "DELETE /tables/:tableBucketARN/:namespace/:name": { kind: "policy", access: s3OnTable("DeleteTable") },
  "PUT /tables/:tableBucketARN/:namespace/:name/rename": { kind: "policy", access: s3OnTable("RenameTable") },
  "GET /tables/:tableBucketARN/:namespace/:name/metadata-location": {
    kind: "policy",
    access: s3OnTable("GetTableMetadataLocation"),
  },
  "PUT /tables/:tableBucketARN/:namespace/:name/metadata-location": {
    kind: "policy",
    access: s3OnTable("UpdateTableMetadataLocation"),
  },
  "GET /buckets/:tableBucketARN/maintenance": {
    kind: "policy",
    access: s3OnBucket("GetTableBucketMaintenanceConfiguration"),
  },
  "PUT /buckets/:tableBucketARN/maintenance/:type": {
    kind: "policy",
    access: s3OnBucket("PutTableBucketMaintenanceConfiguration"),
  },
  "GET /tables/:tableBucketARN/:namespace/:name/maintenance": {
    kind: "policy",
    access: s3OnTable("GetTableMaintenanceConfiguration"),
  },
  "PUT /tables/:tableBucketARN/:namespace/:name/maintenance/:type": {
    kind: "policy",
    access: s3OnTable("PutTableMaintenanceConfiguration"),
  },
  "GET /tables/:tableBucketARN/:namespace/:name/maintenance-job-status": {
    kind: "policy",
    access: s3OnTable("GetTableMaintenanceJobStatus"),
  },
  "GET /buckets/:tableBucketARN/policy": { kind: "policy", access: s3OnBucket("GetTableBucketPolicy") },
  "PUT /buckets/:tableBucketARN/policy": { kind: "policy", access: s3OnBucket("PutTableBucketPolicy") },
  "DELETE /buckets/:tableBucketARN/policy": { kind: "policy", access: s3OnBucket("DeleteTableBucketPolicy") },
  "GET /tables/:tableBucketARN/:namespace/:name/policy": {
    kind: "policy",
    access: s3OnTable("GetTablePolicy"),
  },
  "PUT /tables/:tableBucketARN/:namespace/:name/policy": {
    kind: "policy",
    access: s3OnTable("PutTablePolicy"),
  },
  "DELETE /tables/:tableBucketARN/:namespace/:name/policy": {
    kind: "policy",
    access: s3OnTable("DeleteTablePolicy"),
  },
  "GET /tag/:resourceArn": {
    kind: "policy",
    access: (request) => [{ action: "ListTagsForResource", resource: taggedResource(request) }],
  },
  "POST /tag/:resourceArn": {
    kind: "policy",
    access: (request) => [{ action: "TagResource", resource: taggedResource(request) }],
  },
  "DELETE /tag/:resourceArn": {
    kind: "policy",
    access: (request) => [{ action: "UntagResource", resource: taggedResource(request) }],
  },
};

const serverRoutes: Record<string, RouteAccess> = {
  // Open by design: load balancers and Prometheus scrape them without credentials (docs/security.md).
  "GET /healthz": { kind: "public" },
  "GET /metrics": { kind: "public" },
};

const routes: Record<string, RouteAccess> = { ...serverRoutes, ...restRoutes, ...s3TablesRoutes };

/** The access rule of a route by method and URL pattern (`request.routeOptions.url`), or undefined. */
export function routeAccess(method: string, url: string): RouteAccess | undefined {
  return routes[`${method} ${url}`];
}
