/**
 * Java `.properties` files, which Kafka Connect connector configs (Debezium's, the Iceberg sink's) come
 * in: `floe capture --config` and `floe sink --config` read them with this one parser. Written here
 * because the npm parsers in use either keep backslash escapes or drop Java's line continuations.
 */
/** Java `.properties` unescaping: `\t`, `\n`, `\r`, `\f`, `\uXXXX`, and `\x` → `x` (so `\\.` is `\.`). */
function unescapeProperty(text: string): string {
  return text.replace(/\\(u[0-9a-fA-F]{4}|.)/g, (_match, escaped: string) => {
    if (escaped.length === 5) return String.fromCharCode(Number.parseInt(escaped.slice(1), 16));
    return { t: "\t", n: "\n", r: "\r", f: "\f" }[escaped] ?? escaped;
  });
}

/**
 * Java `.properties` as java.util.Properties reads them: `key=value`, `key: value` or `key value`;
 * `#`/`!` comments; a line ending in an odd number of `\` continues; escapes in keys and values.
 */
export function parseJavaProperties(text: string): Record<string, string> {
  const result: Record<string, string> = {};
  const lines = text.split(/\r?\n|\r/);
  const continues = (line: string) => (/\\+$/.exec(line)?.[0].length ?? 0) % 2 === 1;
  for (let index = 0; index < lines.length; index++) {
    let line = (lines[index] ?? "").trimStart();
    if (line === "" || line.startsWith("#") || line.startsWith("!")) continue;
    while (continues(line) && index + 1 < lines.length) {
      index++;
      line = line.slice(0, -1) + (lines[index] ?? "").trimStart();
    }
    const match = /^((?:\\.|[^=:\s\\])*)\s*(?:[=:]\s*|\s+|$)(.*)$/s.exec(line);
    result[unescapeProperty(match?.[1] ?? line)] = unescapeProperty(match?.[2] ?? "");
  }
  return result;
}
