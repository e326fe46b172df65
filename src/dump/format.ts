/**
 * Rendering query results for people and programs: an aligned text table, CSV (RFC 4180, header row,
 * NULL as an empty field) and JSON (an array of objects, one per line). Values arrive as DuckDB's JSON
 * form (64-bit integers, decimals and temporals as strings); integer columns are printed as JSON numbers
 * since JSON numbers have no size limit on the wire.
 */
import type { Json } from "@duckdb/node-api";

export type QueryFormat = "table" | "csv" | "json";

export const queryFormats: readonly QueryFormat[] = ["table", "csv", "json"];

export interface ResultColumn {
  name: string;
  /** DuckDB's type name, e.g. `BIGINT`, `VARCHAR`, `DECIMAL(12,2)`. */
  type: string;
}

/** DuckDB's integer type names (also what query pruning accepts as integer literals). */
export const integerTypes: ReadonlySet<string> = new Set([
  "TINYINT",
  "SMALLINT",
  "INTEGER",
  "BIGINT",
  "HUGEINT",
  "UTINYINT",
  "USMALLINT",
  "UINTEGER",
  "UBIGINT",
  "UHUGEINT",
]);

/** A value as one line of text: NULL for null, JSON for nested values. */
function textOf(value: Json): string {
  if (value === null) return "NULL";
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return JSON.stringify(value);
}

/** A CSV field: quoted when it holds a separator, quote, line break or edge whitespace. */
export function csvField(value: Json): string {
  if (value === null) return "";
  const text = textOf(value);
  return /[",\r\n]|^\s|\s$/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

function jsonValue(column: ResultColumn, value: Json): string {
  if (typeof value === "string" && integerTypes.has(column.type) && /^-?\d+$/.test(value)) return value;
  return JSON.stringify(value);
}

/** A streaming writer of rows in one format: `header()`, `rows(batch)` any number of times, `end()`. */
export interface ResultWriter {
  rows(batch: Json[][]): void;
  end(rowCount: number): void;
}

/** Writes rows in `format` through `write` (CSV and JSON stream; the table buffers to align columns). */
export function resultWriter(
  format: QueryFormat,
  columns: readonly ResultColumn[],
  write: (text: string) => void,
): ResultWriter {
  switch (format) {
    case "csv":
      write(`${columns.map((c) => csvField(c.name)).join(",")}\n`);
      return {
        rows: (batch) => {
          for (const row of batch) write(`${row.map(csvField).join(",")}\n`);
        },
        end: () => {},
      };
    case "json": {
      let first = true;
      write("[");
      return {
        rows: (batch) => {
          for (const row of batch) {
            const fields = columns.map((c, i) => `${JSON.stringify(c.name)}:${jsonValue(c, row[i] ?? null)}`);
            write(`${first ? "\n" : ",\n"}{${fields.join(",")}}`);
            first = false;
          }
        },
        end: () => write(first ? "]\n" : "\n]\n"),
      };
    }
    case "table": {
      const buffered: string[][] = [];
      return {
        rows: (batch) => {
          for (const row of batch) buffered.push(row.map((v) => textOf(v).replaceAll(/[\r\n\t]/g, " ")));
        },
        end: (rowCount) => write(renderTable(columns, buffered, rowCount)),
      };
    }
  }
}

/** An aligned text table with a header rule; numbers right-aligned. */
export function renderTable(
  columns: readonly ResultColumn[],
  rows: string[][],
  rowCount = rows.length,
): string {
  const widths = columns.map((c, i) => Math.max(c.name.length, ...rows.map((r) => (r[i] ?? "").length)));
  const numeric = columns.map((c) => integerTypes.has(c.type) || /^(DECIMAL|DOUBLE|FLOAT|REAL)/.test(c.type));
  const line = (cells: string[], alignNumbers: boolean) =>
    cells
      .map((cell, i) => (alignNumbers && numeric[i] ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join(" | ")
      .trimEnd();
  const out = [
    line(
      columns.map((c) => c.name),
      false,
    ),
    widths.map((w) => "-".repeat(w)).join("-+-"),
    ...rows.map((r) => line(r, true)),
    `(${rowCount} ${rowCount === 1 ? "row" : "rows"})`,
  ];
  return `${out.join("\n")}\n`;
}
