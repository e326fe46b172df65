/**
 * Rows from PostgreSQL and from Iceberg in one comparable form: every value as text (or null), rows
 * sorted by their numeric `id`. Queries on the PostgreSQL side cast to the text the lake's values print as.
 */
export type Row = Record<string, unknown>;

export function normaliseRows(rows: Row[]): Row[] {
  return rows
    .map((row) =>
      Object.fromEntries(
        Object.entries(row).map(([k, v]) => [k, v === null || v === undefined ? null : String(v)]),
      ),
    )
    .sort((a, b) => Number(a.id) - Number(b.id));
}
