/** Namespace routes: list (with pagination), create, load, exists, drop, and property updates. */
import type { FastifyInstance } from "fastify";
import { ServerError } from "../errors.ts";
import { type RestContext, resolveBucket } from "./context.ts";
import {
  bodyObject,
  namespaceFromJson,
  namespaceFromPath,
  type PageQuery,
  paginate,
  type Schemas,
  stringList,
  stringMap,
} from "./request.ts";

interface PrefixParams {
  prefix: string;
}

interface NamespaceParams extends PrefixParams {
  namespace: string;
}

export function registerNamespaceRoutes(app: FastifyInstance, context: RestContext): void {
  app.get<{ Params: PrefixParams; Querystring: PageQuery & { parent?: string } }>(
    "/v1/:prefix/namespaces",
    async (request) => {
      const { catalog } = await resolveBucket(context, request.params.prefix);
      const parent = request.query.parent ? namespaceFromPath(request.query.parent) : undefined;
      const namespaces = await catalog.listNamespaces(parent);
      const { page, nextPageToken } = paginate(namespaces, (ns) => JSON.stringify(ns), request.query);
      const response: Schemas["ListNamespacesResponse"] = {
        namespaces: page.map((ns) => [...ns]),
        "next-page-token": nextPageToken,
      };
      return response;
    },
  );

  app.post<{ Params: PrefixParams }>("/v1/:prefix/namespaces", async (request) => {
    const { catalog } = await resolveBucket(context, request.params.prefix);
    const body = bodyObject(request.body, "CreateNamespaceRequest");
    const namespace = namespaceFromJson(body.namespace, "namespace");
    const properties = stringMap(body.properties, "properties");
    await catalog.createNamespace(namespace, properties);
    const response: Schemas["CreateNamespaceResponse"] = { namespace: [...namespace], properties };
    return response;
  });

  app.get<{ Params: NamespaceParams }>("/v1/:prefix/namespaces/:namespace", async (request) => {
    const { catalog } = await resolveBucket(context, request.params.prefix);
    const namespace = namespaceFromPath(request.params.namespace);
    const response: Schemas["GetNamespaceResponse"] = {
      namespace: [...namespace],
      properties: await catalog.loadNamespaceProperties(namespace),
    };
    return response;
  });

  app.head<{ Params: NamespaceParams }>("/v1/:prefix/namespaces/:namespace", async (request, reply) => {
    const { catalog } = await resolveBucket(context, request.params.prefix);
    const namespace = namespaceFromPath(request.params.namespace);
    // loadNamespaceProperties answers NoSuchNamespaceException (404) for a missing namespace.
    await catalog.loadNamespaceProperties(namespace);
    return reply.code(204).send();
  });

  app.delete<{ Params: NamespaceParams }>("/v1/:prefix/namespaces/:namespace", async (request, reply) => {
    const { catalog } = await resolveBucket(context, request.params.prefix);
    await catalog.dropNamespace(namespaceFromPath(request.params.namespace));
    return reply.code(204).send();
  });

  app.post<{ Params: NamespaceParams }>("/v1/:prefix/namespaces/:namespace/properties", async (request) => {
    const { catalog } = await resolveBucket(context, request.params.prefix);
    const namespace = namespaceFromPath(request.params.namespace);
    const body = bodyObject(request.body, "UpdateNamespacePropertiesRequest");
    const updates = stringMap(body.updates, "updates");
    const removals = stringList(body.removals, "removals");
    const both = removals.filter((key) => key in updates);
    if (both.length > 0) {
      throw new ServerError(
        "UNPROCESSABLE",
        `properties ${both.join(", ")} are both updated and removed; send each key in one of the two`,
      );
    }
    const before = await catalog.loadNamespaceProperties(namespace);
    await catalog.updateNamespaceProperties(namespace, updates, removals);
    const response: Schemas["UpdateNamespacePropertiesResponse"] = {
      updated: Object.keys(updates),
      removed: removals.filter((key) => key in before),
      missing: removals.filter((key) => !(key in before)),
    };
    return response;
  });
}
