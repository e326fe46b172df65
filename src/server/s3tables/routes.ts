/**
 * The S3 Tables control API at the root of the server, as s3tables.<region>.amazonaws.com serves it
 * (REST-JSON; requests are SigV4-signed by the SDK and checked, with the resource policies, by
 * `../auth/guard.ts` before any handler here runs). Errors leave
 * through `errors.ts` with the exception name in `x-amzn-errortype` and `{message}` as the body.
 */
import type { FastifyInstance } from "fastify";
import { registerBucketRoutes } from "./buckets.ts";
import type { S3TablesContext } from "./context.ts";
import { ERROR_TYPE_HEADER, s3TablesErrorResponse } from "./errors.ts";
import { registerMaintenanceRoutes } from "./maintenance.ts";
import { registerNamespaceRoutes } from "./namespaces.ts";
import { registerPolicyRoutes } from "./policies.ts";
import { registerTableRoutes } from "./tables.ts";
import { registerTagRoutes } from "./tags.ts";

export function s3TablesPlugin(context: S3TablesContext) {
  return async (app: FastifyInstance) => {
    app.setErrorHandler((error, request, reply) => {
      const mapped = s3TablesErrorResponse(error);
      if (mapped.internal) request.log.error({ err: error }, "request failed");
      else request.log.info({ status: mapped.status, error: mapped.body.message }, "request rejected");
      return reply.code(mapped.status).header(ERROR_TYPE_HEADER, mapped.type).send(mapped.body);
    });
    registerBucketRoutes(app, context);
    registerNamespaceRoutes(app, context);
    registerTableRoutes(app, context);
    registerMaintenanceRoutes(app, context);
    registerPolicyRoutes(app, context);
    registerTagRoutes(app, context);
  };
}
