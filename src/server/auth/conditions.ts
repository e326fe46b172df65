/**
 * The `Condition` element of resource policies, for the subset Floe can evaluate: string, ARN and IP
 * address operators (with their `…IfExists` forms) and `Null`, on the keys a request to `floe serve`
 * carries — `aws:PrincipalArn`, `aws:PrincipalAccount`, `aws:SourceIp`, `s3tables:namespace`,
 * `s3tables:tableName`. Evaluated as IAM does: operators and keys AND, a key's values OR (NOR for the
 * negated operators); a key missing from the request fails a positive operator and passes a negated one
 * (and any `…IfExists`). Anything else is refused when the policy is put, never silently ignored.
 */
import { BlockList, isIP } from "node:net";

/** Condition keys, lower-cased (IAM matches key names case-insensitively). */
export const CONDITION_KEYS = [
  "aws:principalarn",
  "aws:principalaccount",
  "aws:sourceip",
  "s3tables:namespace",
  "s3tables:tablename",
] as const;

export type ConditionKey = (typeof CONDITION_KEYS)[number];

/** What a request carries for conditions; absent keys are missing from the request context. */
export type ConditionContext = Partial<Record<ConditionKey, string>>;

type Comparison = "string" | "string-ignore-case" | "like" | "arn" | "ip" | "null";

const OPERATORS: Record<string, { comparison: Comparison; negated: boolean }> = {
  StringEquals: { comparison: "string", negated: false },
  StringNotEquals: { comparison: "string", negated: true },
  StringEqualsIgnoreCase: { comparison: "string-ignore-case", negated: false },
  StringNotEqualsIgnoreCase: { comparison: "string-ignore-case", negated: true },
  StringLike: { comparison: "like", negated: false },
  StringNotLike: { comparison: "like", negated: true },
  ArnEquals: { comparison: "arn", negated: false },
  ArnLike: { comparison: "arn", negated: false },
  ArnNotEquals: { comparison: "arn", negated: true },
  ArnNotLike: { comparison: "arn", negated: true },
  IpAddress: { comparison: "ip", negated: false },
  NotIpAddress: { comparison: "ip", negated: true },
  Null: { comparison: "null", negated: false },
};

interface KeyTest {
  key: ConditionKey;
  values: string[];
  /** For IP operators: the values as one block list. */
  networks?: BlockList;
}

export interface ConditionClause {
  operator: string;
  comparison: Comparison;
  negated: boolean;
  ifExists: boolean;
  tests: KeyTest[];
}

/** A parsed `Condition` element: every clause must hold. */
export type Conditions = ConditionClause[];

/** Thrown with a message the policy parser prefixes with where it is (`Statement[0].Condition`). */
export class ConditionProblem extends Error {}

/** `*` any run of characters, `?` one character; everything else literal. */
export function globMatches(pattern: string, value: string, ignoreCase: boolean): boolean {
  if (pattern === "*") return true;
  const source = pattern
    .split("")
    .map((c) => (c === "*" ? ".*" : c === "?" ? "." : c.replace(/[.+^${}()|[\]\\/-]/g, "\\$&")))
    .join("");
  return new RegExp(`^${source}$`, ignoreCase ? "is" : "s").test(value);
}

function valueList(value: unknown, where: string): string[] {
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0) throw new ConditionProblem(`${where} needs at least one value`);
  return list.map((v) => {
    if (typeof v === "string") return v;
    if (typeof v === "number" || typeof v === "boolean") return String(v);
    throw new ConditionProblem(`${where} values must be strings`);
  });
}

/** An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, as Node reports IPv4 peers of a dual-stack socket) as IPv4. */
function plainIp(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped?.[1] ?? address;
}

function networksOf(values: string[], where: string): BlockList {
  const list = new BlockList();
  for (const value of values) {
    const [address = "", prefixText, extra] = value.split("/");
    const family = isIP(address);
    const prefix = prefixText === undefined ? (family === 6 ? 128 : 32) : Number(prefixText);
    if (
      family === 0 ||
      extra !== undefined ||
      !Number.isInteger(prefix) ||
      prefix < 0 ||
      prefix > (family === 6 ? 128 : 32)
    ) {
      throw new ConditionProblem(`${where}: ${JSON.stringify(value)} is not an IP address or CIDR range`);
    }
    list.addSubnet(address, prefix, family === 6 ? "ipv6" : "ipv4");
  }
  return list;
}

