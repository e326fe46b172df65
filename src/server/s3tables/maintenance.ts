/**
 * Maintenance configuration and job status: Get/PutTableBucketMaintenanceConfiguration
 * (/buckets/{arn}/maintenance[/{type}]), Get/PutTableMaintenanceConfiguration and
 * GetTableMaintenanceJobStatus (/tables/{arn}/{ns}/{name}/maintenance[/{type}], …/maintenance-job-status).
 * Values are validated with `src/maintenance`'s schemas and stored per resource ARN; a GET reports the
 * effective value (defaults ← bucket ← table) of the types S3 Tables has at that level, plus any other
 * type set there explicitly.
 */
import type { FastifyInstance } from "fastify";
import {
  disabled,
  type EffectiveMaintenanceConfiguration,
  MAINTENANCE_TYPES,
  type MaintenanceConfiguration,
  type MaintenanceJobStatus,
  type MaintenanceType,
  notYetRun,
  parseMaintenanceConfiguration,
  resolveMaintenanceConfiguration,
} from "../../maintenance/index.ts";
import type { ServerStore } from "../store/store.ts";
import { bodyOf, bucketOf, paramsOf, type S3TablesContext, tableArnFor, tableOf } from "./context.ts";
import { S3TablesError } from "./errors.ts";

async function storedConfiguration(store: ServerStore, resource: string): Promise<MaintenanceConfiguration> {
  const stored = await store.getResourceAttributes(resource, "maintenance");
  return parseMaintenanceConfiguration(
    Object.fromEntries(Object.entries(stored).map(([type, value]) => [type, JSON.parse(value)])),
    `stored maintenance configuration of ${resource}`,
  );
}

/** The configuration a table's maintenance runs with (for the scheduler). */
export async function effectiveMaintenanceConfiguration(
  store: ServerStore,
  bucketArn: string,
  tableArn: string,
): Promise<EffectiveMaintenanceConfiguration> {
  return resolveMaintenanceConfiguration(
    await storedConfiguration(store, bucketArn),
    await storedConfiguration(store, tableArn),
  );
}

/** Records the outcome of one maintenance job (for the scheduler; GetTableMaintenanceJobStatus reports it). */
export async function recordMaintenanceJobStatus(
  store: ServerStore,
  tableArn: string,
  type: MaintenanceType,
  status: MaintenanceJobStatus,
): Promise<void> {
  await store.updateResourceAttributes(tableArn, "job-status", { [type]: JSON.stringify(status) });
}

/** The S3 Tables wire value `{status, settings: {<type>: {...}}}` of one effective type. */
function wireValue(effective: EffectiveMaintenanceConfiguration, type: MaintenanceType) {
  const { status, ...settings } = effective[type];
  return { status, settings: { [type]: settings } };
}

function wireConfiguration(
  effective: EffectiveMaintenanceConfiguration,
  own: MaintenanceConfiguration,
  levelTypes: readonly MaintenanceType[],
) {
  const types = MAINTENANCE_TYPES.filter((type) => levelTypes.includes(type) || own[type] !== undefined);
  return Object.fromEntries(types.map((type) => [type, wireValue(effective, type)]));
}

function parsePut(type: string | undefined, body: Record<string, unknown>): [MaintenanceType, string] {
  if (!MAINTENANCE_TYPES.includes(type as MaintenanceType)) {
    throw new S3TablesError("BAD_REQUEST", `type must be one of ${MAINTENANCE_TYPES.join(", ")}`);
  }
  const maintenanceType = type as MaintenanceType;
  if (typeof body.value !== "object" || body.value === null) {
    throw new S3TablesError("BAD_REQUEST", "value is required: {status, settings}");
  }
  const parsed = parseMaintenanceConfiguration({ [maintenanceType]: body.value }, "value");
  return [maintenanceType, JSON.stringify(parsed[maintenanceType])];
}

export function registerMaintenanceRoutes(app: FastifyInstance, context: S3TablesContext): void {
  const store = context.buckets.store;

  app.get("/buckets/:tableBucketARN/maintenance", async (request) => {
    const bucket = await bucketOf(context, paramsOf(request).tableBucketARN);
    const own = await storedConfiguration(store, bucket.arn);
    return {
      tableBucketARN: bucket.arn,
      configuration: wireConfiguration(resolveMaintenanceConfiguration(own), own, [
        "icebergUnreferencedFileRemoval",
      ]),
    };
  });

  app.put("/buckets/:tableBucketARN/maintenance/:type", async (request, reply) => {
    const { tableBucketARN, type } = paramsOf(request);
    const bucket = await bucketOf(context, tableBucketARN);
    const [maintenanceType, value] = parsePut(type, bodyOf(request));
    await store.updateResourceAttributes(bucket.arn, "maintenance", { [maintenanceType]: value });
    return reply.code(204).send();
  });

  app.get("/tables/:tableBucketARN/:namespace/:name/maintenance", async (request) => {
    const { tableBucketARN, namespace = "", name = "" } = paramsOf(request);
    const bucket = await bucketOf(context, tableBucketARN);
    const tableArn = tableArnFor(bucket, await tableOf(context, bucket, namespace, name));
    const own = await storedConfiguration(store, tableArn);
    const effective = resolveMaintenanceConfiguration(await storedConfiguration(store, bucket.arn), own);
    return {
      tableARN: tableArn,
      configuration: wireConfiguration(effective, own, ["icebergCompaction", "icebergSnapshotManagement"]),
    };
  });

  app.put("/tables/:tableBucketARN/:namespace/:name/maintenance/:type", async (request, reply) => {
    const { tableBucketARN, namespace = "", name = "", type } = paramsOf(request);
    const bucket = await bucketOf(context, tableBucketARN);
    const tableArn = tableArnFor(bucket, await tableOf(context, bucket, namespace, name));
    const [maintenanceType, value] = parsePut(type, bodyOf(request));
    await store.updateResourceAttributes(tableArn, "maintenance", { [maintenanceType]: value });
    return reply.code(204).send();
  });

  app.get("/tables/:tableBucketARN/:namespace/:name/maintenance-job-status", async (request) => {
    const { tableBucketARN, namespace = "", name = "" } = paramsOf(request);
    const bucket = await bucketOf(context, tableBucketARN);
    const tableArn = tableArnFor(bucket, await tableOf(context, bucket, namespace, name));
    const effective = await effectiveMaintenanceConfiguration(store, bucket.arn, tableArn);
    const stored = await store.getResourceAttributes(tableArn, "job-status");
    const statuses = notYetRun();
    for (const type of MAINTENANCE_TYPES) {
      const recorded = stored[type] ? (JSON.parse(stored[type]) as MaintenanceJobStatus) : undefined;
      if (recorded) statuses[type] = recorded;
      if (effective[type].status === "disabled") statuses[type] = disabled(recorded);
    }
    const status = Object.fromEntries(
      MAINTENANCE_TYPES.map((type) => {
        const { status: state, lastRunTimestamp, failureMessage } = statuses[type];
        return [
          type,
          {
            status: state,
            ...(lastRunTimestamp ? { lastRunTimestamp } : {}),
            ...(failureMessage ? { failureMessage } : {}),
          },
        ];
      }),
    );
    return { tableARN: tableArn, status };
  });
}
