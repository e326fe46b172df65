/**
 * FileIO on S3 and S3-compatible stores (SeaweedFS, MinIO) through AWS SDK v3: single PUTs for small
 * bodies, multipart uploads (`@aws-sdk/lib-storage`) for large or streamed ones, conditional writes with
 * `If-None-Match: *`, and SDK errors translated to IoError codes.
 *
 * Retries: we configure the SDK's own retry strategy (`retryMode` "standard" or "adaptive", `maxAttempts`)
 * rather than wrapping calls. It already classifies what is worth retrying — throttling (SlowDown, 429),
 * 500/502/503/504, timeouts, ECONNRESET and friends, clock skew — and backs off exponentially with full
 * jitter (bigger base delay for throttling, honouring Retry-After), with a retry budget that stops
 * retry storms. It retries per HTTP request, so a failed UploadPart is resent alone instead of the whole
 * object; a wrapper could only restart whole operations, and could not replay a consumed stream. Every
 * body we hand the SDK is a buffer (lib-storage buffers each part), so every request is replayable.
 *
 * `ifNotExists`: AWS S3 and the development SeaweedFS both enforce `If-None-Match: *` on PutObject and on
 * CompleteMultipartUpload, also between racing writers (checked by test/services/s3-file-io.test.ts).
 * SeaweedFS serializes racing conditional writes on one key behind a lock, so losers may wait ~1 s each.
 * A store that ignores the header would let two writers both "win": don't use one for a warehouse.
 */
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, readFile, rename, rm, stat as statLocal } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { z } from "zod";
import { checkRangeArguments, IoError, type IoErrorCode, rangeOutsideFile } from "./errors.ts";
import type { FileIO, FileStatus, ListedFile, WriteBody, WriteOptions } from "./file-io.ts";

const MiB = 1024 * 1024;
/** S3's limits: parts are 5 MiB to 5 GiB (except the last); DeleteObjects takes 1000 keys. */
const minPartSizeBytes = 5 * MiB;
const maxPartSizeBytes = 5 * 1024 * MiB;
const deleteBatchSize = 1000;

export const s3FileIoConfigSchema = z.strictObject({
  /** A custom endpoint (SeaweedFS, MinIO, LocalStack); omit for AWS. */
  endpoint: z.url({ protocol: /^https?$/ }).optional(),
  /** Defaults to the SDK's chain (AWS_REGION, ~/.aws/config), or us-east-1 with a custom endpoint. */
  region: z.string().min(1).optional(),
  /** Static keys; omit to use the SDK's default provider chain (env, profile, IMDS, web identity). */
  credentials: z
    .strictObject({
      accessKeyId: z.string().min(1),
      secretAccessKey: z.string().min(1),
      sessionToken: z.string().min(1).optional(),
    })
    .optional(),
  /** `http://endpoint/bucket/key` instead of `http://bucket.endpoint/key`; most self-hosted stores need it. */
  forcePathStyle: z.boolean().default(false),
  /** Attempts per HTTP request, the first included. */
  maxAttempts: z.int().min(1).max(20).default(5),
  /** "adaptive" also rate-limits the client after throttling responses. */
  retryMode: z.enum(["standard", "adaptive"]).default("standard"),
  /** In-memory bodies larger than this go through a multipart upload. */
  multipartThresholdBytes: z
    .int()
    .min(minPartSizeBytes)
    .default(16 * MiB),
  partSizeBytes: z
    .int()
    .min(minPartSizeBytes)
    .max(maxPartSizeBytes)
    .default(8 * MiB),
  /** Parts uploaded in parallel; memory use is about uploadConcurrency × partSizeBytes per upload. */
  uploadConcurrency: z.int().min(1).max(64).default(4),
  connectionTimeoutMs: z.int().min(1).default(10_000),
  /** A socket silent for this long is dropped (and the request retried). */
  idleTimeoutMs: z.int().min(1).default(60_000),
});

