/**
 * S3 Tables' naming rules: table buckets 3-63 lowercase letters, digits and hyphens, a letter or digit
 * at both ends, no reserved prefix (`xn--`, `sthree-`, `amzn-s3-demo-`, `aws`) or suffix (`-s3alias`,
 * `--ol-s3`, `--x-s3`, `--table-s3`); namespaces and tables 1-255 lowercase letters, digits and
 * underscores, a letter or digit at both ends, namespaces not starting with `aws`.
 */
import { S3TablesError } from "./errors.ts";

const bucketNamePattern = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;
const reservedBucketPrefixes = ["xn--", "sthree-", "amzn-s3-demo-", "aws"];
const reservedBucketSuffixes = ["-s3alias", "--ol-s3", "--x-s3", "--table-s3"];
const tableNamePattern = /^[a-z0-9](?:[a-z0-9_]{0,253}[a-z0-9])?$/;

/** The reason `name` is not a valid table bucket name, or undefined. */
export function bucketNameProblem(name: string): string | undefined {
  if (!bucketNamePattern.test(name)) {
    return "use 3-63 lowercase letters, digits and hyphens, starting and ending with a letter or digit";
  }
  const prefix = reservedBucketPrefixes.find((p) => name.startsWith(p));
  if (prefix) return `the prefix ${JSON.stringify(prefix)} is reserved`;
  const suffix = reservedBucketSuffixes.find((s) => name.endsWith(s));
  if (suffix) return `the suffix ${JSON.stringify(suffix)} is reserved`;
  return undefined;
}

export function validateTableBucketName(name: string): void {
  const problem = bucketNameProblem(name);
  if (problem) {
    throw new S3TablesError("BAD_REQUEST", `invalid table bucket name ${JSON.stringify(name)}: ${problem}`);
  }
}

function nameProblem(kind: "namespace" | "table", name: string): string | undefined {
  if (!tableNamePattern.test(name)) {
    return "use 1-255 lowercase letters, digits and underscores, starting and ending with a letter or digit";
  }
  if (kind === "namespace" && name.startsWith("aws")) return 'the prefix "aws" is reserved';
  return undefined;
}

export function validateNamespaceName(name: string): void {
  const problem = nameProblem("namespace", name);
  if (problem)
    throw new S3TablesError("BAD_REQUEST", `invalid namespace name ${JSON.stringify(name)}: ${problem}`);
}

export function validateTableName(name: string): void {
  const problem = nameProblem("table", name);
  if (problem)
    throw new S3TablesError("BAD_REQUEST", `invalid table name ${JSON.stringify(name)}: ${problem}`);
}
