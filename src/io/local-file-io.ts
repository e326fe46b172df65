/**
 * FileIO on the local filesystem, for the embedded warehouse (`file:///…`). Writes go to a temp file in
 * the target's directory and are renamed into place, so a reader or a crash never leaves a partial file;
 * `ifNotExists` publishes with link(2), which fails atomically when the name exists.
 */
import { randomBytes } from "node:crypto";
import { type Dirent, constants as fsConstants } from "node:fs";
import { copyFile, link, mkdir, open, opendir, readFile, rename, rm, stat } from "node:fs/promises";
import { posix } from "node:path";
import { checkRangeArguments, IoError, rangeOutsideFile } from "./errors.ts";
import type { FileIO, FileStatus, ListedFile, WriteBody, WriteOptions } from "./file-io.ts";

const { dirname, basename, join } = posix;

/** Names of in-flight temp files; `list` hides them, so a crashed writer's leftovers are never listed. */
const tempMarker = ".floe-tmp-";

/**
 * The absolute path of a `file:` location. The path is taken literally — no percent-decoding — so a
 * location written by Floe comes back from `list` as the same string (`file:///w/a b` ↔ `/w/a b`).
 * `file:/abs/path` (one slash, as Hadoop spells it) is accepted too.
 */
export function localPathOf(location: string, options: { allowDirectory?: boolean } = {}): string {
  let path: string;
  if (location.startsWith("file://")) path = location.slice("file://".length);
  else if (location.startsWith("file:/")) path = location.slice("file:".length);
  else {
    throw new IoError(
      "INVALID_LOCATION",
      `${location} is not a file: location; local locations look like file:///absolute/path`,
      { location },
    );
  }
  if (!path.startsWith("/")) {
    throw new IoError(
      "INVALID_LOCATION",
      `${location} names a host or a relative path; local locations look like file:///absolute/path`,
      { location },
    );
  }
  const segments = path.split("/").slice(1);
  const last = segments.length - 1;
  const badSegment = segments.some(
    (s, i) =>
      s === "." || s === ".." || s.includes("\0") || (s === "" && !(i === last && options.allowDirectory)),
  );
  if (badSegment) {
    throw new IoError(
      "INVALID_LOCATION",
      `${location} is not a normalized file path (empty, "." or ".." segments` +
        `${options.allowDirectory ? "" : ", or a trailing /"}); write it as file:///absolute/path/to/file`,
      { location },
    );
  }
  return path;
}

/** The `file:` location of an absolute path, spelled as `localPathOf` reads it. */
export function localLocationOf(path: string): string {
  return `file://${path}`;
}

type Operation = "read" | "write" | "delete" | "list";

function fsCode(error: unknown): string | undefined {
  if (typeof error === "object" && error !== null && "code" in error && typeof error.code === "string") {
    return error.code;
  }
  return undefined;
}

function toIoError(error: unknown, location: string, operation: Operation): IoError {
  if (error instanceof IoError) return error;
  const code = fsCode(error);
  const detail = error instanceof Error ? error.message : String(error);
  if (code === "EEXIST") {
    return new IoError(
      "ALREADY_EXISTS",
      `${location} already exists, so the write (if not exists) lost to another writer; ` +
        "re-read the current state and retry with a new location",
      { location, cause: error },
    );
  }
  if (code === "EACCES" || code === "EPERM") {
    return new IoError(
      "ACCESS_DENIED",
      `permission denied to ${operation} ${location}; give the Floe process read/write access to that directory`,
      { location, cause: error },
    );
  }
  if ((code === "ENOENT" || code === "ENOTDIR" || code === "EISDIR") && operation !== "write") {
    return new IoError(
      "NOT_FOUND",
      `no file at ${location}; check the location, or whether the file was removed (e.g. by snapshot expiry)`,
      { location, cause: error },
    );
  }
  if (code === "ENOTDIR" || code === "EISDIR") {
    return new IoError(
      "IO_FAILED",
      `cannot write ${location}: it is a directory or one of its parents is a file; choose another location`,
      { location, cause: error },
    );
  }
  if (code === "EXDEV" || code === "ENOTSUP" || code === "EOPNOTSUPP") {
    return new IoError(
      "IO_FAILED",
      `cannot ${operation} ${location}: the filesystem does not support hard links, which writes with ` +
        `ifNotExists need (${detail}); put the warehouse on a POSIX filesystem such as ext4 or xfs`,
      { location, cause: error },
    );
  }
  return new IoError(
    "IO_FAILED",
    `${operation} ${location} failed: ${detail}; check the disk (free space, mount) and retry`,
    { location, cause: error },
  );
}

async function syncDirectory(dir: string): Promise<void> {
  // Makes the rename itself durable. Best effort: some filesystems refuse fsync on directories.
  try {
    const handle = await open(dir, "r");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // The data is already synced; only the directory entry's durability is at stake.
  }
}

export class LocalFileIO implements FileIO {
  async read(location: string): Promise<Uint8Array> {
    const path = localPathOf(location);
    try {
      return await readFile(path);
    } catch (error) {
      throw toIoError(error, location, "read");
    }
  }

  async readRange(location: string, offset: number, length: number): Promise<Uint8Array> {
    const path = localPathOf(location);
    checkRangeArguments(location, offset, length);
    try {
      const handle = await open(path, "r");
      try {
        const { size } = await handle.stat();
        if (offset + length > size) throw rangeOutsideFile(location, offset, length, size);
        const bytes = new Uint8Array(length);
        let filled = 0;
        while (filled < length) {
          const { bytesRead } = await handle.read(bytes, filled, length - filled, offset + filled);
          if (bytesRead === 0) throw rangeOutsideFile(location, offset, length, offset + filled);
          filled += bytesRead;
        }
        return bytes;
      } finally {
        await handle.close();
      }
    } catch (error) {
      throw toIoError(error, location, "read");
    }
  }

