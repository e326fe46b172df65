/**
 * S3-Tables-style resource policies: parsing a bucket or table policy document and evaluating a request
 * (principal, action, resource ARN) against the policies that apply, as IAM evaluates resource
 * policies: an explicit Deny always wins; the buckets' owner (a principal of the server's account) is
 * allowed everything else; any other principal needs a matching Allow. Statements match on Principal /
 * NotPrincipal, Action / NotAction (case-insensitive, `*` and `?` wildcards, e.g. `s3tables:Get*`) and
 * Resource / NotResource (ARN wildcards), and a `Condition` of the operators and keys `conditions.ts`
 * evaluates; a policy with anything else is refused when it is put (see `authorize.ts` for stored
 * documents that no longer parse).
 */
import {
  type ConditionContext,
  ConditionProblem,
  type Conditions,
  conditionsHold,
  globMatches,
  parseConditions,
} from "./conditions.ts";
import { AuthError } from "./errors.ts";
import type { Principal } from "./principals.ts";

export interface PolicyStatement {
  sid?: string;
  effect: "Allow" | "Deny";
  /** Principal entries (`*`, an account id, `arn:aws:iam::<acct>:root`, or a principal ARN), or NotPrincipal's. */
  principals: string[];
  notPrincipal: boolean;
  actions: string[];
  notAction: boolean;
  /** Absent Resource and NotResource: every resource the policy is attached to. */
  resources: string[];
  notResource: boolean;
  /** Every clause must hold for the statement to match (none: always). */
  conditions: Conditions;
}

export interface PolicyDocument {
  statements: PolicyStatement[];
}

export type Decision = "allowed" | "explicit-deny" | "implicit-deny";

export interface AccessRequest {
  principal: Principal;
  /** `s3tables:GetTableData` */
  action: string;
  /** The resource ARN, e.g. `arn:aws:s3tables:us-east-1:111122223333:bucket/lake/table/<id>`. */
  resource: string;
  /**
   * The request's condition keys beyond the principal's (aws:SourceIp, s3tables:namespace,
   * s3tables:tableName); aws:PrincipalArn and aws:PrincipalAccount come from `principal`.
   */
  context?: ConditionContext;
}

const invalid = (what: string, message: string) => new AuthError("INVALID_POLICY", `${what}: ${message}`);

function stringList(value: unknown, field: string, what: string): string[] {
  const list = typeof value === "string" ? [value] : value;
  if (!Array.isArray(list) || list.length === 0 || list.some((v) => typeof v !== "string" || v === "")) {
    throw invalid(what, `${field} must be a string or a non-empty list of strings`);
  }
  return list as string[];
}

function principalList(value: unknown, field: string, what: string): string[] {
  if (value === "*") return ["*"];
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw invalid(what, `${field} must be "*" or {"AWS": "<principal ARN or account id>" | [...]}`);
  }
  const entries = Object.entries(value as Record<string, unknown>);
  const aws = (value as Record<string, unknown>).AWS;
  if (entries.length !== 1 || aws === undefined) {
    throw invalid(what, `${field} supports only the "AWS" key (IAM principals and accounts)`);
  }
  return stringList(aws, `${field}.AWS`, what);
}

