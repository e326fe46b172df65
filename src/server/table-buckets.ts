/**
 * Table buckets, as S3 Tables has them: a named, ARN-addressed container of namespaces and tables
 * with one storage root (a local directory by default, or any S3-compatible prefix). Each bucket is
 * one Iceberg warehouse: the REST catalog's `warehouse` is the bucket's name or ARN, and its catalog
 * is a StoreCatalog over the bucket's slice of the server store.
 */
import { resolve } from "node:path";
import { StoreCatalog } from "../catalog/store-catalog.ts";
import {
  type FileIO,
  type FileIoOptions,
  fileIoFor,
  localLocationOf,
  localPathOf,
  schemeOf,
} from "../io/index.ts";
import { ServerError } from "./errors.ts";
import { bucketNameProblem } from "./s3tables/names.ts";
import type { ServerStore, TableBucketRecord } from "./store/store.ts";

export interface TableBucketsOptions {
  store: ServerStore;
  /** Buckets created without `storage` keep their tables under `<dataDir>/buckets/<name>`. */
  dataDir: string;
  /** Used in bucket ARNs: `arn:aws:s3tables:<region>:<accountId>:bucket/<name>`. */
  region?: string;
  accountId?: string;
  /** FileIO settings (S3 endpoint, credentials) for buckets stored in S3. */
  io?: FileIoOptions;
  /**
   * Where buckets created without explicit storage (the S3 Tables API's CreateTableBucket, `floe bucket
   * create NAME`) keep their tables: `<storageRoot>/<name>`, e.g. `s3://lake/tables` puts bucket `sales`
   * at `s3://lake/tables/sales`. Default: `file://<dataDir>/buckets`.
   */
  storageRoot?: string;
}

/** S3 Tables' rules (`s3tables/names.ts`): 3-63 lowercase letters, digits and hyphens, no reserved affixes. */
export function validateBucketName(name: string): void {
  const problem = bucketNameProblem(name);
  if (problem) {
    throw new ServerError("BAD_REQUEST", `invalid table bucket name ${JSON.stringify(name)}: ${problem}`);
  }
}

export class TableBuckets {
  readonly store: ServerStore;
  readonly dataDir: string;
  readonly region: string;
  readonly accountId: string;
  /** Parent location of buckets created without explicit storage. */
  readonly storageRoot: string;
  readonly #io: FileIoOptions;
  readonly #catalogs = new Map<string, { storage: string; catalog: StoreCatalog; io: FileIO }>();

  constructor(options: TableBucketsOptions) {
    this.store = options.store;
    this.dataDir = resolve(options.dataDir);
    this.region = options.region ?? "us-east-1";
    this.accountId = options.accountId ?? "000000000000";
    this.#io = options.io ?? {};
    this.storageRoot = normalizeStorage(
      options.storageRoot ?? localLocationOf(resolve(this.dataDir, "buckets")),
    );
    fileIoFor(this.storageRoot, this.#io).close(); // a root Floe has no FileIO for fails at startup
  }

  arnOf(name: string): string {
    return `arn:aws:s3tables:${this.region}:${this.accountId}:bucket/${name}`;
  }

  async create(name: string, options: { storage?: string } = {}): Promise<TableBucketRecord> {
    validateBucketName(name);
    const storage = normalizeStorage(options.storage ?? `${this.storageRoot}/${name}`);
    fileIoFor(storage, this.#io).close(); // rejects schemes Floe has no FileIO for, and bad S3 settings
    const record: TableBucketRecord = {
      name,
      arn: this.arnOf(name),
      storage,
      createdAt: new Date().toISOString(),
    };
    await this.store.createBucket(record);
    return record;
  }

  list(): Promise<TableBucketRecord[]> {
    return this.store.listBuckets();
  }

  /** The bucket named by a name or ARN; NO_SUCH_WAREHOUSE when there is none. */
  async get(nameOrArn: string): Promise<TableBucketRecord> {
    const bucket = await this.store.getBucket(nameOrArn);
    if (!bucket) {
      throw new ServerError(
        "NO_SUCH_WAREHOUSE",
        `table bucket ${JSON.stringify(nameOrArn)} does not exist; create it with \`floe bucket create NAME\``,
      );
    }
    return bucket;
  }

  /** Deletes an empty bucket's record; its storage is left as it is. */
  async delete(nameOrArn: string): Promise<TableBucketRecord> {
    const bucket = await this.get(nameOrArn);
    const usage = await this.store.bucketUsage(bucket.name);
    if (usage.namespaces > 0 || usage.tables > 0) {
      throw new ServerError(
        "BUCKET_NOT_EMPTY",
        `table bucket ${bucket.name} still holds ${usage.tables} table(s) in ${usage.namespaces} namespace(s); drop them first`,
      );
    }
    await this.store.deleteBucket(bucket.name);
    this.#catalogs.delete(bucket.name);
    return bucket;
  }

  /** The bucket's catalog (cached; recreated if a bucket of the same name came back with other storage). */
  catalog(bucket: TableBucketRecord): StoreCatalog {
    return this.#entry(bucket).catalog;
  }

  /** The FileIO of the bucket's storage (the one its catalog uses). */
  io(bucket: TableBucketRecord): FileIO {
    return this.#entry(bucket).io;
  }

  #entry(bucket: TableBucketRecord) {
    const cached = this.#catalogs.get(bucket.name);
    if (cached && cached.storage === bucket.storage) return cached;
    const io = fileIoFor(bucket.storage, this.#io);
    const catalog = new StoreCatalog({
      name: bucket.name,
      store: this.store.catalogStore(bucket.name),
      io,
      warehouse: bucket.storage,
    });
    const entry = { storage: bucket.storage, catalog, io };
    this.#catalogs.set(bucket.name, entry);
    return entry;
  }

  /** Closes the FileIOs of every bucket used so far. */
  close(): void {
    for (const entry of this.#catalogs.values()) entry.io.close();
    this.#catalogs.clear();
  }

  /**
   * FileIO properties a REST client needs to read and write the bucket's files (the Iceberg
   * catalog-properties names): for S3 buckets the endpoint, region, path style and static keys the
   * server itself uses; nothing for local buckets.
   */
  storageProperties(bucket: TableBucketRecord): Record<string, string> {
    const scheme = schemeOf(bucket.storage);
    if (scheme !== "s3" && scheme !== "s3a" && scheme !== "s3n") return {};
    const s3 = this.#io.s3 ?? {};
    const properties: Record<string, string> = {};
    if (s3.endpoint) properties["s3.endpoint"] = s3.endpoint;
    if (s3.region) properties["s3.region"] = properties["client.region"] = s3.region;
    if (s3.forcePathStyle) properties["s3.path-style-access"] = "true";
    if (s3.credentials) {
      properties["s3.access-key-id"] = s3.credentials.accessKeyId;
      properties["s3.secret-access-key"] = s3.credentials.secretAccessKey;
      if (s3.credentials.sessionToken) properties["s3.session-token"] = s3.credentials.sessionToken;
    }
    return properties;
  }
}

function normalizeStorage(storage: string): string {
  const trimmed = storage.replace(/\/+$/, "");
  if (schemeOf(trimmed) === "file") localPathOf(trimmed, { allowDirectory: true });
  return trimmed;
}
