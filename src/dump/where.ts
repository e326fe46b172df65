/**
 * The `--where` filter grammar: a small, closed language parsed into an `Expression`
 * (../iceberg/expressions.ts), which binding checks against the schema and which reaches SQL only
 * through `toDuckDbSql` (quoted identifiers, typed literals). The user's text itself never becomes SQL,
 * so a filter cannot inject anything; what does not parse is refused.
 *
 * ```
 * filter     := or
 * or         := and ( OR and )*
 * and        := unary ( AND unary )*
 * unary      := NOT unary | "(" or ")" | predicate
 * predicate  := column cmp literal | literal cmp column
 *             | column IS [NOT] NULL | column IS [NOT] NAN
 *             | column [NOT] IN "(" literal ( "," literal )* ")"
 *             | column [NOT] STARTS WITH string
 * cmp        := "=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">="
 * column     := name ( "." name )*          name: [A-Za-z_][A-Za-z0-9_]* or "double ""quoted"""
 * literal    := 'single ''quoted''' | number | TRUE | FALSE
 * ```
 * Keywords are case-insensitive. Numbers are `-?digits[.digits][e±digits]`; dates, times, timestamps,
 * uuids and decimals are written as strings (`day >= '2024-01-01'`, `ts < '2024-01-01T00:00:00Z'`) and
 * converted to the column's type when the filter is bound. `= NULL` is refused: write `IS NULL`.
 */
import type { Expression, LiteralInput } from "../iceberg/expressions.ts";
import type { Schema } from "../iceberg/schema.ts";
import { DumpError } from "./errors.ts";

/** Longest filter text and deepest nesting accepted (a guard against pathological input). */
export const MAX_WHERE_LENGTH = 10_000;
export const MAX_WHERE_DEPTH = 64;

type Token =
  | { kind: "name"; text: string; quoted: boolean; at: number }
  | { kind: "string"; text: string; at: number }
  | { kind: "number"; text: string; at: number }
  | { kind: "op"; text: string; at: number }
  | { kind: "punct"; text: "(" | ")" | "," | "."; at: number }
  | { kind: "end"; text: ""; at: number };

/** A literal before binding: numbers keep their text until the column's type is known. */
type RawLiteral =
  | { kind: "string"; text: string }
  | { kind: "number"; text: string }
  | { kind: "boolean"; value: boolean };

function fail(text: string, at: number, message: string): never {
  throw new DumpError(
    "INVALID_FILTER",
    `--where ${JSON.stringify(text)}: ${message} at position ${at + 1}; ` +
      "write predicates like `col = 'text'`, `col >= 10 and other is not null`, `col in (1, 2)` (see `floe dump --help`)",
  );
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const at = i;
    if (c === "'" || c === '"') {
      let value = "";
      i++;
      for (;;) {
        if (i >= text.length) fail(text, at, `unterminated ${c === "'" ? "string" : "quoted name"}`);
        if (text[i] === c) {
          if (text[i + 1] === c) {
            value += c;
            i += 2;
            continue;
          }
          i++;
          break;
        }
        value += text[i];
        i++;
      }
      if (value.includes("\0")) fail(text, at, "NUL characters are not allowed");
      if (c === "'") tokens.push({ kind: "string", text: value, at });
      else {
        if (value === "") fail(text, at, "empty quoted name");
        tokens.push({ kind: "name", text: value, quoted: true, at });
      }
      continue;
    }
    const number = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i));
    if (number && (c !== "-" || tokens.at(-1)?.kind !== "name")) {
      tokens.push({ kind: "number", text: number[0], at });
      i += number[0].length;
      continue;
    }
    const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i));
    if (name) {
      tokens.push({ kind: "name", text: name[0], quoted: false, at });
      i += name[0].length;
      continue;
    }
    const op = /^(<=|>=|<>|!=|==|=|<|>)/.exec(text.slice(i));
    if (op) {
      tokens.push({ kind: "op", text: op[0], at });
      i += op[0].length;
      continue;
    }
    if (c === "(" || c === ")" || c === "," || c === ".") {
      tokens.push({ kind: "punct", text: c, at });
      i++;
      continue;
    }
    fail(text, at, `unexpected character ${JSON.stringify(c)}`);
  }
  tokens.push({ kind: "end", text: "", at: text.length });
  return tokens;
}

const comparisonOps: Record<string, "eq" | "notEq" | "lt" | "ltEq" | "gt" | "gtEq"> = {
  "=": "eq",
  "==": "eq",
  "!=": "notEq",
  "<>": "notEq",
  "<": "lt",
  "<=": "ltEq",
  ">": "gt",
  ">=": "gtEq",
};
const flipped = { eq: "eq", notEq: "notEq", lt: "gt", ltEq: "gtEq", gt: "lt", gtEq: "ltEq" } as const;

const keywords = new Set(["and", "or", "not", "is", "null", "nan", "in", "starts", "with", "true", "false"]);

export interface ParseWhereOptions {
  /**
   * The schema the filter will be bound to: numeric literals compared with decimal columns then keep
   * their exact text, and long columns get exact 64-bit values.
   */
  schema?: Schema;
}

