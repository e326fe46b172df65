/** Table maintenance (compaction, snapshot expiry, unreferenced-file removal): the public API. */
export * from "./compaction.ts";
export * from "./config.ts";
export * from "./errors.ts";
export * from "./expiry.ts";
export * from "./job-status.ts";
export * from "./maintain.ts";
export * from "./unreferenced-files.ts";