/** What callers pass (defaults applied on parse). */
export type S3FileIoConfig = z.input<typeof s3FileIoConfigSchema>;
type ResolvedS3FileIoConfig = z.output<typeof s3FileIoConfigSchema>;

/** Throws IoError INVALID_CONFIG naming every bad field. */
export function parseS3FileIoConfig(config: unknown): ResolvedS3FileIoConfig {
  const parsed = s3FileIoConfigSchema.safeParse(config ?? {});
  if (!parsed.success) {
    throw new IoError(
      "INVALID_CONFIG",
      `invalid S3 FileIO configuration; fix these fields:\n${z.prettifyError(parsed.error)}`,
      { cause: parsed.error },
    );
  }
  return parsed.data;
}

export interface S3Location {
  /** `s3`, or `s3a`/`s3n` as Hadoop-written tables spell it; kept so listed locations match written ones. */
  scheme: string;
  bucket: string;
  key: string;
}

/**
 * Splits `s3://bucket/key`. The key is taken literally (no percent-decoding): S3 keys are arbitrary
 * strings and Iceberg compares locations as strings.
 */
export function parseS3Location(location: string, options: { allowPrefix?: boolean } = {}): S3Location {
  const match = /^(s3|s3a|s3n):\/\/([^/]*)(?:\/(.*))?$/s.exec(location);
  const scheme = match?.[1];
  const bucket = match?.[2];
  const key = match?.[3] ?? "";
  if (scheme === undefined || bucket === undefined || !/^[a-z0-9][a-z0-9.\-_]{1,254}$/.test(bucket)) {
    throw new IoError(
      "INVALID_LOCATION",
      `${location} is not an S3 location; write s3://bucket/key (lower-case bucket name, 3–255 characters)`,
      { location },
    );
  }
  if (!options.allowPrefix && (key === "" || key.endsWith("/"))) {
    throw new IoError(
      "INVALID_LOCATION",
      `${location} names a bucket or a "directory", not an object; add the object's key: s3://${bucket}/path/to/file`,
      { location },
    );
  }
  return { scheme, bucket, key };
}

/** The fields of SDK service exceptions and Node network errors that we classify by. */
interface SdkErrorShape {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number; attempts?: number };
}

function asSdkError(error: unknown): SdkErrorShape {
  return typeof error === "object" && error !== null ? (error as SdkErrorShape) : {};
}

type Operation = "read" | "write" | "delete" | "list";

const permissionFor: Record<Operation, string> = {
  read: "s3:GetObject",
  write: "s3:PutObject",
  delete: "s3:DeleteObject",
  list: "s3:ListBucket",
};

function toIoError(error: unknown, location: string, operation: Operation): IoError {
  if (error instanceof IoError) return error;
  const { name = "", code, message = String(error), $metadata } = asSdkError(error);
  const status = $metadata?.httpStatusCode;
  const attempts = $metadata?.attempts ?? 1;
  const bucket = /^[a-z0-9]+:\/\/([^/]*)/.exec(location)?.[1] ?? location;
  const make = (ioCode: IoErrorCode, text: string) => new IoError(ioCode, text, { location, cause: error });

  if (name === "NoSuchBucket") {
    return make("NOT_FOUND", `bucket ${bucket} does not exist (${operation} ${location}); create it first`);
  }
  if (name === "NoSuchKey" || name === "NotFound" || status === 404) {
    return make(
      "NOT_FOUND",
      `no object at ${location}; check the location, or whether the file was removed (e.g. by snapshot expiry)`,
    );
  }
  // ConditionalRequestConflict (409): another conditional write to the key is in flight. Reporting it
  // as "you did not win" is the safe side: the caller re-reads, and retries if nobody won after all.
  if (name === "PreconditionFailed" || name === "ConditionalRequestConflict" || status === 412) {
    return make(
      "ALREADY_EXISTS",
      `${location} already exists, so the write (if not exists) lost to another writer; ` +
        "re-read the current state and retry with a new location",
    );
  }
  if (
    name === "AccessDenied" ||
    name === "InvalidAccessKeyId" ||
    name === "SignatureDoesNotMatch" ||
    name === "Forbidden" ||
    status === 403
  ) {
    return make(
      "ACCESS_DENIED",
      `S3 denied ${operation} on ${location} (${name || status}); check the access key and secret, and ` +
        `that its policy allows ${permissionFor[operation]} on bucket ${bucket}`,
    );
  }
  if (name === "InvalidRange" || status === 416) {
    return make("INVALID_RANGE", `the requested range lies outside ${location}`);
  }
  const what = [name, code, status].filter((x) => x !== undefined && x !== "").join(" ");
  return make(
    "IO_FAILED",
    `${operation} ${location} failed after ${attempts} attempt(s): ${what ? `${what}: ` : ""}${message}; ` +
      "check that the endpoint is reachable and healthy, then retry",
  );
}