/** The `Condition` element of a statement; ConditionProblem naming what Floe cannot evaluate. */
export function parseConditions(value: unknown, where: string): Conditions {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ConditionProblem(`${where} must be an object of condition operators`);
  }
  return Object.entries(value as Record<string, unknown>).map(([operatorName, keys]) => {
    const at = `${where}.${operatorName}`;
    if (operatorName.includes(":")) {
      throw new ConditionProblem(
        `${at}: set operators (ForAnyValue:, ForAllValues:) are not supported; every supported key has one value`,
      );
    }
    const ifExists = operatorName.endsWith("IfExists") && operatorName !== "IfExists";
    const base = ifExists ? operatorName.slice(0, -"IfExists".length) : operatorName;
    const operator = OPERATORS[base];
    if (!operator || (ifExists && base === "Null")) {
      throw new ConditionProblem(
        `${at}: floe serve evaluates only the operators ${Object.keys(OPERATORS).join(", ")} (and their …IfExists forms)`,
      );
    }
    if (typeof keys !== "object" || keys === null || Array.isArray(keys) || Object.keys(keys).length === 0) {
      throw new ConditionProblem(`${at} must map condition keys to values`);
    }
    const tests = Object.entries(keys as Record<string, unknown>).map(([keyName, raw]): KeyTest => {
      const key = keyName.toLowerCase() as ConditionKey;
      const keyAt = `${at}.${keyName}`;
      if (!CONDITION_KEYS.includes(key)) {
        throw new ConditionProblem(
          `${keyAt}: floe serve knows only the condition keys aws:PrincipalArn, aws:PrincipalAccount, aws:SourceIp, s3tables:namespace, s3tables:tableName`,
        );
      }
      const values = valueList(raw, keyAt);
      if (values.some((v) => v.includes("${"))) {
        throw new ConditionProblem(`${keyAt}: policy variables (\${…}) are not supported`);
      }
      if (operator.comparison === "ip") {
        if (key !== "aws:sourceip")
          throw new ConditionProblem(`${keyAt}: ${base} applies to aws:SourceIp only`);
        return { key, values, networks: networksOf(values, keyAt) };
      }
      if (key === "aws:sourceip") {
        throw new ConditionProblem(`${keyAt}: compare aws:SourceIp with IpAddress or NotIpAddress`);
      }
      if (operator.comparison === "null" && values.some((v) => v !== "true" && v !== "false")) {
        throw new ConditionProblem(`${keyAt}: Null takes "true" (the key is absent) or "false" (present)`);
      }
      return { key, values };
    });
    return {
      operator: operatorName,
      comparison: operator.comparison,
      negated: operator.negated,
      ifExists,
      tests,
    };
  });
}

function valueMatches(clause: ConditionClause, test: KeyTest, pattern: string, actual: string): boolean {
  switch (clause.comparison) {
    case "string":
      return pattern === actual;
    case "string-ignore-case":
      return pattern.toLowerCase() === actual.toLowerCase();
    case "like":
    case "arn":
      return globMatches(pattern, actual, false);
    case "ip": {
      const address = plainIp(actual);
      const family = isIP(address);
      return family !== 0 && (test.networks?.check(address, family === 6 ? "ipv6" : "ipv4") ?? false);
    }
    case "null":
      return false; // handled by the caller
  }
}

function clauseHolds(clause: ConditionClause, context: ConditionContext): boolean {
  return clause.tests.every((test) => {
    const actual = context[test.key];
    if (clause.comparison === "null")
      return test.values.every((v) => (v === "true") === (actual === undefined));
    if (actual === undefined) return clause.ifExists || clause.negated;
    const anyMatch =
      clause.comparison === "ip"
        ? valueMatches(clause, test, "", actual)
        : test.values.some((pattern) => valueMatches(clause, test, pattern, actual));
    return clause.negated ? !anyMatch : anyMatch;
  });
}

/** True when every clause holds for the request (an empty Condition always holds). */
export function conditionsHold(conditions: Conditions, context: ConditionContext): boolean {
  return conditions.every((clause) => clauseHolds(clause, context));
}