function parseStatement(value: unknown, index: number, what: string): PolicyStatement {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw invalid(what, `Statement[${index}] must be an object`);
  }
  const s = value as Record<string, unknown>;
  const where = `Statement[${index}]`;
  if (s.Effect !== "Allow" && s.Effect !== "Deny")
    throw invalid(what, `${where}.Effect must be Allow or Deny`);
  let conditions: Conditions = [];
  if (s.Condition !== undefined) {
    try {
      conditions = parseConditions(s.Condition, `${where}.Condition`);
    } catch (error) {
      if (error instanceof ConditionProblem) throw invalid(what, error.message);
      throw error;
    }
  }
  if ((s.Principal === undefined) === (s.NotPrincipal === undefined)) {
    throw invalid(what, `${where} needs exactly one of Principal and NotPrincipal`);
  }
  if ((s.Action === undefined) === (s.NotAction === undefined)) {
    throw invalid(what, `${where} needs exactly one of Action and NotAction`);
  }
  if (s.Resource !== undefined && s.NotResource !== undefined) {
    throw invalid(what, `${where} has both Resource and NotResource; keep one`);
  }
  return {
    ...(typeof s.Sid === "string" ? { sid: s.Sid } : {}),
    effect: s.Effect,
    principals: principalList(
      s.Principal ?? s.NotPrincipal,
      s.Principal ? "Principal" : "NotPrincipal",
      what,
    ),
    notPrincipal: s.NotPrincipal !== undefined,
    actions: stringList(s.Action ?? s.NotAction, s.Action ? "Action" : "NotAction", what),
    notAction: s.NotAction !== undefined,
    resources:
      s.Resource === undefined && s.NotResource === undefined
        ? ["*"]
        : stringList(s.Resource ?? s.NotResource, s.Resource ? "Resource" : "NotResource", what),
    notResource: s.NotResource !== undefined,
    conditions,
  };
}

/** A policy document from its JSON text; AuthError INVALID_POLICY naming what to fix. */
export function parsePolicy(text: string, what = "resourcePolicy"): PolicyDocument {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw invalid(what, "not valid JSON");
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw invalid(what, "must be a JSON policy document (an object)");
  }
  const doc = json as Record<string, unknown>;
  if (doc.Version !== undefined && doc.Version !== "2012-10-17" && doc.Version !== "2008-10-17") {
    throw invalid(what, `Version must be "2012-10-17"`);
  }
  const statements = doc.Statement === undefined ? [] : doc.Statement;
  const list = Array.isArray(statements) ? statements : [statements];
  return { statements: list.map((s, i) => parseStatement(s, i, what)) };
}

function principalMatches(entry: string, principal: Principal): boolean {
  if (entry === "*") return true;
  if (principal.accountId === undefined) return false; // anonymous callers match only "*"
  if (/^\d{12}$/.test(entry)) return entry === principal.accountId;
  const root = /^arn:aws[a-z-]*:iam::(\d{12}):root$/.exec(entry);
  if (root) return root[1] === principal.accountId;
  return entry === principal.arn;
}

/** The request context of conditions: the principal's keys (absent for anonymous callers) and the request's. */
function conditionContextOf(request: AccessRequest): ConditionContext {
  const { principal } = request;
  return {
    ...request.context,
    ...(principal.accountId !== undefined
      ? { "aws:principalarn": principal.arn, "aws:principalaccount": principal.accountId }
      : {}),
  };
}

function statementMatches(statement: PolicyStatement, request: AccessRequest): boolean {
  const principal = statement.principals.some((p) => principalMatches(p, request.principal));
  const action = statement.actions.some((a) => globMatches(a, request.action, true));
  const resource = statement.resources.some((r) => globMatches(r, request.resource, false));
  return (
    principal !== statement.notPrincipal &&
    action !== statement.notAction &&
    resource !== statement.notResource &&
    (statement.conditions.length === 0 || conditionsHold(statement.conditions, conditionContextOf(request)))
  );
}

/**
 * The decision for one request under the policies that apply to its resource (the bucket's, plus the
 * table's for a table). An explicit Deny wins over everything; then the owner is allowed; then an Allow.
 */
export function evaluate(request: AccessRequest, policies: readonly PolicyDocument[]): Decision {
  const matching = policies.flatMap((p) => p.statements).filter((s) => statementMatches(s, request));
  if (matching.some((s) => s.effect === "Deny")) return "explicit-deny";
  if (request.principal.owner) return "allowed";
  return matching.some((s) => s.effect === "Allow") ? "allowed" : "implicit-deny";
}