  async stat(location: string): Promise<FileStatus> {
    const path = localPathOf(location);
    try {
      const info = await stat(path);
      if (!info.isFile()) throw Object.assign(new Error(`${path} is not a regular file`), { code: "EISDIR" });
      return { size: info.size, lastModified: info.mtime };
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
    await this.publish(location, options, async (tempPath) => {
      const handle = await open(tempPath, "wx");
      try {
        if (body instanceof Uint8Array) await handle.writeFile(body);
        // writeFile writes at the handle's current position, looping over short writes: chunks append.
        else for await (const chunk of body) await handle.writeFile(chunk);
        await handle.sync();
      } finally {
        await handle.close();
      }
    });
  }

  async writeFromFile(location: string, localPath: string, options: WriteOptions = {}): Promise<void> {
    await this.publish(location, options, async (tempPath) => {
      try {
        await copyFile(localPath, tempPath, fsConstants.COPYFILE_EXCL);
      } catch (error) {
        if (fsCode(error) === "ENOENT") {
          throw new IoError("NOT_FOUND", `cannot upload ${localPath} to ${location}: no such local file`, {
            location,
            cause: error,
          });
        }
        throw error;
      }
      const handle = await open(tempPath, "r+");
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    });
  }

  async downloadToFile(location: string, localPath: string): Promise<void> {
    const source = localPathOf(location);
    const temp = join(
      dirname(localPath),
      `.${basename(localPath)}${tempMarker}${randomBytes(6).toString("hex")}`,
    );
    try {
      await mkdirs(dirname(localPath));
      await copyFile(source, temp, fsConstants.COPYFILE_EXCL);
      await rename(temp, localPath);
    } catch (error) {
      await removeQuietly(temp);
      throw toIoError(error, location, "read");
    }
  }

  async delete(location: string): Promise<void> {
    const path = localPathOf(location);
    try {
      await rm(path, { force: true });
    } catch (error) {
      throw toIoError(error, location, "delete");
    }
  }

  async deleteMany(locations: Iterable<string>): Promise<void> {
    for (const location of locations) await this.delete(location);
  }

  async *list(prefix: string): AsyncIterable<ListedFile> {
    const prefixPath = localPathOf(prefix, { allowDirectory: true });
    const root = prefixPath.endsWith("/") ? prefixPath : `${dirname(prefixPath)}/`;
    yield* this.walk(prefix, prefixPath, root.length > 1 ? root.slice(0, -1) : "/");
  }

  close(): void {}

  private async *walk(prefix: string, prefixPath: string, dir: string): AsyncIterable<ListedFile> {
    let entries: AsyncIterable<Dirent>;
    try {
      entries = await opendir(dir);
    } catch (error) {
      // A prefix whose directory does not exist lists nothing, as an S3 prefix without objects does.
      const code = fsCode(error);
      if (code === "ENOENT" || code === "ENOTDIR") return;
      throw toIoError(error, prefix, "list");
    }
    try {
      for await (const entry of entries) {
        const path = dir === "/" ? `/${entry.name}` : `${dir}/${entry.name}`;
        if (entry.isDirectory()) {
          const asPrefix = `${path}/`;
          if (asPrefix.startsWith(prefixPath) || prefixPath.startsWith(asPrefix)) {
            yield* this.walk(prefix, prefixPath, path);
          }
        } else if (entry.isFile() && path.startsWith(prefixPath) && !entry.name.includes(tempMarker)) {
          let info: Awaited<ReturnType<typeof stat>>;
          try {
            info = await stat(path);
          } catch (error) {
            if (fsCode(error) === "ENOENT") continue; // deleted while listing
            throw error;
          }
          yield {
            location: prefix + path.slice(prefixPath.length),
            size: info.size,
            lastModified: info.mtime,
          };
        }
      }
    } catch (error) {
      throw toIoError(error, prefix, "list");
    }
  }

  /**
   * Fills a temp file beside the target, then publishes it: rename(2) to replace, or link(2) when the
   * write must not replace (link fails with EEXIST, atomically, if the name exists — two writers can't
   * both win, unlike an exists-check followed by a rename).
   */
  private async publish(
    location: string,
    options: WriteOptions,
    fill: (tempPath: string) => Promise<void>,
  ): Promise<void> {
    const path = localPathOf(location);
    const dir = dirname(path);
    const temp = join(dir, `.${basename(path)}${tempMarker}${randomBytes(6).toString("hex")}`);
    try {
      await mkdirs(dir);
      await fill(temp);
      if (options.ifNotExists) await link(temp, path);
      else await rename(temp, path);
      await syncDirectory(dir);
    } catch (error) {
      throw toIoError(error, location, "write");
    } finally {
      // After rename the temp name is gone; after link (or a failure) it must be removed.
      await removeQuietly(temp);
    }
  }
}

/** mkdir -p, where EEXIST (a parent is a file) must not read as "the target already exists". */
async function mkdirs(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (error) {
    if (fsCode(error) === "EEXIST")
      throw Object.assign(new Error(`${dir} is not a directory`), { code: "ENOTDIR" });
    throw error;
  }
}

/** Removes a temp file; a failure here must not mask the error being reported (or fail a good write). */
async function removeQuietly(path: string): Promise<void> {
  await rm(path, { force: true }).catch(() => {});
}
