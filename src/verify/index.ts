/** `src/verify`: proof that an Iceberg mirror equals its PostgreSQL table at one consistent point. This file is the contract. */
export { VerifyError, type VerifyErrorCode } from "./errors.ts";
export { DEFAULT_MEMORY_LIMIT_ENTRIES, type DifferenceKind } from "./hash-image.ts";
export { formatReport, verdict } from "./report.ts";
export { type DifferenceReport, type VerifyOptions, type VerifyReport, verifyTable } from "./verify.ts";
export { formatSourceTable, parseSourceTable, type SourceTableName } from "./verify-point.ts";
