/**
 * The Iceberg REST catalog, registered under one prefix (`/iceberg`): the OAuth2 token endpoint, config,
 * namespaces, tables, transactions, and the Idempotency-Key hooks of its mutation routes.
 */
import type { FastifyInstance } from "fastify";
import { registerOAuthRoutes } from "../auth/oauth.ts";
import { registerConfigRoutes } from "./config.ts";
import type { RestContext } from "./context.ts";
import { installIdempotency } from "./idempotency.ts";
import { registerNamespaceRoutes } from "./namespaces.ts";
import { registerTableRoutes } from "./tables.ts";
import { registerUnsupportedRoutes } from "./unsupported.ts";

export function restCatalogPlugin(context: RestContext) {
  return async (app: FastifyInstance) => {
    if (context.idempotency) installIdempotency(app, context.idempotency, app.prefix);
    registerOAuthRoutes(app, context.principals);
    registerConfigRoutes(app, context);
    registerNamespaceRoutes(app, context);
    registerTableRoutes(app, context);
    registerUnsupportedRoutes(app, context);
  };
}
