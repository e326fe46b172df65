/**
 * Verifying AWS Signature Version 4 on incoming requests, in both forms: the `Authorization:
 * AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…` header and the presigned query
 * (`X-Amz-Algorithm`, `X-Amz-Credential`, `X-Amz-Date`, `X-Amz-Expires`, `X-Amz-SignedHeaders`,
 * `X-Amz-Signature`). The canonical request, string to sign and signing key follow AWS's SigV4 spec;
 * the payload hash is `x-amz-content-sha256` when sent (checked against the body unless it is
 * `UNSIGNED-PAYLOAD`), else the SHA-256 of the body.
 *
 * Written by hand on node:crypto: npm has no well-kept server-side verifier (the maintained packages,
 * `@smithy/signature-v4` and `aws4`, are signers; re-signing with them to compare would hand the
 * choices a verifier must control — which headers were signed, single vs double URI encoding of the
 * path, presigned handling — to code built for the other side). Clients differ in one place: AWS SDKs
 * and botocore double-encode the path for non-S3 services, S3-style signers encode it once; both
 * canonical paths are tried, and either needs the secret. The credential scope's region and service are
 * taken as the client signed them (one server answers as several endpoint names).
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { AuthError } from "./errors.ts";

export const SIGV4_ALGORITHM = "AWS4-HMAC-SHA256";
export const UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD";
/** AWS's limit between the signing time and the server's clock. */
export const MAX_CLOCK_SKEW_MS = 15 * 60 * 1000;
/** AWS's longest presigned URL lifetime (7 days). */
const MAX_PRESIGNED_EXPIRES_SECONDS = 7 * 24 * 3600;

/** What the verifier needs of an HTTP request, exactly as it came over the wire. */
export interface IncomingRequest {
  method: string;
  /** Path and query as sent (percent-encoded), e.g. `/buckets/arn%3Aaws…?x=1`. */
  url: string;
  /** Node's `rawHeaders`: name, value, name, value, … */
  rawHeaders: readonly string[];
  /** The body bytes (empty when there is none). */
  body: Uint8Array;
}

/** A parsed SigV4 signature, not yet verified. */
export interface SigV4Signature {
  form: "header" | "query";
  accessKeyId: string;
  /** `YYYYMMDD/region/service/aws4_request` */
  scope: string;
  region: string;
  service: string;
  /** `YYYYMMDDTHHMMSSZ` */
  amzDate: string;
  signedHeaders: string[];
  signature: string;
  /** Presigned URLs only. */
  expiresSeconds?: number;
}

const malformed = (message: string) => new AuthError("MALFORMED_CREDENTIALS", message);

export const sha256Hex = (data: string | Uint8Array) => createHash("sha256").update(data).digest("hex");
const hmac = (key: string | Buffer, data: string) => createHmac("sha256", key).update(data).digest();

/** AWS's UriEncode: everything but A-Z a-z 0-9 - _ . ~ as %XX (UTF-8, upper-case hex). */
export function uriEncode(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

function decode(text: string, what: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw malformed(`the ${what} ${JSON.stringify(text)} is not valid percent-encoding`);
  }
}

function splitUrl(url: string): { path: string; query: string } {
  const mark = url.indexOf("?");
  return mark < 0 ? { path: url, query: "" } : { path: url.slice(0, mark), query: url.slice(mark + 1) };
}

/** The query's parameters, decoded, in order. */
function queryParameters(query: string): Array<[string, string]> {
  if (query === "") return [];
  return query
    .split("&")
    .filter((part) => part !== "")
    .map((part) => {
      const eq = part.indexOf("=");
      const name = eq < 0 ? part : part.slice(0, eq);
      const value = eq < 0 ? "" : part.slice(eq + 1);
      return [decode(name, "query parameter name"), decode(value, "query parameter value")];
    });
}

function headerValues(rawHeaders: readonly string[]): Map<string, string[]> {
  const headers = new Map<string, string[]>();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = (rawHeaders[i] as string).toLowerCase();
    const values = headers.get(name) ?? [];
    values.push(rawHeaders[i + 1] as string);
    headers.set(name, values);
  }
  return headers;
}

function parseScope(
  credential: string,
): Pick<SigV4Signature, "accessKeyId" | "scope" | "region" | "service"> {
  const parts = credential.split("/");
  if (parts.length !== 5 || parts[4] !== "aws4_request" || !/^\d{8}$/.test(parts[1] ?? "")) {
    throw malformed(
      `the SigV4 credential ${JSON.stringify(credential)} must be ACCESS_KEY_ID/YYYYMMDD/REGION/SERVICE/aws4_request`,
    );
  }
  const [accessKeyId, , region, service] = parts as [string, string, string, string, string];
  return { accessKeyId, scope: parts.slice(1).join("/"), region, service };
}