/** Parses a `--where` text (grammar in the module comment) into an unbound Expression. */
export function parseWhere(text: string, options: ParseWhereOptions = {}): Expression {
  if (text.length > MAX_WHERE_LENGTH) {
    throw new DumpError(
      "INVALID_FILTER",
      `--where is ${text.length} characters long; the limit is ${MAX_WHERE_LENGTH}`,
    );
  }
  const tokens = tokenize(text);
  let pos = 0;
  const peek = () => tokens[pos]!;
  const next = () => tokens[pos++]!;
  const isKeyword = (token: Token, word: string) =>
    token.kind === "name" && !token.quoted && token.text.toLowerCase() === word;
  const expectKeyword = (word: string) => {
    const token = next();
    if (!isKeyword(token, word)) fail(text, token.at, `expected ${word.toUpperCase()}`);
  };
  const expectPunct = (p: string) => {
    const token = next();
    if (token.kind !== "punct" || token.text !== p) fail(text, token.at, `expected '${p}'`);
  };

  const literalFor = (column: string, raw: RawLiteral): LiteralInput => {
    if (raw.kind === "string") return raw.text;
    if (raw.kind === "boolean") return raw.value;
    const type = options.schema?.findFieldByName(column)?.type;
    if (type?.kind === "decimal") return raw.text;
    if (/^-?\d+$/.test(raw.text)) return BigInt(raw.text);
    return Number(raw.text);
  };

  const atColumnStart = (token: Token) =>
    token.kind === "name" && (token.quoted || !keywords.has(token.text.toLowerCase()));

  const parseColumn = (): string => {
    const parts: string[] = [];
    for (;;) {
      const token = next();
      if (token.kind !== "name" || (!token.quoted && keywords.has(token.text.toLowerCase()))) {
        fail(text, token.at, "expected a column name");
      }
      parts.push(token.text);
      const dot = peek();
      if (dot.kind === "punct" && dot.text === ".") {
        next();
        continue;
      }
      return parts.join(".");
    }
  };

  const parseLiteral = (): RawLiteral => {
    const token = next();
    if (token.kind === "string") return { kind: "string", text: token.text };
    if (token.kind === "number") return { kind: "number", text: token.text };
    if (isKeyword(token, "true")) return { kind: "boolean", value: true };
    if (isKeyword(token, "false")) return { kind: "boolean", value: false };
    if (isKeyword(token, "null"))
      fail(text, token.at, "NULL cannot be compared with '='; write IS NULL or IS NOT NULL");
    return fail(text, token.at, "expected a literal ('text', a number, TRUE or FALSE)");
  };

  const parsePredicate = (): Expression => {
    const first = peek();
    if (
      first.kind === "name" &&
      !atColumnStart(first) &&
      !isKeyword(first, "true") &&
      !isKeyword(first, "false")
    ) {
      fail(text, first.at, `expected a column name, not the keyword ${first.text.toUpperCase()}`);
    }
    if (!atColumnStart(first)) {
      // `literal cmp column`
      const literal = parseLiteral();
      const op = next();
      if (op.kind !== "op") fail(text, op.at, "expected a comparison operator");
      const column = parseColumn();
      return { op: flipped[comparisonOps[op.text]!], column, value: literalFor(column, literal) };
    }
    const column = parseColumn();
    const token = next();
    if (token.kind === "op") {
      return { op: comparisonOps[token.text]!, column, value: literalFor(column, parseLiteral()) };
    }
    if (isKeyword(token, "is")) {
      let negate = false;
      if (isKeyword(peek(), "not")) {
        next();
        negate = true;
      }
      const what = next();
      if (isKeyword(what, "null")) return { op: negate ? "notNull" : "isNull", column };
      if (isKeyword(what, "nan")) return { op: negate ? "notNan" : "isNan", column };
      return fail(text, what.at, "expected NULL or NAN after IS");
    }
    let negate = false;
    let keyword: Token = token;
    if (isKeyword(token, "not")) {
      negate = true;
      keyword = next();
    }
    if (isKeyword(keyword, "in")) {
      expectPunct("(");
      const values: LiteralInput[] = [literalFor(column, parseLiteral())];
      for (;;) {
        const sep = next();
        if (sep.kind === "punct" && sep.text === ")") break;
        if (sep.kind !== "punct" || sep.text !== ",") fail(text, sep.at, "expected ',' or ')'");
        values.push(literalFor(column, parseLiteral()));
      }
      return { op: negate ? "notIn" : "in", column, values };
    }
    if (isKeyword(keyword, "starts")) {
      expectKeyword("with");
      const prefix = next();
      if (prefix.kind !== "string") fail(text, prefix.at, "STARTS WITH takes a 'quoted' string");
      return { op: negate ? "notStartsWith" : "startsWith", column, value: prefix.text };
    }
    return fail(
      text,
      keyword.at,
      "expected a comparison, IS [NOT] NULL, [NOT] IN (...) or [NOT] STARTS WITH",
    );
  };

  const parseUnary = (depth: number): Expression => {
    if (depth > MAX_WHERE_DEPTH) fail(text, peek().at, `nesting deeper than ${MAX_WHERE_DEPTH}`);
    const token = peek();
    if (isKeyword(token, "not")) {
      next();
      return { op: "not", child: parseUnary(depth + 1) };
    }
    if (token.kind === "punct" && token.text === "(") {
      next();
      const inner = parseOr(depth + 1);
      expectPunct(")");
      return inner;
    }
    return parsePredicate();
  };

  const parseAnd = (depth: number): Expression => {
    let left = parseUnary(depth);
    while (isKeyword(peek(), "and")) {
      next();
      left = { op: "and", left, right: parseUnary(depth) };
    }
    return left;
  };

  const parseOr = (depth: number): Expression => {
    let left = parseAnd(depth);
    while (isKeyword(peek(), "or")) {
      next();
      left = { op: "or", left, right: parseAnd(depth) };
    }
    return left;
  };

  if (peek().kind === "end") fail(text, 0, "empty filter");
  const expression = parseOr(0);
  const rest = peek();
  if (rest.kind !== "end") fail(text, rest.at, `unexpected ${JSON.stringify(rest.text)}`);
  return expression;
}
