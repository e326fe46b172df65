/**
 * The guard every request of `floe serve` passes, as Fastify hooks: the body is kept as received bytes
 * (SigV4 signs them) and parsed afterwards; then, before any handler runs, the caller is authenticated
 * (401 otherwise) and the route's required actions (`route-access.ts`) are authorized against the
 * resource policies (403 otherwise). Body errors surface only after authentication, so an unauthenticated
 * caller learns nothing but 401. Registering a route without an access rule fails at startup.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { ServerMetrics } from "../metrics.ts";
import type { TableBuckets } from "../table-buckets.ts";
import { authenticate } from "./authenticate.ts";
import { Authorizer } from "./authorize.ts";
import { AuthError } from "./errors.ts";
import type { Principal, Principals } from "./principals.ts";
import { type AccessContext, routeAccess } from "./route-access.ts";

declare module "fastify" {
  interface FastifyRequest {
    /** Who sent the request (set by the guard before the handler runs). */
    principal: Principal | undefined;
    /** The body exactly as received (empty when there was none). */
    rawBody: Buffer | undefined;
    /** A body that did not parse; reported after authentication. */
    bodyError: Error | undefined;
  }
}

export interface GuardOptions {
  principals: Principals;
  buckets: TableBuckets;
  metrics: ServerMetrics;
  access: AccessContext;
}

const EMPTY = Buffer.alloc(0);

/** Keeps the body's bytes and defers its parse errors: use as the content-type parsers' body step. */
export function keepRawBody(
  request: FastifyRequest,
  body: Buffer,
  parse: (text: string) => unknown,
): unknown {
  request.rawBody = body;
  const text = body.toString("utf8");
  if (text.trim() === "") return undefined;
  try {
    return parse(text);
  } catch (error) {
    request.bodyError = error as Error;
    return undefined;
  }
}

export function installGuard(app: FastifyInstance, options: GuardOptions): void {
  const authorizer = new Authorizer(options.buckets, app.log);
  app.decorateRequest("principal", undefined);
  app.decorateRequest("rawBody", undefined);
  app.decorateRequest("bodyError", undefined);

  app.addHook("onRoute", (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) {
      if (!routeAccess(method, route.url)) {
        throw new AuthError(
          "NOT_CONFIGURED",
          `route ${method} ${route.url} has no access rule; add it to src/server/auth/route-access.ts`,
        );
      }
    }
  });

  app.addHook("preValidation", async (request) => {
    const url = request.routeOptions.url;
    const rule = url === undefined ? undefined : routeAccess(request.method, url);
    try {
      if (rule?.kind !== "public") {
        request.principal = authenticate(
          {
            method: request.method,
            url: request.raw.url ?? request.url,
            rawHeaders: request.raw.rawHeaders,
            body: request.rawBody ?? EMPTY,
          },
          options.principals,
        );
      }
      if (request.bodyError) throw request.bodyError;
      if (rule?.kind === "policy" && request.principal) {
        await authorizer.check(request.principal, rule.access(request, options.access), {
          sourceIp: request.ip,
        });
      }
    } catch (error) {
      if (error instanceof AuthError) options.metrics.authRejections.inc({ reason: error.code });
      throw error;
    }
  });
}
