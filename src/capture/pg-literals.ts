/**
 * Parsers for PostgreSQL's text output of arrays (`{1,"a b",NULL}`, `[0:1]={…}`, nested) and of
 * composite values (`(1,"a b",)`), the two structured literals pgoutput sends in text mode.
 */

export type ArrayLiteral = Array<string | null | ArrayLiteral>;

export function parseArrayLiteral(text: string, delimiter = ","): ArrayLiteral {
  let position = 0;
  // Optional dimension decoration: [1:3]={...} or [1:2][1:2]={...}.
  if (text.startsWith("[")) {
    const equals = text.indexOf("=");
    position = equals + 1;
  }
  const parseLevel = (): ArrayLiteral => {
    if (text[position] !== "{") throw new Error(`malformed array literal: ${text}`);
    position++;
    const items: ArrayLiteral = [];
    if (text[position] === "}") {
      position++;
      return items;
    }
    while (position < text.length) {
      const char = text[position];
      if (char === "{") {
        items.push(parseLevel());
      } else if (char === '"') {
        position++;
        let value = "";
        while (position < text.length && text[position] !== '"') {
          if (text[position] === "\\") position++;
          value += text[position];
          position++;
        }
        position++;
        items.push(value);
      } else {
        let end = position;
        while (end < text.length && text[end] !== delimiter && text[end] !== "}") end++;
        const raw = text.slice(position, end).trim();
        items.push(raw.toUpperCase() === "NULL" ? null : raw);
        position = end;
      }
      const next = text[position];
      position++;
      if (next === "}") return items;
      if (next !== delimiter) throw new Error(`malformed array literal: ${text}`);
    }
    throw new Error(`unterminated array literal: ${text}`);
  };
  return parseLevel();
}

/** Fields of a composite literal; an empty unquoted field is NULL, `""` is the empty string. */
export function parseRecordLiteral(text: string): Array<string | null> {
  if (!text.startsWith("(") || !text.endsWith(")")) throw new Error(`malformed record literal: ${text}`);
  const fields: Array<string | null> = [];
  let position = 1;
  const end = text.length - 1;
  for (;;) {
    let value = "";
    let quotedOrNonEmpty = false;
    while (position < end && text[position] !== ",") {
      const char = text[position];
      if (char === '"') {
        quotedOrNonEmpty = true;
        position++;
        while (position < end) {
          if (text[position] === '"') {
            if (text[position + 1] === '"') {
              value += '"';
              position += 2;
              continue;
            }
            break;
          }
          if (text[position] === "\\") position++;
          value += text[position];
          position++;
        }
        position++;
      } else {
        if (char === "\\") position++;
        value += text[position];
        quotedOrNonEmpty = true;
        position++;
      }
    }
    fields.push(quotedOrNonEmpty ? value : null);
    if (position >= end) return fields;
    position++; // the comma
  }
}