function md5Hex(bytes: Uint8Array): string {
  return createHash("md5").update(bytes).digest("hex");
}

export class S3FileIO implements FileIO {
  readonly client: S3Client;
  private readonly config: ResolvedS3FileIoConfig;

  constructor(config: S3FileIoConfig = {}) {
    this.config = parseS3FileIoConfig(config);
    const { endpoint, region, credentials, forcePathStyle, maxAttempts, retryMode } = this.config;
    this.client = new S3Client({
      endpoint,
      region: region ?? (endpoint === undefined ? undefined : "us-east-1"),
      credentials,
      forcePathStyle,
      maxAttempts,
      retryMode,
      requestHandler: {
        connectionTimeout: this.config.connectionTimeoutMs,
        socketTimeout: this.config.idleTimeoutMs,
      },
    });
  }

  async read(location: string): Promise<Uint8Array> {
    const { bucket, key } = parseS3Location(location);
    try {
      const response = await this.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      if (!response.Body) return new Uint8Array(0);
      return await response.Body.transformToByteArray();
    } catch (error) {
      throw toIoError(error, location, "read");
    }
  }

  async readRange(location: string, offset: number, length: number): Promise<Uint8Array> {
    const { bucket, key } = parseS3Location(location);
    checkRangeArguments(location, offset, length);
    if (length === 0) {
      // HTTP cannot express an empty range; check the bounds against the object's size instead.
      const { size } = await this.stat(location);
      if (offset > size) throw rangeOutsideFile(location, offset, length, size);
      return new Uint8Array(0);
    }
    let bytes: Uint8Array;
    let rangeHonoured: boolean;
    try {
      const response = await this.client.send(
        new GetObjectCommand({ Bucket: bucket, Key: key, Range: `bytes=${offset}-${offset + length - 1}` }),
      );
      bytes = response.Body ? await response.Body.transformToByteArray() : new Uint8Array(0);
      rangeHonoured = response.ContentRange !== undefined;
    } catch (error) {
      const ioError = toIoError(error, location, "read");
      if (ioError.code !== "INVALID_RANGE") throw ioError;
      const { size } = await this.stat(location);
      throw rangeOutsideFile(location, offset, length, size);
    }
    // A store that ignores Range answers 200 with the whole object.
    if (!rangeHonoured && bytes.byteLength > length) {
      if (offset + length > bytes.byteLength)
        throw rangeOutsideFile(location, offset, length, bytes.byteLength);
      return bytes.subarray(offset, offset + length);
    }
    if (bytes.byteLength < length) {
      const { size } = await this.stat(location);
      throw rangeOutsideFile(location, offset, length, size);
    }
    return bytes;
  }

