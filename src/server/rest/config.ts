/**
 * `GET /v1/config`: which table bucket a client works in. The `warehouse` is a bucket name or ARN;
 * the answer's `prefix` override (the bucket name) puts every later route under `/v1/{bucket}/`, and
 * `endpoints` lists the routes Floe serves; `idempotency-key-lifetime` says Idempotency-Key is honoured.
 */
import type { FastifyInstance } from "fastify";
import { ServerError } from "../errors.ts";
import { type RestContext, resolveBucket } from "./context.ts";
import type { Schemas } from "./request.ts";

export const ENDPOINTS: readonly string[] = [
  "GET /v1/{prefix}/namespaces",
  "POST /v1/{prefix}/namespaces",
  "GET /v1/{prefix}/namespaces/{namespace}",
  "HEAD /v1/{prefix}/namespaces/{namespace}",
  "DELETE /v1/{prefix}/namespaces/{namespace}",
  "POST /v1/{prefix}/namespaces/{namespace}/properties",
  "GET /v1/{prefix}/namespaces/{namespace}/tables",
  "POST /v1/{prefix}/namespaces/{namespace}/tables",
  "GET /v1/{prefix}/namespaces/{namespace}/tables/{table}",
  "HEAD /v1/{prefix}/namespaces/{namespace}/tables/{table}",
  "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}",
  "DELETE /v1/{prefix}/namespaces/{namespace}/tables/{table}",
  "POST /v1/{prefix}/namespaces/{namespace}/register",
  "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}/unregister",
  "GET /v1/{prefix}/namespaces/{namespace}/tables/{table}/credentials",
  "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}/metrics",
  "POST /v1/{prefix}/tables/rename",
  "POST /v1/{prefix}/transactions/commit",
];

export function registerConfigRoutes(app: FastifyInstance, context: RestContext): void {
  app.get<{ Querystring: { warehouse?: string } }>("/v1/config", async (request) => {
    let warehouse = request.query.warehouse || context.defaultBucket;
    if (!warehouse) {
      const buckets = await context.buckets.list();
      if (buckets.length !== 1 || !buckets[0]) {
        throw new ServerError(
          "BAD_REQUEST",
          buckets.length === 0
            ? "no table bucket exists yet; create one with `floe bucket create NAME` and pass it as the warehouse"
            : `name the table bucket as the warehouse (one of: ${buckets.map((b) => b.name).join(", ")})`,
        );
      }
      warehouse = buckets[0].name;
    }
    const { bucket } = await resolveBucket(context, warehouse);
    const config: Schemas["CatalogConfig"] = {
      defaults: {},
      overrides: { prefix: bucket.name },
      endpoints: [...ENDPOINTS],
      // Its presence tells clients the server honours Idempotency-Key on mutation routes.
      ...(context.idempotency ? { "idempotency-key-lifetime": context.idempotency.lifetime } : {}),
    };
    return config;
  });
}
