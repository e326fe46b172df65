/**
 * S3 Tables ARNs and ids: `arn:aws:s3tables:<region>:<account>:bucket/<name>` for table buckets and
 * `…:bucket/<name>/table/<tableId>` for tables; bucket and namespace ids are derived from what
 * identifies them, so they need no storage of their own.
 */
import { createHash } from "node:crypto";
import { S3TablesError } from "./errors.ts";

const bucketArnPattern = /^arn:aws[a-z-]*:s3tables:([a-z0-9-]*):(\d{12}):bucket\/([^/]+)$/;
const tableArnPattern = /^arn:aws[a-z-]*:s3tables:([a-z0-9-]*):(\d{12}):bucket\/([^/]+)\/table\/([^/]+)$/;

export interface TableArn {
  bucketArn: string;
  bucketName: string;
  tableId: string;
}

/** The bucket name inside a table bucket ARN; BadRequestException when it is no such ARN. */
export function parseBucketArn(arn: string): string {
  const match = bucketArnPattern.exec(arn);
  if (!match?.[3]) {
    throw new S3TablesError(
      "BAD_REQUEST",
      `invalid table bucket ARN ${JSON.stringify(arn)}: expected arn:aws:s3tables:<region>:<account>:bucket/<name>`,
    );
  }
  return match[3];
}

/** A table ARN's parts, or undefined when `arn` is not one. */
export function parseTableArn(arn: string): TableArn | undefined {
  const match = tableArnPattern.exec(arn);
  if (!match?.[3] || !match[4]) return undefined;
  return { bucketArn: arn.slice(0, arn.indexOf("/table/")), bucketName: match[3], tableId: match[4] };
}

export const tableArnOf = (bucketArn: string, tableId: string) => `${bucketArn}/table/${tableId}`;

/** A UUID-shaped id derived from `parts` (stable, so it needs no column). */
export function derivedId(...parts: string[]): string {
  const hex = createHash("sha256").update(parts.join("\u0000")).digest("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** The opaque versionToken: changes with every pointer change, never repeats across drop-and-create. */
export function versionTokenOf(tableId: string, version: number): string {
  return createHash("sha256").update(`${tableId}:${version}`).digest("hex").slice(0, 32);
}
