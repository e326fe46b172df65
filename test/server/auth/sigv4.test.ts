// SigV4 verification against an independent signer: requests signed by the AWS SDK's own
// @smithy/signature-v4 (header and presigned forms, double- and single-encoded paths) verify; a wrong
// secret, a changed body, query or header, a stale or future date, or an expired presigned URL do not.
import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import { test } from "node:test";
import { SignatureV4 } from "@smithy/signature-v4";
import { AuthError } from "../../../src/server/auth/errors.ts";
import {
  type IncomingRequest,
  parseSigV4,
  UNSIGNED_PAYLOAD,
  uriEncode,
  verifySigV4,
} from "../../../src/server/auth/sigv4.ts";

/** node:crypto as the signer's hash (the SDK normally brings @aws-crypto). */
class NodeSha256 {
  readonly #hash;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.#hash =
      secret === undefined
        ? createHash("sha256")
        : createHmac("sha256", typeof secret === "string" ? secret : Buffer.from(secret as ArrayBuffer));
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.#hash.update(typeof data === "string" ? data : Buffer.from(data as ArrayBuffer));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.#hash.digest());
  }
}

const credentials = { accessKeyId: "AKIDFLOE", secretAccessKey: "s3cr3t/+key" };
const signedAt = new Date("2026-03-01T12:00:00Z");
const nowMs = signedAt.getTime() + 5_000;

function signer(options: { uriEscapePath?: boolean; secret?: string } = {}) {
  return new SignatureV4({
    credentials: { ...credentials, secretAccessKey: options.secret ?? credentials.secretAccessKey },
    region: "eu-west-1",
    service: "s3tables",
    sha256: NodeSha256,
    uriEscapePath: options.uriEscapePath ?? true,
  });
}

interface Unsigned {
  method: string;
  /** Already percent-encoded, as on the wire. */
  path: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: string;
}

function httpRequest(request: Unsigned) {
  return {
    method: request.method,
    protocol: "http:",
    hostname: "127.0.0.1",
    port: 8181,
    path: request.path,
    query: request.query ?? {},
    headers: { host: "127.0.0.1:8181", ...(request.headers ?? {}) } as Record<string, string>,
    ...(request.body !== undefined ? { body: request.body } : {}),
  };
}

/** The request as the server receives it. */
function received(signed: ReturnType<typeof httpRequest>, body = signed.body ?? ""): IncomingRequest {
  const query = Object.entries(signed.query as Record<string, string>)
    .map(([k, v]) => `${uriEncode(k)}=${uriEncode(v)}`)
    .join("&");
  return {
    method: signed.method,
    url: `${signed.path}${query ? `?${query}` : ""}`,
    rawHeaders: Object.entries(signed.headers).flat(),
    body: Buffer.from(body),
  };
}

async function signedRequest(request: Unsigned, options: { uriEscapePath?: boolean; secret?: string } = {}) {
  return (await signer(options).sign(httpRequest(request), { signingDate: signedAt })) as ReturnType<
    typeof httpRequest
  >;
}

function verify(request: IncomingRequest, at = nowMs): void {
  const signature = parseSigV4(request);
  assert.ok(signature, "the request is SigV4-signed");
  verifySigV4(signature, request, credentials.secretAccessKey, at);
}

const isAuth = (code: string) => (error: unknown) => error instanceof AuthError && error.code === code;

const arnPath = `/buckets/${encodeURIComponent("arn:aws:s3tables:eu-west-1:111122223333:bucket/lake")}/policy`;

test("header form: the SDK's signature verifies, with a double-encoded ARN path, query and JSON body", async () => {
  const signed = await signedRequest({
    method: "PUT",
    path: arnPath,
    query: { tagKeys: "a b", other: "x/y" },
    headers: { "content-type": "application/json" },
    body: '{"resourcePolicy":"{}"}',
  });
  const request = received(signed);
  const signature = parseSigV4(request);
  assert.equal(signature?.form, "header");
  assert.equal(signature?.accessKeyId, credentials.accessKeyId);
  assert.equal(signature?.scope, "20260301/eu-west-1/s3tables/aws4_request");
  verify(request);
});

test("S3-style signers that encode the path once verify too", async () => {
  const signed = await signedRequest({ method: "GET", path: arnPath }, { uriEscapePath: false });
  verify(received(signed));
});

