/**
 * Where a dump's files go, and the rules that keep them there: the output is a local path or an `s3://`
 * URL; one file, or a directory of `part-00000.<ext>` files when split by size. DuckDB always writes
 * into a private staging directory first; the finished files are then moved (local: rename within the
 * same filesystem, so readers never see a partial file) or uploaded (S3, through FileIO). Every final
 * location is checked to lie inside the output directory, an existing output is never replaced without
 * `overwrite`, and file names come from Floe, never from the data or the user.
 */
import { mkdir, mkdtemp, readdir, rename, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import type { FileIO } from "../io/file-io.ts";
import { IoError } from "../io/index.ts";
import { parseS3Location } from "../io/s3-file-io.ts";
import { DumpError } from "./errors.ts";

export type DumpFormat = "parquet" | "csv" | "jsonl";

export const dumpFormats: readonly DumpFormat[] = ["parquet", "csv", "jsonl"];

export const extensionOf = (format: DumpFormat): string => format;

/** The name of the `index`-th file of a split dump: `part-00000.parquet`, in DuckDB's write order. */
export function partFileName(index: number, format: DumpFormat): string {
  return `part-${String(index).padStart(5, "0")}.${extensionOf(format)}`;
}

const partFilePattern = /^part-\d{5,}\.(parquet|csv|jsonl)$/;

export type OutputTarget =
  | { kind: "local"; path: string; directory: boolean }
  | { kind: "s3"; location: string; directory: boolean };

export interface OutputOptions {
  /** The output is a directory of part files (a split dump) rather than one file. */
  directory: boolean;
  /** Local outputs must resolve inside this directory (e.g. a server's export root); unchecked if absent. */
  rootDir?: string;
}

/** Validates `out` and says where it points; throws INVALID_OUTPUT for anything malformed or escaping. */
export function resolveOutput(out: string, options: OutputOptions): OutputTarget {
  if (out === "" || out.includes("\0")) {
    throw new DumpError(
      "INVALID_OUTPUT",
      "the output path is empty or contains a NUL character; pass --out PATH",
    );
  }
  if (/^s3:\/\//i.test(out)) {
    const location = options.directory ? out.replace(/\/+$/, "") : out;
    let key: string;
    try {
      key = parseS3Location(location).key;
    } catch (error) {
      throw new DumpError("INVALID_OUTPUT", `output ${out} is not a valid s3://bucket/key URL`, {
        cause: error,
      });
    }
    if (key.split("/").some((segment) => segment === "" || segment === "." || segment === "..")) {
      throw new DumpError(
        "INVALID_OUTPUT",
        `output ${out} has an empty, '.' or '..' key segment; write s3://bucket/plain/key`,
      );
    }
    return { kind: "s3", location, directory: options.directory };
  }
  if (/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(out) && !/^file:\/\//i.test(out)) {
    throw new DumpError("INVALID_OUTPUT", `output ${out}: write a local path or an s3://bucket/key URL`);
  }
  const path = resolve(/^file:\/\//i.test(out) ? new URL(out).pathname : out);
  if (options.rootDir !== undefined) assertInside(resolve(options.rootDir), path, out);
  return { kind: "local", path, directory: options.directory };
}

/** Throws INVALID_OUTPUT unless `path` lies strictly inside `root`. */
export function assertInside(root: string, path: string, shown = path): void {
  const rel = relative(root, path);
  if (rel === "" || rel === ".." || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
    throw new DumpError(
      "INVALID_OUTPUT",
      `output ${shown} resolves to ${path}, outside ${root}; write a path inside that directory`,
    );
  }
}

const exists = async (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

/**
 * Fails fast, before any reading, when the output exists and may not be replaced. A split dump may go to
 * an existing directory that is empty, or (with overwrite) that holds earlier part files.
 */
export async function checkOutputFree(target: OutputTarget, overwrite: boolean, io?: FileIO): Promise<void> {
  if (target.kind === "local") {
    const info = await stat(target.path).catch(() => undefined);
    if (!info) return;
    if (!target.directory) {
      if (info.isDirectory()) {
        throw new DumpError(
          "OUTPUT_EXISTS",
          `output ${target.path} is a directory; pass a file path, or --max-file-size to write part files into it`,
        );
      }
      if (!overwrite) {
        throw new DumpError("OUTPUT_EXISTS", `output ${target.path} exists; pass --overwrite to replace it`);
      }
      return;
    }
    if (!info.isDirectory()) {
      throw new DumpError(
        "OUTPUT_EXISTS",
        `output ${target.path} is a file; a split dump writes a directory`,
      );
    }
    const entries = await readdir(target.path);
    if (entries.length > 0 && !overwrite) {
      throw new DumpError(
        "OUTPUT_EXISTS",
        `output directory ${target.path} is not empty; pass --overwrite to replace its part files, or choose an empty directory`,
      );
    }
    const foreign = entries.filter((e) => !partFilePattern.test(e));
    if (entries.length > 0 && foreign.length > 0) {
      throw new DumpError(
        "OUTPUT_EXISTS",
        `output directory ${target.path} holds files that are not dump parts (${foreign.slice(0, 3).join(", ")}); choose an empty directory`,
      );
    }
    return;
  }
  if (!io) throw new DumpError("INVALID_OPTIONS", `output ${target.location} needs a FileIO for s3://`);
  if (!target.directory && !overwrite && (await io.exists(target.location))) {
    throw new DumpError("OUTPUT_EXISTS", `output ${target.location} exists; pass --overwrite to replace it`);
  }
  if (target.directory && !overwrite) {
    for await (const _file of io.list(`${target.location}/`)) {
      throw new DumpError(
        "OUTPUT_EXISTS",
        `output ${target.location}/ already holds objects; pass --overwrite to replace its part files`,
      );
    }
  }
}

/** A private directory DuckDB writes into: beside a local output (same filesystem), else under tmp. */
export async function createStagingDir(target: OutputTarget, tempDir?: string): Promise<string> {
  if (target.kind === "local") {
    const parent = dirname(target.path);
    await mkdir(parent, { recursive: true });
    return mkdtemp(join(parent, ".floe-dump-"));
  }
  return mkdtemp(join(tempDir ?? tmpdir(), "floe-dump-"));
}

export interface StagedFile {
  /** Where DuckDB wrote it. */
  path: string;
  /** The final name (single file: the output's base name). */
  name: string;
  bytes: number;
}

/** Files DuckDB wrote into a split staging directory (`part_<i>.<ext>`), in index order, renamed. */
export async function stagedParts(dir: string, format: DumpFormat): Promise<StagedFile[]> {
  const entries = await readdir(dir);
  const indexed = entries.flatMap((entry) => {
    const match = /^part_(\d+)\./.exec(entry);
    return match ? [{ entry, index: Number(match[1]) }] : [];
  });
  indexed.sort((a, b) => a.index - b.index);
  return Promise.all(
    indexed.map(async ({ entry }, i) => ({
      path: join(dir, entry),
      name: partFileName(i, format),
      bytes: (await stat(join(dir, entry))).size,
    })),
  );
}

/** Moves or uploads staged files to the target; returns their final locations. */
export async function publishOutput(
  target: OutputTarget,
  files: StagedFile[],
  overwrite: boolean,
  io?: FileIO,
): Promise<string[]> {
  if (target.kind === "local") {
    if (!target.directory) {
      const [file] = files;
      if (!file) return [];
      if (!overwrite && (await exists(target.path))) {
        throw new DumpError(
          "OUTPUT_EXISTS",
          `output ${target.path} appeared while dumping; pass --overwrite`,
        );
      }
      await rename(file.path, target.path);
      return [target.path];
    }
    await mkdir(target.path, { recursive: true });
    if (overwrite) {
      for (const entry of await readdir(target.path)) {
        if (partFilePattern.test(entry)) await rm(join(target.path, entry), { force: true });
      }
    }
    const published: string[] = [];
    for (const file of files) {
      const path = resolve(target.path, file.name);
      assertInside(target.path, path);
      await rename(file.path, path);
      published.push(path);
    }
    return published;
  }
  if (!io) throw new DumpError("INVALID_OPTIONS", `output ${target.location} needs a FileIO for s3://`);
  const locations = target.directory
    ? files.map((file) => `${target.location}/${file.name}`)
    : files.map(() => target.location);
  if (target.directory && overwrite) {
    const stale: string[] = [];
    for await (const listed of io.list(`${target.location}/`)) {
      const name = listed.location.slice(target.location.length + 1);
      if (partFilePattern.test(name) && !locations.includes(listed.location)) stale.push(listed.location);
    }
    await io.deleteMany(stale);
  }
  for (const [i, file] of files.entries()) {
    try {
      await io.writeFromFile(locations[i]!, file.path, { ifNotExists: !overwrite });
    } catch (error) {
      if (error instanceof IoError && error.code === "ALREADY_EXISTS") {
        throw new DumpError(
          "OUTPUT_EXISTS",
          `output ${locations[i]} exists; pass --overwrite to replace it`,
          {
            cause: error,
          },
        );
      }
      throw error;
    }
  }
  return locations;
}
