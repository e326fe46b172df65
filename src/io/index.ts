/**
 * The FileIO entry point: picks the implementation for a location's scheme (`file:` → LocalFileIO,
 * `s3:`/`s3a:`/`s3n:` → S3FileIO) from one validated options object, as a catalog or the CLI holds it.
 */
import { z } from "zod";
import { IoError } from "./errors.ts";
import type { FileIO } from "./file-io.ts";
import { LocalFileIO } from "./local-file-io.ts";
import { S3FileIO, s3FileIoConfigSchema } from "./s3-file-io.ts";

export { IoError, type IoErrorCode } from "./errors.ts";
export type { FileIO, FileStatus, ListedFile, WriteBody, WriteOptions } from "./file-io.ts";
export { LocalFileIO, localLocationOf, localPathOf } from "./local-file-io.ts";
export {
  parseS3FileIoConfig,
  parseS3Location,
  S3FileIO,
  type S3FileIoConfig,
  type S3Location,
  s3FileIoConfigSchema,
} from "./s3-file-io.ts";

export const fileIoOptionsSchema = z.strictObject({
  /** Used for `s3://` locations; all fields optional (the SDK's default chain fills credentials/region). */
  s3: s3FileIoConfigSchema.optional(),
});

export type FileIoOptions = z.input<typeof fileIoOptionsSchema>;

/** The scheme of a location (`file`, `s3`, …), lower-cased, or undefined when it has none. */
export function schemeOf(location: string): string | undefined {
  return /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(location)?.[1]?.toLowerCase();
}

/**
 * A FileIO able to read and write `location` (a warehouse root or any file under it). Throws IoError
 * INVALID_CONFIG for bad options and INVALID_LOCATION for a scheme Floe has no FileIO for.
 */
export function fileIoFor(location: string, options: FileIoOptions = {}): FileIO {
  const parsed = fileIoOptionsSchema.safeParse(options);
  if (!parsed.success) {
    throw new IoError(
      "INVALID_CONFIG",
      `invalid FileIO options; fix these fields:\n${z.prettifyError(parsed.error)}`,
      { cause: parsed.error },
    );
  }
  switch (schemeOf(location)) {
    case "file":
      return new LocalFileIO();
    case "s3":
    case "s3a":
    case "s3n":
      return new S3FileIO(parsed.data.s3 ?? {});
    default:
      throw new IoError(
        "INVALID_LOCATION",
        `${location}: Floe stores tables under file:///absolute/path or s3://bucket/prefix; ` +
          "write the location with one of those schemes",
        { location },
      );
  }
}