function checkAmzDate(amzDate: string | undefined): string {
  if (!amzDate || !/^\d{8}T\d{6}Z$/.test(amzDate)) {
    throw malformed(
      `a SigV4-signed request needs x-amz-date (or X-Amz-Date) as YYYYMMDDTHHMMSSZ, got ${JSON.stringify(amzDate ?? null)}`,
    );
  }
  return amzDate;
}

/**
 * The request's SigV4 signature, or undefined when the request is not SigV4-signed (no `AWS4-HMAC-SHA256`
 * Authorization header and no `X-Amz-Algorithm` query parameter). Malformed signatures throw.
 */
export function parseSigV4(request: IncomingRequest): SigV4Signature | undefined {
  const headers = headerValues(request.rawHeaders);
  const authorization = headers.get("authorization")?.[0]?.trim();
  if (authorization?.startsWith(`${SIGV4_ALGORITHM} `)) {
    const fields = new Map<string, string>();
    for (const part of authorization.slice(SIGV4_ALGORITHM.length).split(",")) {
      const eq = part.indexOf("=");
      if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
    }
    const credential = fields.get("Credential");
    const signedHeaders = fields.get("SignedHeaders");
    const signature = fields.get("Signature");
    if (!credential || !signedHeaders || !signature) {
      throw malformed("the SigV4 Authorization header needs Credential=, SignedHeaders= and Signature=");
    }
    return {
      form: "header",
      ...parseScope(credential),
      amzDate: checkAmzDate(headers.get("x-amz-date")?.[0]?.trim()),
      signedHeaders: signedHeaders.split(";"),
      signature: signature.toLowerCase(),
    };
  }
  const query = new Map(queryParameters(splitUrl(request.url).query));
  const algorithm = query.get("X-Amz-Algorithm");
  if (algorithm === undefined) return undefined;
  if (algorithm !== SIGV4_ALGORITHM) {
    throw malformed(`X-Amz-Algorithm must be ${SIGV4_ALGORITHM}, got ${JSON.stringify(algorithm)}`);
  }
  const credential = query.get("X-Amz-Credential");
  const signedHeaders = query.get("X-Amz-SignedHeaders");
  const signature = query.get("X-Amz-Signature");
  const expires = Number(query.get("X-Amz-Expires"));
  if (!credential || !signedHeaders || !signature) {
    throw malformed("a presigned URL needs X-Amz-Credential, X-Amz-SignedHeaders and X-Amz-Signature");
  }
  if (!Number.isInteger(expires) || expires < 1 || expires > MAX_PRESIGNED_EXPIRES_SECONDS) {
    throw malformed(`X-Amz-Expires must be 1..${MAX_PRESIGNED_EXPIRES_SECONDS} seconds`);
  }
  return {
    form: "query",
    ...parseScope(credential),
    amzDate: checkAmzDate(query.get("X-Amz-Date")),
    signedHeaders: signedHeaders.split(";"),
    signature: signature.toLowerCase(),
    expiresSeconds: expires,
  };
}

function amzDateMs(amzDate: string): number {
  const iso = `${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`;
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw malformed(`x-amz-date ${amzDate} is not a date`);
  return ms;
}

/** Rejects a signature made too long ago or in the future (header form), or a presigned URL past its expiry. */
function checkTime(signature: SigV4Signature, nowMs: number): void {
  const signedAt = amzDateMs(signature.amzDate);
  if (signature.scope.slice(0, 8) !== signature.amzDate.slice(0, 8)) {
    throw malformed(
      `the credential scope date ${signature.scope.slice(0, 8)} differs from the request date ${signature.amzDate}`,
    );
  }
  if (signedAt - nowMs > MAX_CLOCK_SKEW_MS) {
    throw new AuthError(
      "REQUEST_EXPIRED",
      `Signature not yet current: ${signature.amzDate} is more than 15 minutes ahead of the server's clock; check the client's clock`,
    );
  }
  if (signature.form === "query") {
    if (nowMs > signedAt + (signature.expiresSeconds ?? 0) * 1000) {
      throw new AuthError(
        "REQUEST_EXPIRED",
        `the presigned URL expired at ${new Date(signedAt + (signature.expiresSeconds ?? 0) * 1000).toISOString()}; presign it again`,
      );
    }
  } else if (nowMs - signedAt > MAX_CLOCK_SKEW_MS) {
    throw new AuthError(
      "REQUEST_EXPIRED",
      `Signature expired: ${signature.amzDate} is more than 15 minutes before the server's clock (${new Date(nowMs).toISOString()}); check the client's clock`,
    );
  }
}

/** The canonical paths clients sign: double-encoded (AWS SDKs, botocore for non-S3 services) and S3-style. */
function canonicalPaths(path: string): string[] {
  const raw = path === "" ? "/" : path;
  const segments: string[] = [];
  for (const segment of raw.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") segments.pop();
    else segments.push(segment);
  }
  const normalized = `/${segments.join("/")}${segments.length > 0 && raw.endsWith("/") ? "/" : ""}`;
  const doubleEncoded = uriEncode(normalized).replace(/%2F/g, "/");
  const encodedOnce = raw
    .split("/")
    .map((segment) => uriEncode(decode(segment, "path segment")))
    .join("/");
  return [...new Set([doubleEncoded, raw, encodedOnce])];
}

