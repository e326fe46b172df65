// S3FileIO's failure handling against a scripted HTTP endpoint (no services): which errors the SDK's
// retry strategy repeats, which it must not, and a conditional PUT whose first response was lost.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { type TestContext, test } from "node:test";
import { S3FileIO } from "../../src/io/index.ts";
import { defer } from "../helpers/services.ts";
import { rejectsWithCode } from "./file-io-contract.ts";

interface SeenRequest {
  method: string;
  path: string;
  ifNoneMatch: string | undefined;
  body: Buffer;
}

type Script = (request: SeenRequest, response: ServerResponse, index: number) => void;

function s3Error(response: ServerResponse, status: number, code: string): void {
  response.writeHead(status, { "content-type": "application/xml" });
  response.end(
    `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>scripted</Message></Error>`,
  );
}

/** An S3 endpoint answering each request with `script`; returns an S3FileIO pointed at it and the log. */
async function scriptedS3(t: TestContext, script: Script, maxAttempts = 4) {
  const seen: SeenRequest[] = [];
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const header = request.headers["if-none-match"];
      const entry: SeenRequest = {
        method: request.method ?? "",
        path: new URL(request.url ?? "/", "http://x").pathname,
        ifNoneMatch: Array.isArray(header) ? header[0] : header,
        body: Buffer.concat(chunks),
      };
      seen.push(entry);
      script(entry, response, seen.length - 1);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  defer(t, () => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = server.address() as AddressInfo;
  const io = new S3FileIO({
    endpoint: `http://127.0.0.1:${port}`,
    region: "us-east-1",
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
    forcePathStyle: true,
    maxAttempts,
  });
  defer(t, () => io.close());
  return { io, seen };
}

test("S3FileIO retries 500/503 with backoff and then succeeds", async (t) => {
  const { io, seen } = await scriptedS3(t, (_request, response, index) => {
    if (index === 0) return s3Error(response, 500, "InternalError");
    if (index === 1) return s3Error(response, 503, "ServiceUnavailable");
    response.writeHead(200, { "content-length": "7", "last-modified": new Date().toUTCString() });
    response.end("payload");
  });
  assert.equal(new TextDecoder().decode(await io.read("s3://bucket/table/file")), "payload");
  assert.equal(seen.length, 3);
  assert.ok(seen.every((r) => r.method === "GET" && r.path === "/bucket/table/file"));
});

test("S3FileIO gives up after maxAttempts with IO_FAILED naming the attempts", async (t) => {
  const { io, seen } = await scriptedS3(
    t,
    (_request, response) => s3Error(response, 503, "ServiceUnavailable"),
    2,
  );
  const error = await rejectsWithCode(io.read("s3://bucket/key"), "IO_FAILED");
  assert.equal(seen.length, 2);
  assert.match(error.message, /after 2 attempt/);
  assert.match(error.message, /s3:\/\/bucket\/key/);
});

test("S3FileIO does not retry client errors: 403 is ACCESS_DENIED, 404 NoSuchKey is NOT_FOUND", async (t) => {
  const { io, seen } = await scriptedS3(t, (request, response) => {
    if (request.path.endsWith("/secret")) return s3Error(response, 403, "AccessDenied");
    return s3Error(response, 404, "NoSuchKey");
  });
  await rejectsWithCode(io.read("s3://bucket/secret"), "ACCESS_DENIED");
  await rejectsWithCode(io.read("s3://bucket/missing"), "NOT_FOUND");
  assert.equal(seen.length, 2);
});

test("a conditional PUT whose response was lost still counts as won when the object is ours", async (t) => {
  const stored = new Map<string, Buffer>();
  const { io, seen } = await scriptedS3(t, (request, response) => {
    const existing = stored.get(request.path);
    if (request.method === "HEAD") {
      if (!existing) return s3Error(response, 404, "NotFound");
      response.writeHead(200, {
        etag: `"${createHash("md5").update(existing).digest("hex")}"`,
        "content-length": String(existing.byteLength),
      });
      return response.end();
    }
    if (request.ifNoneMatch === "*" && existing) return s3Error(response, 412, "PreconditionFailed");
    stored.set(request.path, request.body);
    // The first PUT to /bucket/ours is stored, but the connection drops before the answer.
    if (request.path === "/bucket/ours" && seen.filter((r) => r.method === "PUT").length === 1) {
      response.socket?.destroy();
      return;
    }
    response.writeHead(200, { etag: '"x"' });
    response.end();
  });

  const body = new TextEncoder().encode('{"format-version":2}');
  await io.write("s3://bucket/ours", body, { ifNotExists: true });
  assert.deepEqual(
    seen.map((r) => r.method),
    ["PUT", "PUT", "HEAD"],
    "the SDK retried the dropped PUT, got 412, and the ETag showed the object is ours",
  );

  // Someone else's object at the location is still ALREADY_EXISTS.
  stored.set("/bucket/theirs", Buffer.from("other"));
  await rejectsWithCode(io.write("s3://bucket/theirs", body, { ifNotExists: true }), "ALREADY_EXISTS");
});
