/**
 * The reserved columns of position delete files (spec "Position Delete Files") and reading the
 * `file_path` bounds a writer recorded, which tell which data files a delete file can touch.
 */
import type { DataFile } from "./data-file.ts";

export const POSITION_DELETE_FILE_PATH_ID = 2147483546;
export const POSITION_DELETE_POS_ID = 2147483545;

const utf8 = new TextDecoder("utf-8", { fatal: false });

/** The `file_path` lower/upper bounds of a position delete file, when recorded (strings, UTF-8). */
export function positionDeleteFilePathBounds(file: DataFile): { lower: string; upper: string } | undefined {
  const lower = file.lowerBounds?.get(POSITION_DELETE_FILE_PATH_ID);
  const upper = file.upperBounds?.get(POSITION_DELETE_FILE_PATH_ID);
  if (!lower || !upper) return undefined;
  return { lower: utf8.decode(lower), upper: utf8.decode(upper) };
}