function canonicalQuery(query: string, presigned: boolean): string {
  return queryParameters(query)
    .filter(([name]) => !(presigned && name === "X-Amz-Signature"))
    .map(([name, value]) => [uriEncode(name), uriEncode(value)] as const)
    .sort(([an, av], [bn, bv]) => (an < bn ? -1 : an > bn ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join("&");
}

function canonicalHeaders(signedHeaders: readonly string[], headers: Map<string, string[]>): string {
  if (!signedHeaders.includes("host")) {
    throw malformed("SignedHeaders must include host");
  }
  return signedHeaders
    .map((name) => {
      const values = headers.get(name);
      if (values === undefined) {
        throw new AuthError(
          "SIGNATURE_MISMATCH",
          `the signed header ${name} is missing from the request; sign only headers you send`,
        );
      }
      return `${name}:${values.map((v) => v.trim().replace(/\s+/g, " ")).join(",")}\n`;
    })
    .join("");
}

/** The payload hashes the signature may cover. */
function payloadHashes(signature: SigV4Signature, request: IncomingRequest, headers: Map<string, string[]>) {
  const query =
    signature.form === "query" ? new Map(queryParameters(splitUrl(request.url).query)) : undefined;
  const declared = headers.get("x-amz-content-sha256")?.[0]?.trim() ?? query?.get("X-Amz-Content-Sha256");
  if (declared !== undefined) {
    if (declared === UNSIGNED_PAYLOAD) return [declared];
    if (declared.startsWith("STREAMING-")) {
      throw malformed(`x-amz-content-sha256 ${declared}: chunked (streaming) signing is not supported`);
    }
    if (!/^[0-9a-f]{64}$/i.test(declared)) {
      throw malformed("x-amz-content-sha256 must be the body's hex SHA-256 or UNSIGNED-PAYLOAD");
    }
    if (declared.toLowerCase() !== sha256Hex(request.body)) {
      throw new AuthError(
        "SIGNATURE_MISMATCH",
        "the body's SHA-256 differs from x-amz-content-sha256: the body changed after it was signed",
      );
    }
    return [declared];
  }
  const bodyHash = sha256Hex(request.body);
  // S3-style presigned URLs leave the body unsigned.
  return signature.form === "query" ? [bodyHash, UNSIGNED_PAYLOAD] : [bodyHash];
}

/** The SigV4 signing key: HMAC chain over date, region, service and `aws4_request`. */
export function signingKey(secretAccessKey: string, scope: string): Buffer {
  const [date, region, service] = scope.split("/") as [string, string, string];
  return hmac(hmac(hmac(hmac(`AWS4${secretAccessKey}`, date), region), service), "aws4_request");
}

/** The canonical requests this signature may have been computed over (several when clients' encodings differ). */
export function canonicalRequests(signature: SigV4Signature, request: IncomingRequest): string[] {
  const headers = headerValues(request.rawHeaders);
  const { path, query } = splitUrl(request.url);
  const queryString = canonicalQuery(query, signature.form === "query");
  const headerBlock = canonicalHeaders(signature.signedHeaders, headers);
  const signed = signature.signedHeaders.join(";");
  const out: string[] = [];
  for (const payload of payloadHashes(signature, request, headers)) {
    for (const canonicalPath of canonicalPaths(path)) {
      out.push(
        [request.method.toUpperCase(), canonicalPath, queryString, headerBlock, signed, payload].join("\n"),
      );
    }
  }
  return out;
}

/**
 * Checks the signature with the key's secret: the time window first, then the signature over each
 * candidate canonical request. Throws AuthError REQUEST_EXPIRED or SIGNATURE_MISMATCH.
 */
export function verifySigV4(
  signature: SigV4Signature,
  request: IncomingRequest,
  secretAccessKey: string,
  nowMs: number = Date.now(),
): void {
  checkTime(signature, nowMs);
  if (!/^[0-9a-f]{64}$/.test(signature.signature)) {
    throw malformed("the SigV4 signature must be 64 hex digits");
  }
  const key = signingKey(secretAccessKey, signature.scope);
  const expected = Buffer.from(signature.signature, "hex");
  for (const canonical of canonicalRequests(signature, request)) {
    const stringToSign = [SIGV4_ALGORITHM, signature.amzDate, signature.scope, sha256Hex(canonical)].join(
      "\n",
    );
    if (timingSafeEqual(createHmac("sha256", key).update(stringToSign).digest(), expected)) return;
  }
  throw new AuthError(
    "SIGNATURE_MISMATCH",
    "The request signature we calculated does not match the signature you provided. Check your AWS secret access key and signing method.",
  );
}
