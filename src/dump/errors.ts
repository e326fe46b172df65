/**
 * The error type of dump and query: bad filters and options, outputs that would overwrite or escape
 * their folder, and failures of the SQL the user gave. The CLI prints `code: message`.
 */
import { FloeError } from "../errors.ts";

export type DumpErrorCode =
  /** A `--where` text outside the filter grammar (where.ts), or one that names an unknown column. */
  | "INVALID_FILTER"
  /** Options that contradict each other or are out of range (format, sizes, snapshot selection). */
  | "INVALID_OPTIONS"
  /** An output path that is malformed or would resolve outside the directory it must stay in. */
  | "INVALID_OUTPUT"
  /** The output exists and `overwrite` was not given. */
  | "OUTPUT_EXISTS"
  /** A query that is not one read-only statement. */
  | "INVALID_QUERY"
  /** DuckDB failed while reading the table or writing the output. */
  | "WRITE_FAILED"
  /** DuckDB rejected or failed the user's query. */
  | "QUERY_FAILED";

export class DumpError extends FloeError<DumpErrorCode> {}
