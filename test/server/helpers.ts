/**
 * A `floe serve` app over a fresh data directory for server tests, driven with `app.inject` (anonymous
 * access unless the test passes `auth`), plus the request bodies the tests share.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LightMyRequestResponse } from "fastify";
import { parseJson, stringifyJson } from "../../src/iceberg/json.ts";
import { type AppOptions, buildApp } from "../../src/server/app.ts";
import { openTableBuckets } from "../../src/server/server.ts";
import type { TableBuckets } from "../../src/server/table-buckets.ts";

export async function testServer(
  t: { after(fn: () => unknown): void },
  options: Partial<AppOptions> & { buckets?: TableBuckets } = {},
) {
  const dataDir = mkdtempSync(join(tmpdir(), "floe-server-"));
  const buckets = options.buckets ?? openTableBuckets({ dataDir });
  // Route tests run as the anonymous owner unless they pass access keys.
  const { app, metrics } = await buildApp({ auth: { anonymous: true }, ...options, buckets });
  t.after(async () => {
    await app.close();
    buckets.close();
    await buckets.store.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  const bucket = await buckets.create("warehouse");
  const request = async (
    method: "GET" | "POST" | "DELETE" | "HEAD",
    url: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<LightMyRequestResponse & { data: () => unknown }> => {
    const response = await app.inject({
      method,
      url: url.startsWith("/") ? url : `/iceberg/v1/warehouse/${url}`,
      headers: { ...(body !== undefined ? { "content-type": "application/json" } : {}), ...headers },
      ...(body !== undefined ? { payload: typeof body === "string" ? body : stringifyJson(body) } : {}),
    });
    return Object.assign(response, { data: () => parseJson(response.body, "response") });
  };
  return { app, metrics, buckets, bucket, dataDir, request };
}

export const schemaJson = {
  type: "struct",
  "schema-id": 0,
  fields: [
    { id: 1, name: "id", required: true, type: "long" },
    { id: 2, name: "status", required: false, type: "string" },
  ],
};

export function errorOf(status: number, type: string, message: string) {
  return { error: { message, type, code: status } };
}
