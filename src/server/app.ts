/**
 * The `floe serve` HTTP app: the Iceberg REST catalog under `/iceberg`, the S3 Tables control API at
 * the root (`s3tables/`), `/healthz` and Prometheus `/metrics` (both open). Every other route passes the
 * auth guard (`auth/guard.ts`): SigV4 or a bearer token (or anonymous, only when enabled), then the
 * resource policies. Bodies are kept as received bytes (SigV4 signs them), parsed with Floe's lossless
 * JSON (snapshot ids are 63-bit and would be rounded by JSON.parse) or as a form (the OAuth2 token
 * endpoint), and replies written losslessly; every REST error leaves through `rest/error-model.ts`. The
 * factory does not listen, so tests drive it with `app.inject` or a real port.
 */
import Fastify, { type FastifyInstance, type FastifyServerOptions } from "fastify";
import { parseJson, stringifyJson } from "../iceberg/json.ts";
import { installGuard, keepRawBody } from "./auth/guard.ts";
import { type AuthSettings, Principals } from "./auth/principals.ts";
import { ServerMetrics } from "./metrics.ts";
import type { RestContext } from "./rest/context.ts";
import { errorBody, errorResponse } from "./rest/error-model.ts";
import { DEFAULT_IDEMPOTENCY_KEY_LIFETIME_SECONDS, IdempotencyKeys } from "./rest/idempotency.ts";
import { DEFAULT_LOAD_TABLE_CACHE_BYTES, LoadTableCache } from "./rest/load-table-cache.ts";
import { restCatalogPlugin } from "./rest/routes.ts";
import { s3TablesPlugin } from "./s3tables/routes.ts";
import { idempotencyStoreFor } from "./store/idempotency-store.ts";
import type { TableBuckets } from "./table-buckets.ts";

declare module "fastify" {
  interface FastifyContextConfig {
    /** A commit route: an unexpected failure answers CommitStateUnknownException. */
    commit?: boolean;
  }
}

export const REST_PREFIX = "/iceberg";

export interface AppOptions {
  buckets: TableBuckets;
  /** Access keys and/or anonymous access; with neither the app refuses to build (AuthError NOT_CONFIGURED). */
  auth: AuthSettings;
  /** Fastify's (pino) logger settings; JSON lines on stdout. Off when absent. */
  logger?: FastifyServerOptions["logger"];
  /** Larger request bodies get 413. */
  bodyLimitBytes?: number;
  /** The bucket `/v1/config` uses when the client names no warehouse (else: the only bucket, if one). */
  defaultBucket?: string;
  /** Attempts per commit request when it loses pointer races to concurrent commits. */
  commitAttempts?: number;
  /**
   * How long a client may retry a mutation with one Idempotency-Key (advertised in `/v1/config`); 0 turns
   * Idempotency-Key handling off. Default 1800 (PT30M).
   */
  idempotencyKeyLifetimeSeconds?: number;
  /** How long a retry waits for the first request with its key to finish before answering 503. */
  idempotencyWaitMs?: number;
  /** Serialized table metadata kept for loadTable (default 64 MiB; 0 = serialize every response). */
  loadTableCacheBytes?: number;
}

export interface FloeApp {
  app: FastifyInstance;
  metrics: ServerMetrics;
}

export const DEFAULT_BODY_LIMIT_BYTES = 16 * 1024 * 1024;

export async function buildApp(options: AppOptions): Promise<FloeApp> {
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES,
    exposeHeadRoutes: false,
    // Namespaces with several levels and long table names travel as one path parameter.
    routerOptions: { maxParamLength: 2048 },
  });
  const metrics = new ServerMetrics();
  const principals = new Principals(options.auth, options.buckets.accountId);
  const lifetimeSeconds = options.idempotencyKeyLifetimeSeconds ?? DEFAULT_IDEMPOTENCY_KEY_LIFETIME_SECONDS;
  const context: RestContext = {
    buckets: options.buckets,
    metrics,
    principals,
    defaultBucket: options.defaultBucket,
    commitAttempts: options.commitAttempts ?? 20,
    idempotency:
      lifetimeSeconds > 0
        ? new IdempotencyKeys(idempotencyStoreFor(options.buckets.store), metrics, {
            lifetimeSeconds,
            ...(options.idempotencyWaitMs !== undefined ? { waitMs: options.idempotencyWaitMs } : {}),
          })
        : undefined,
    loadTableCache: new LoadTableCache(
      options.loadTableCacheBytes ?? DEFAULT_LOAD_TABLE_CACHE_BYTES,
      metrics,
    ),
  };

  app.removeAllContentTypeParsers();
  const asBuffer = (body: string | Buffer) => (typeof body === "string" ? Buffer.from(body) : body);
  app.addContentTypeParser(
    "application/x-www-form-urlencoded",
    { parseAs: "buffer" },
    (request, body, done) =>
      done(
        null,
        keepRawBody(request, asBuffer(body), (text) => Object.fromEntries(new URLSearchParams(text))),
      ),
  );
  app.addContentTypeParser("*", { parseAs: "buffer" }, (request, body, done) =>
    done(
      null,
      keepRawBody(request, asBuffer(body), (text) => parseJson(text, "the request body")),
    ),
  );
  app.setReplySerializer((payload) => stringifyJson(payload));
  installGuard(app, {
    principals,
    buckets: options.buckets,
    metrics,
    access: { defaultBucket: options.defaultBucket },
  });

  app.setErrorHandler((error, request, reply) => {
    const mapped = errorResponse(error, { duringCommit: request.routeOptions.config?.commit === true });
    if (mapped.internal) request.log.error({ err: error }, "request failed");
    else request.log.info({ status: mapped.status, error: mapped.body.error.message }, "request rejected");
    // The S3 Tables SDK reads the exception name from this header (unmatched routes, auth failures).
    return reply.code(mapped.status).header("x-amzn-errortype", mapped.body.error.type).send(mapped.body);
  });
  app.setNotFoundHandler((request, reply) =>
    reply
      .code(404)
      // The S3 Tables SDK reads the exception name from this header; Iceberg clients read the body.
      .header("x-amzn-errortype", "NotFoundException")
      .send(
        errorBody(404, "NotFoundException", `no route for ${request.method} ${request.url.split("?")[0]}`),
      ),
  );

  app.addHook("onResponse", async (request, reply) => {
    const route = request.routeOptions.url ?? "unmatched";
    metrics.httpRequests.inc({ method: request.method, route, status: String(reply.statusCode) });
    metrics.httpDuration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
  });

  app.get("/healthz", async (_request, reply) => {
    try {
      await options.buckets.store.ping();
      return { status: "ok" };
    } catch (error) {
      return reply.code(503).send({ status: "unavailable", message: String(error) });
    }
  });
  app.get("/metrics", async (_request, reply) =>
    reply
      .header("content-type", metrics.contentType)
      .serializer(String)
      .send(await metrics.text()),
  );

  await app.register(restCatalogPlugin(context), { prefix: REST_PREFIX });
  await app.register(s3TablesPlugin({ buckets: options.buckets }));
  return { app, metrics };
}