test("a wrong secret, a changed body, query or signed header is SIGNATURE_MISMATCH", async () => {
  const request = { method: "POST", path: "/iceberg/v1/lake/namespaces", body: '{"namespace":["a"]}' };
  const wrongSecret = await signedRequest(request, { secret: "not-the-secret" });
  assert.throws(() => verify(received(wrongSecret)), isAuth("SIGNATURE_MISMATCH"));
  const signed = await signedRequest(request);
  verify(received(signed));
  assert.throws(() => verify(received(signed, '{"namespace":["b"]}')), isAuth("SIGNATURE_MISMATCH"));
  const withQuery = await signedRequest({ ...request, query: { pageSize: "10" } });
  assert.throws(
    () => verify(received({ ...withQuery, query: { pageSize: "1000" } })),
    isAuth("SIGNATURE_MISMATCH"),
  );
  const withHeader = await signedRequest({ ...request, headers: { "x-floe-note": "one" } });
  assert.throws(
    () => verify(received({ ...withHeader, headers: { ...withHeader.headers, "x-floe-note": "two" } })),
    isAuth("SIGNATURE_MISMATCH"),
  );
});

test("x-amz-content-sha256: UNSIGNED-PAYLOAD leaves the body out; a declared hash must match the body", async () => {
  const unsigned = await signedRequest({
    method: "PUT",
    path: "/x",
    headers: { "x-amz-content-sha256": UNSIGNED_PAYLOAD },
    body: "original",
  });
  verify(received(unsigned, "anything else"));
  const declared = await signedRequest({
    method: "PUT",
    path: "/x",
    headers: { "x-amz-content-sha256": createHash("sha256").update("original").digest("hex") },
    body: "original",
  });
  verify(received(declared));
  assert.throws(() => verify(received(declared, "tampered")), isAuth("SIGNATURE_MISMATCH"));
});

test("the signing time must be within 15 minutes of the server's clock", async () => {
  const signed = received(await signedRequest({ method: "GET", path: "/buckets" }));
  verify(signed, signedAt.getTime() + 14 * 60_000);
  verify(signed, signedAt.getTime() - 14 * 60_000);
  assert.throws(() => verify(signed, signedAt.getTime() + 16 * 60_000), isAuth("REQUEST_EXPIRED"));
  assert.throws(() => verify(signed, signedAt.getTime() - 16 * 60_000), isAuth("REQUEST_EXPIRED"));
});

test("presigned URLs verify until X-Amz-Expires; their query cannot be changed", async () => {
  const presigned = (await signer().presign(
    httpRequest({ method: "GET", path: arnPath, query: { maxTables: "5" } }),
    { signingDate: signedAt, expiresIn: 300 },
  )) as ReturnType<typeof httpRequest>;
  const request = received(presigned);
  assert.match(request.url, /X-Amz-Signature=[0-9a-f]{64}/);
  const signature = parseSigV4(request);
  assert.equal(signature?.form, "query");
  assert.equal(signature?.expiresSeconds, 300);
  verify(request);
  verify(request, signedAt.getTime() + 299_000);
  assert.throws(() => verify(request, signedAt.getTime() + 301_000), isAuth("REQUEST_EXPIRED"));
  assert.throws(
    () => verify({ ...request, url: request.url.replace("maxTables=5", "maxTables=6") }),
    isAuth("SIGNATURE_MISMATCH"),
  );
});

test("unsigned requests parse as none; broken signatures are MALFORMED_CREDENTIALS", () => {
  const base: IncomingRequest = {
    method: "GET",
    url: "/buckets",
    rawHeaders: ["host", "h"],
    body: Buffer.alloc(0),
  };
  assert.equal(parseSigV4(base), undefined);
  assert.equal(parseSigV4({ ...base, rawHeaders: ["authorization", "Bearer abc"] }), undefined);
  const header = (value: string, date = "20260301T120000Z") => ({
    ...base,
    rawHeaders: ["host", "h", "authorization", value, "x-amz-date", date],
  });
  assert.throws(() => parseSigV4(header("AWS4-HMAC-SHA256 Credential=a/b")), isAuth("MALFORMED_CREDENTIALS"));
  assert.throws(
    () =>
      parseSigV4(
        header(
          "AWS4-HMAC-SHA256 Credential=AK/20260301/r/s/aws4_request, SignedHeaders=host, Signature=00",
          "yesterday",
        ),
      ),
    isAuth("MALFORMED_CREDENTIALS"),
  );
  const noHost = header(
    `AWS4-HMAC-SHA256 Credential=AK/20260301/r/s/aws4_request, SignedHeaders=x-amz-date, Signature=${"0".repeat(64)}`,
  );
  const parsed = parseSigV4(noHost);
  assert.ok(parsed);
  assert.throws(() => verifySigV4(parsed, noHost, "secret", nowMs), isAuth("MALFORMED_CREDENTIALS"));
  assert.throws(
    () => parseSigV4({ ...base, url: "/buckets?X-Amz-Algorithm=AWS4-HMAC-SHA1" }),
    isAuth("MALFORMED_CREDENTIALS"),
  );
});
