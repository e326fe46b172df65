/**
 * Resource policies: Get/Put/DeleteTableBucketPolicy (/buckets/{arn}/policy) and
 * Get/Put/DeleteTablePolicy (/tables/{arn}/{ns}/{name}/policy). A policy is stored as the JSON text
 * it came as, after checking it is a document `auth/policy.ts` can enforce (no Conditions, a Principal
 * per statement, ...); `auth/authorize.ts` enforces it on every route.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { parsePolicy } from "../auth/policy.ts";
import {
  bodyOf,
  bucketOf,
  paramsOf,
  requiredString,
  type S3TablesContext,
  tableArnFor,
  tableOf,
} from "./context.ts";
import { S3TablesError } from "./errors.ts";

const MAX_POLICY_BYTES = 20 * 1024;

function policyOf(request: FastifyRequest): string {
  const policy = requiredString(bodyOf(request).resourcePolicy, "resourcePolicy");
  if (Buffer.byteLength(policy) > MAX_POLICY_BYTES) {
    throw new S3TablesError("BAD_REQUEST", `resourcePolicy is larger than ${MAX_POLICY_BYTES} bytes`);
  }
  parsePolicy(policy, "resourcePolicy"); // BadRequestException for anything the auth layer could not enforce
  return policy;
}

export function registerPolicyRoutes(app: FastifyInstance, context: S3TablesContext): void {
  const store = context.buckets.store;
  const bucketArn = async (request: FastifyRequest) =>
    (await bucketOf(context, paramsOf(request).tableBucketARN)).arn;
  const tableArn = async (request: FastifyRequest) => {
    const { tableBucketARN, namespace = "", name = "" } = paramsOf(request);
    const bucket = await bucketOf(context, tableBucketARN);
    return tableArnFor(bucket, await tableOf(context, bucket, namespace, name));
  };

  for (const [path, resourceOf] of [
    ["/buckets/:tableBucketARN/policy", bucketArn],
    ["/tables/:tableBucketARN/:namespace/:name/policy", tableArn],
  ] as const) {
    app.get(path, async (request) => {
      const resource = await resourceOf(request);
      const policy = (await store.getResourceAttributes(resource, "policy"))[""];
      if (policy === undefined) throw new S3TablesError("NOT_FOUND", `${resource} has no resource policy`);
      return { resourcePolicy: policy };
    });
    app.put(path, async (request, reply) => {
      const resource = await resourceOf(request);
      await store.updateResourceAttributes(resource, "policy", { "": policyOf(request) });
      return reply.code(200).send();
    });
    app.delete(path, async (request, reply) => {
      const resource = await resourceOf(request);
      await store.updateResourceAttributes(resource, "policy", { "": undefined });
      return reply.code(204).send();
    });
  }
}
