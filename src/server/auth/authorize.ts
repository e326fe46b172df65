/**
 * Authorization of one request: each required (action, resource) of its route is turned into the
 * resource's ARN and the policies that apply (the bucket's, plus the table's), and evaluated by
 * `policy.ts`. It runs before the route looks anything up for the client, and a table the caller may not
 * see gets the same AccessDenied whether it exists or not: a missing table is evaluated as
 * `<bucket ARN>/table/*` with no table policy, and the message names the table as the request did.
 * Condition keys: the caller's address (`aws:SourceIp`) and the namespace and table the request names
 * (`s3tables:namespace`, levels joined by "."; `s3tables:tableName`).
 */
import type { FastifyBaseLogger } from "fastify";
import { parseTableArn, tableArnOf } from "../s3tables/arns.ts";
import type { TableBucketRecord } from "../store/store.ts";
import type { TableBuckets } from "../table-buckets.ts";
import type { ConditionContext } from "./conditions.ts";
import { AuthError } from "./errors.ts";
import { evaluate, type PolicyDocument, parsePolicy } from "./policy.ts";
import type { Principal } from "./principals.ts";
import type { RequiredAccess, ResourceRef } from "./route-access.ts";

interface ResolvedResource {
  arn: string;
  /** How the denial message names the resource: as the request named it (never a table id it did not send). */
  described: string;
  policies: PolicyDocument[];
  /** s3tables:namespace and s3tables:tableName, when the request names them. */
  context: ConditionContext;
}

/** A stored policy that no longer parses (put before policies were validated) denies all but its repair. */
const brokenPolicy: PolicyDocument = {
  statements: [
    {
      effect: "Deny",
      principals: ["*"],
      notPrincipal: false,
      actions: [
        "s3tables:GetTableBucketPolicy",
        "s3tables:PutTableBucketPolicy",
        "s3tables:DeleteTableBucketPolicy",
        "s3tables:GetTablePolicy",
        "s3tables:PutTablePolicy",
        "s3tables:DeleteTablePolicy",
      ],
      notAction: true,
      resources: ["*"],
      notResource: false,
      conditions: [],
    },
  ],
};

/** The condition keys of a namespace and table as a request names them. */
function namedContext(namespace: readonly string[] | undefined, tableName?: string): ConditionContext {
  return {
    ...(namespace && namespace.length > 0 ? { "s3tables:namespace": namespace.join(".") } : {}),
    ...(tableName !== undefined ? { "s3tables:tablename": tableName } : {}),
  };
}

export class Authorizer {
  readonly #buckets: TableBuckets;
  readonly #log: FastifyBaseLogger | undefined;

  constructor(buckets: TableBuckets, log?: FastifyBaseLogger) {
    this.#buckets = buckets;
    this.#log = log;
  }

  /**
   * Throws AuthError ACCESS_DENIED unless every required access is allowed; `request` holds the
   * request's own condition keys (aws:SourceIp).
   */
  async check(
    principal: Principal,
    required: readonly RequiredAccess[],
    request: { sourceIp?: string } = {},
  ): Promise<void> {
    for (const { action, resource } of required) {
      const resolved = await this.#resolve(resource);
      const context: ConditionContext = {
        ...resolved.context,
        ...(request.sourceIp ? { "aws:sourceip": request.sourceIp } : {}),
      };
      const decision = evaluate(
        { principal, action: `s3tables:${action}`, resource: resolved.arn, context },
        resolved.policies,
      );
      if (decision !== "allowed") {
        this.#log?.info(
          { principal: principal.arn, action: `s3tables:${action}`, resource: resolved.arn, decision },
          "access denied",
        );
        throw new AuthError(
          "ACCESS_DENIED",
          `User: ${principal.arn} is not authorized to perform: s3tables:${action} on resource: ${resolved.described}; ` +
            "the bucket owner can allow it in the table bucket or table policy (an explicit Deny always wins)",
        );
      }
    }
  }

  async #policy(resource: string): Promise<PolicyDocument[]> {
    const text = (await this.#buckets.store.getResourceAttributes(resource, "policy"))[""];
    if (text === undefined) return [];
    try {
      return [parsePolicy(text, `the stored policy of ${resource}`)];
    } catch (error) {
      this.#log?.warn(
        { resource, err: error },
        "stored resource policy does not parse; only policy actions are allowed until it is replaced",
      );
      return [brokenPolicy];
    }
  }

  /** The bucket a name or ARN names, if it exists, and its ARN either way. */
  async #bucket(nameOrArn: string): Promise<{ arn: string; record: TableBucketRecord | undefined }> {
    const record = await this.#buckets.store.getBucket(nameOrArn);
    const isArn = nameOrArn.startsWith("arn:");
    if (record && (isArn ? record.arn === nameOrArn : record.name === nameOrArn)) {
      return { arn: record.arn, record };
    }
    return { arn: isArn ? nameOrArn : this.#buckets.arnOf(nameOrArn), record: undefined };
  }

  async #resolve(ref: ResourceRef): Promise<ResolvedResource> {
    switch (ref.kind) {
      case "account":
        return { arn: "*", described: "*", policies: [], context: {} };
      case "bucket": {
        const bucket = await this.#bucket(ref.bucket);
        return {
          arn: bucket.arn,
          described: bucket.arn,
          policies: bucket.record ? await this.#policy(bucket.arn) : [],
          context: namedContext(ref.namespace),
        };
      }
      case "new-table": {
        const bucket = await this.#bucket(ref.bucket);
        return {
          arn: `${bucket.arn}/table/*`,
          described: `new tables in ${bucket.arn}`,
          policies: bucket.record ? await this.#policy(bucket.arn) : [],
          context: namedContext(ref.namespace, ref.name),
        };
      }
      case "table": {
        const bucket = await this.#bucket(ref.bucket);
        const described = `table ${[...ref.namespace, ref.name].join(".")} in ${bucket.arn}`;
        const context = namedContext(ref.namespace, ref.name);
        if (!bucket.record) return { arn: `${bucket.arn}/table/*`, described, policies: [], context };
        const table = await this.#buckets.store.getTableRecord(bucket.record.name, ref.namespace, ref.name);
        const bucketPolicy = await this.#policy(bucket.arn);
        if (!table) return { arn: `${bucket.arn}/table/*`, described, policies: bucketPolicy, context };
        const arn = tableArnOf(bucket.arn, table.tableId);
        return { arn, described, policies: [...bucketPolicy, ...(await this.#policy(arn))], context };
      }
      case "table-arn": {
        const parsed = parseTableArn(ref.arn);
        if (!parsed) return { arn: ref.arn, described: ref.arn, policies: [], context: {} };
        const bucket = await this.#bucket(parsed.bucketArn);
        if (!bucket.record) return { arn: ref.arn, described: ref.arn, policies: [], context: {} };
        const table = await this.#buckets.store.getTableRecordById(bucket.record.name, parsed.tableId);
        const bucketPolicy = await this.#policy(bucket.arn);
        // Addressed by id: the namespace and name are the table's own (none for a missing table).
        return {
          arn: ref.arn,
          described: ref.arn,
          policies: table ? [...bucketPolicy, ...(await this.#policy(ref.arn))] : bucketPolicy,
          context: table ? namedContext(table.namespace, table.name) : {},
        };
      }
    }
  }
}
