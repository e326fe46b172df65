/**
 * Routes of the REST spec that Floe does not serve (views, functions, server-side scan planning,
 * remote signing). They answer UnsupportedOperationException (406) rather than 404 so a
 * client learns the feature is missing, not that an object is; listing views answers the truth: none.
 */
import type { FastifyInstance } from "fastify";
import { ServerError } from "../errors.ts";
import { type RestContext, resolveBucket } from "./context.ts";
import { namespaceFromPath, type Schemas } from "./request.ts";

const unsupported: ReadonlyArray<[method: "GET" | "POST" | "DELETE" | "HEAD", url: string, what: string]> = [
  ["POST", "/v1/:prefix/namespaces/:namespace/views", "views"],
  ["GET", "/v1/:prefix/namespaces/:namespace/views/:view", "views"],
  ["POST", "/v1/:prefix/namespaces/:namespace/views/:view", "views"],
  ["DELETE", "/v1/:prefix/namespaces/:namespace/views/:view", "views"],
  ["HEAD", "/v1/:prefix/namespaces/:namespace/views/:view", "views"],
  ["POST", "/v1/:prefix/views/rename", "views"],
  ["POST", "/v1/:prefix/namespaces/:namespace/register-view", "views"],
  ["GET", "/v1/:prefix/namespaces/:namespace/functions", "functions"],
  ["GET", "/v1/:prefix/namespaces/:namespace/functions/:function", "functions"],
  ["POST", "/v1/:prefix/namespaces/:namespace/tables/:table/plan", "server-side scan planning"],
  ["GET", "/v1/:prefix/namespaces/:namespace/tables/:table/plan/:planId", "server-side scan planning"],
  ["DELETE", "/v1/:prefix/namespaces/:namespace/tables/:table/plan/:planId", "server-side scan planning"],
  ["POST", "/v1/:prefix/namespaces/:namespace/tables/:table/tasks", "server-side scan planning"],
  ["POST", "/v1/:prefix/namespaces/:namespace/tables/:table/sign", "remote signing"],
];

export function registerUnsupportedRoutes(app: FastifyInstance, context: RestContext): void {
  for (const [method, url, what] of unsupported) {
    app.route({
      method,
      url,
      handler: async () => {
        throw new ServerError("UNSUPPORTED_OPERATION", `Floe's catalog does not serve ${what}`);
      },
    });
  }
  app.get<{ Params: { prefix: string; namespace: string } }>(
    "/v1/:prefix/namespaces/:namespace/views",
    async (request) => {
      const { catalog } = await resolveBucket(context, request.params.prefix);
      await catalog.loadNamespaceProperties(namespaceFromPath(request.params.namespace));
      const response: Schemas["ListTablesResponse"] = { identifiers: [], "next-page-token": null };
      return response;
    },
  );
}
