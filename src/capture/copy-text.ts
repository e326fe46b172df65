/**
 * PostgreSQL's COPY text format as `COPY … TO STDOUT` writes it: rows end in `\n`, fields are
 * separated by tabs, NULL is `\N`, and a field's backslash, tab, newline and other control characters
 * are backslash escapes. {@link CopyTextReader} turns the stream's bytes back into each row's fields —
 * the types' text output, exactly what a text-mode query or pgoutput delivers for the same values.
 *
 * Written by hand: pg-copy-streams hands over the raw bytes, and no maintained npm library reads the
 * text format (CSV parsers cannot tell NULL from an empty string without per-field hooks and build an
 * array per record); this one scans each chunk with `indexOf` and fills one reusable array, which is
 * what keeps the snapshot near COPY's own speed.
 */
import { CaptureError } from "./errors.ts";

const NEWLINE = 10;

/** Splits COPY text rows; `onRow` gets the fields in an array reused for every row (copy what you keep). */
export class CopyTextReader {
  private readonly fields: Array<string | null>;
  /** Bytes after the last complete row, waiting for the rest of it. */
  private pending: Buffer[] = [];
  rows = 0;

  constructor(
    private readonly columnCount: number,
    private readonly onRow: (fields: Array<string | null>) => void,
  ) {
    this.fields = new Array<string | null>(columnCount).fill(null);
  }

  /** Reads every complete row in `bytes`; a row cut at the end waits for the next call. */
  push(bytes: Buffer): void {
    const end = bytes.lastIndexOf(NEWLINE);
    if (end < 0) {
      if (bytes.length > 0) this.pending.push(bytes);
      return;
    }
    let text: string;
    // A UTF-8 sequence never contains the byte 0x0A, so cutting after a newline never splits a character.
    if (this.pending.length === 0) text = bytes.toString("utf8", 0, end + 1);
    else {
      this.pending.push(bytes.subarray(0, end + 1));
      text = Buffer.concat(this.pending).toString("utf8");
      this.pending = [];
    }
    if (end + 1 < bytes.length) this.pending.push(bytes.subarray(end + 1));
    this.parse(text);
  }

  /** The stream ended: a partial row left over means the data was cut off. */
  end(): void {
    if (this.pending.length > 0)
      throw new CaptureError(
        "PROTOCOL_ERROR",
        `COPY output ended inside a row (${this.pending.reduce((sum, part) => sum + part.length, 0)} bytes without a newline)`,
      );
  }

  /** `text` holds whole rows. Each tab, newline and backslash is found once, by `indexOf`. */
  private parse(text: string): void {
    const fields = this.fields;
    if (this.columnCount === 0) {
      // A table without columns: one empty line per row.
      for (let newline = text.indexOf("\n"); newline >= 0; newline = text.indexOf("\n", newline + 1)) {
        this.rows++;
        this.onRow(fields);
      }
      return;
    }
    const last = this.columnCount - 1;
    let position = 0;
    let tab = text.indexOf("\t");
    let backslash = text.indexOf("\\");
    if (tab < 0) tab = text.length;
    if (backslash < 0) backslash = text.length;
    while (position < text.length) {
      const newline = text.indexOf("\n", position);
      for (let index = 0; index < last; index++) {
        if (tab > newline) throw this.malformed(index + 1);
        fields[index] = backslash < tab ? this.escaped(text, position, tab) : text.slice(position, tab);
        position = tab + 1;
        tab = text.indexOf("\t", position);
        if (tab < 0) tab = text.length;
        if (backslash < position) {
          backslash = text.indexOf("\\", position);
          if (backslash < 0) backslash = text.length;
        }
      }
      if (tab < newline) throw this.malformed(-1);
      fields[last] =
        backslash < newline ? this.escaped(text, position, newline) : text.slice(position, newline);
      position = newline + 1;
      if (backslash < position) {
        backslash = text.indexOf("\\", position);
        if (backslash < 0) backslash = text.length;
      }
      this.rows++;
      this.onRow(fields);
    }
  }

  /** A field with backslashes: `\N` is NULL, other escapes are undone as COPY FROM would read them. */
  private escaped(text: string, start: number, end: number): string | null {
    if (end - start === 2 && text.charCodeAt(start + 1) === 78 /* N */) return null;
    let value = "";
    let from = start;
    for (let index = text.indexOf("\\", start); index >= 0 && index < end; index = text.indexOf("\\", from)) {
      value += text.slice(from, index);
      const code = text.charCodeAt(index + 1);
      value += ESCAPES.get(code) ?? String.fromCharCode(code);
      from = index + 2;
    }
    return value + text.slice(from, end);
  }

  private malformed(fields: number): CaptureError {
    return new CaptureError(
      "PROTOCOL_ERROR",
      `COPY row ${this.rows + 1} has ${fields < 0 ? "more" : `only ${fields}`} field${fields === 1 ? "" : "s"}, expected ${this.columnCount}`,
    );
  }
}

/**
 * The control characters COPY TO writes as backslash + letter. Every other escaped character (the
 * backslash itself, the delimiter) stands for itself; COPY TO writes no octal or hex escapes.
 */
const ESCAPES = new Map<number, string>([
  [98 /* b */, "\b"],
  [102 /* f */, "\f"],
  [110 /* n */, "\n"],
  [114 /* r */, "\r"],
  [116 /* t */, "\t"],
  [118 /* v */, "\v"],
]);