  async stat(location: string): Promise<FileStatus> {
    const { bucket, key } = parseS3Location(location);
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return { size: head.ContentLength ?? 0, lastModified: head.LastModified ?? new Date(0) };
    } catch (error) {
      throw toIoError(error, location, "read");
    }
  }

  async exists(location: string): Promise<boolean> {
    try {
      await this.stat(location);
      return true;
    } catch (error) {
      if (error instanceof IoError && error.code === "NOT_FOUND") return false;
      throw error;
    }
  }

  async write(location: string, body: WriteBody, options: WriteOptions = {}): Promise<void> {
    const target = parseS3Location(location);
    if (body instanceof Uint8Array && body.byteLength <= this.config.multipartThresholdBytes) {
      await this.putObject(location, target, body, options);
      return;
    }
    const stream =
      body instanceof Uint8Array || body instanceof Readable
        ? body
        : Readable.from(body, { objectMode: false });
    await this.upload(location, target, stream, undefined, options);
  }

  async writeFromFile(location: string, localPath: string, options: WriteOptions = {}): Promise<void> {
    const target = parseS3Location(location);
    let size: number;
    try {
      size = (await statLocal(localPath)).size;
    } catch (error) {
      throw new IoError("NOT_FOUND", `cannot upload ${localPath} to ${location}: no such local file`, {
        location,
        cause: error,
      });
    }
    if (size <= this.config.multipartThresholdBytes) {
      await this.putObject(location, target, await readFile(localPath), options);
      return;
    }
    await this.upload(location, target, createReadStream(localPath), size, options);
  }

  async downloadToFile(location: string, localPath: string): Promise<void> {
    const { bucket, key } = parseS3Location(location);
    const temp = join(
      dirname(localPath),
      `.${basename(localPath)}.floe-tmp-${randomBytes(6).toString("hex")}`,
    );
    try {
      await mkdir(dirname(localPath), { recursive: true });
      const response = await this.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      // In Node the SDK's body is an http.IncomingMessage, a Readable: streamed, never held in memory.
      const body = response.Body ?? Readable.from([]);
      if (!(body instanceof Readable)) {
        throw new IoError("IO_FAILED", `downloading ${location}: the HTTP client returned no Node stream`);
      }
      await pipeline(body, createWriteStream(temp, { flags: "wx" }));
      await rename(temp, localPath);
    } catch (error) {
      await removeQuietly(temp);
      throw toIoError(error, location, "read");
    }
  }

  async delete(location: string): Promise<void> {
    const { bucket, key } = parseS3Location(location);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    } catch (error) {
      const ioError = toIoError(error, location, "delete");
      // S3 answers 204 for a missing key; some compatible stores say 404 NoSuchKey. Both mean "gone".
      if (ioError.code === "NOT_FOUND" && asSdkError(error).name !== "NoSuchBucket") return;
      throw ioError;
    }
  }

  async deleteMany(locations: Iterable<string>): Promise<void> {
    const pending = new Map<string, { location: string; key: string }[]>();
    for (const location of locations) {
      const { bucket, key } = parseS3Location(location);
      let batch = pending.get(bucket);
      if (!batch) {
        batch = [];
        pending.set(bucket, batch);
      }
      batch.push({ location, key });
      if (batch.length === deleteBatchSize) {
        pending.delete(bucket);
        await this.deleteBatch(bucket, batch);
      }
    }
    for (const [bucket, batch] of pending) await this.deleteBatch(bucket, batch);
  }

  async *list(prefix: string): AsyncIterable<ListedFile> {
    const { scheme, bucket, key: keyPrefix } = parseS3Location(prefix, { allowPrefix: true });
    let continuationToken: string | undefined;
    do {
      let page: Awaited<ReturnType<typeof this.listPage>>;
      try {
        page = await this.listPage(bucket, keyPrefix, continuationToken);
      } catch (error) {
        throw toIoError(error, prefix, "list");
      }
      for (const object of page.Contents ?? []) {
        if (object.Key === undefined) continue;
        yield {
          location: `${scheme}://${bucket}/${object.Key}`,
          size: object.Size ?? 0,
          lastModified: object.LastModified ?? new Date(0),
        };
      }
      continuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (continuationToken);
  }

  close(): void {
    this.client.destroy();
  }

  private listPage(bucket: string, prefix: string, continuationToken: string | undefined) {
    return this.client.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        Prefix: prefix === "" ? undefined : prefix,
        ContinuationToken: continuationToken,
      }),
    );
  }

  private async putObject(
    location: string,
    target: S3Location,
    bytes: Uint8Array,
    options: WriteOptions,
  ): Promise<void> {
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: target.bucket,
          Key: target.key,
          Body: bytes,
          ContentLength: bytes.byteLength,
          IfNoneMatch: options.ifNotExists ? "*" : undefined,
        }),
      );
    } catch (error) {
      const ioError = toIoError(error, location, "write");
      if (ioError.code === "ALREADY_EXISTS" && (asSdkError(error).$metadata?.attempts ?? 1) > 1) {
        // The SDK retried: an earlier attempt may have stored the object and lost only its response,
        // and the retry then tripped over our own write. Our write won if the stored object is ours.
        if (await this.storedObjectIs(target, bytes)) return;
      }
      throw ioError;
    }
  }

  /** True when the object's ETag is the MD5 of `bytes` (the ETag of a single-PUT object without SSE-KMS). */
  private async storedObjectIs(target: S3Location, bytes: Uint8Array): Promise<boolean> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: target.bucket, Key: target.key }));
      return head.ETag?.replaceAll('"', "") === md5Hex(bytes);
    } catch {
      return false;
    }
  }

  /**
   * Multipart upload; lib-storage splits the body into `partSizeBytes` buffers (so each UploadPart is
   * retried alone), sends small bodies as one PUT, and aborts the upload on failure so no parts linger.
   * `IfNoneMatch` travels to the PUT or to CompleteMultipartUpload, where S3 (and SeaweedFS) check it.
   */
  private async upload(
    location: string,
    target: S3Location,
    body: Uint8Array | Readable,
    contentLength: number | undefined,
    options: WriteOptions,
  ): Promise<void> {
    const upload = new Upload({
      client: this.client,
      params: {
        Bucket: target.bucket,
        Key: target.key,
        Body: body,
        ContentLength: contentLength,
        IfNoneMatch: options.ifNotExists ? "*" : undefined,
      },
      partSize: this.config.partSizeBytes,
      queueSize: this.config.uploadConcurrency,
      leavePartsOnError: false,
    });
    try {
      await upload.done();
    } catch (error) {
      throw toIoError(error, location, "write");
    }
  }

  private async deleteBatch(bucket: string, batch: { location: string; key: string }[]): Promise<void> {
    const first = batch[0];
    if (!first) return;
    let errors: { Key?: string; Code?: string; Message?: string }[];
    try {
      const response = await this.client.send(
        new DeleteObjectsCommand({
          Bucket: bucket,
          Delete: { Objects: batch.map(({ key }) => ({ Key: key })), Quiet: true },
        }),
      );
      errors = (response.Errors ?? []).filter((e) => e.Code !== "NoSuchKey");
    } catch (error) {
      throw toIoError(error, first.location, "delete");
    }
    const failed = errors[0];
    if (!failed) return;
    const sample = errors
      .slice(0, 5)
      .map((e) => `s3://${bucket}/${e.Key ?? "?"} (${e.Code ?? "?"}: ${e.Message ?? ""})`)
      .join(", ");
    const location = `s3://${bucket}/${failed.Key ?? ""}`;
    throw new IoError(
      failed.Code === "AccessDenied" ? "ACCESS_DENIED" : "IO_FAILED",
      `could not delete ${errors.length} of ${batch.length} objects in bucket ${bucket}: ${sample}; ` +
        "check the credentials' s3:DeleteObject permission, then retry (deletes are idempotent)",
      { location },
    );
  }
}

/** Removes a temp file; a failure here must not mask the error being reported (or fail a good write). */
async function removeQuietly(path: string): Promise<void> {
  await rm(path, { force: true }).catch(() => {});
}
