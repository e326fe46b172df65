/** The printed form of a {@link VerifyReport}: a verdict line, the consistent point, counts, digests, differences. */
import type { VerifyReport } from "./verify.ts";

/** One sentence: `EQUAL` or `DIFFERENT — 1 only in PostgreSQL, 2 rows differing`. */
export function verdict(report: VerifyReport): string {
  if (report.equal) return "EQUAL";
  const parts: string[] = [];
  if (report.columns.missingInIceberg.length > 0)
    parts.push(`column(s) ${report.columns.missingInIceberg.join(", ")} missing in Iceberg`);
  if (report.onlyInPostgres > 0) parts.push(`${report.onlyInPostgres} only in PostgreSQL`);
  if (report.onlyInIceberg > 0) parts.push(`${report.onlyInIceberg} only in Iceberg`);
  if (report.rowsDiffering > 0)
    parts.push(`${report.rowsDiffering} row${report.rowsDiffering === 1 ? "" : "s"} differing`);
  if (report.duplicateKeysInIceberg > 0)
    parts.push(`${report.duplicateKeysInIceberg} key(s) duplicated in Iceberg`);
  return `DIFFERENT — ${parts.join(", ")}`;
}

export function formatReport(report: VerifyReport): string {
  const lines = [`${report.table} ⇔ ${report.source}: ${verdict(report)}`];
  lines.push(`  verify point   ${report.verifyPoint} (PostgreSQL snapshot exported by a temporary slot)`);
  const snapshot =
    report.snapshotId === null
      ? "no snapshot (empty table)"
      : `snapshot ${report.snapshotId} at source position ${report.lakePosition ?? "(none recorded)"}`;
  const rolled = report.rolledForward
    ? `, past the verify point: PostgreSQL rolled forward ${report.rolledForward.from} → ${report.rolledForward.to} (${report.rolledForward.transactions} transaction(s), ${report.rolledForward.changes} change(s))`
    : ", nothing of this table after the verify point: PostgreSQL compared as of it";
  lines.push(`  lake           ${snapshot}${rolled}`);
  lines.push(`  rows           PostgreSQL ${report.postgres.rows}, Iceberg ${report.iceberg.rows}`);
  lines.push(
    `  digest         PostgreSQL ${report.postgres.digest}, Iceberg ${report.iceberg.digest} (sum of row hashes mod 2^128)`,
  );
  lines.push(
    `  compared       ${report.key ? `key ${report.key.join(", ")}` : "as a multiset of rows (no primary key)"}; columns ${report.columns.compared.join(", ")}`,
  );
  if (report.columns.ignoredInIceberg.length > 0)
    lines.push(
      `  not compared   ${report.columns.ignoredInIceberg.join(", ")} (Iceberg only: dropped in PostgreSQL)`,
    );
  if (report.differences.length > 0) {
    const total =
      report.onlyInPostgres + report.onlyInIceberg + report.rowsDiffering + report.duplicateKeysInIceberg;
    lines.push(`  first ${report.differences.length} of ${total} difference(s):`);
    const width = Math.min(40, Math.max(...report.differences.map((difference) => difference.key.length)));
    for (const difference of report.differences)
      lines.push(`    ${difference.key.padEnd(width)}  ${difference.description}`);
  }
  return `${lines.join("\n")}\n`;
}
