// Policy `Condition` evaluation (src/server/auth/conditions.ts) as IAM does it: operators and keys AND,
// values OR (NOR when negated), missing keys fail positive operators and pass negated ones and
// …IfExists, Null tests presence; IP ranges in both families; and what is refused when a policy is put.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  type ConditionContext,
  conditionsHold,
  parseConditions,
} from "../../../src/server/auth/conditions.ts";
import { AuthError } from "../../../src/server/auth/errors.ts";
import { evaluate, parsePolicy } from "../../../src/server/auth/policy.ts";
import type { Principal } from "../../../src/server/auth/principals.ts";

const holds = (condition: unknown, context: ConditionContext) =>
  conditionsHold(parseConditions(condition, "Condition"), context);

const shop: ConditionContext = {
  "aws:principalarn": "arn:aws:iam::444455556666:user/reader",
  "aws:principalaccount": "444455556666",
  "aws:sourceip": "10.1.2.3",
  "s3tables:namespace": "shop",
  "s3tables:tablename": "orders",
};

test("string operators: exact, case-insensitive, wildcards, negation over several values", () => {
  assert.equal(holds({ StringEquals: { "s3tables:namespace": "shop" } }, shop), true);
  assert.equal(holds({ StringEquals: { "s3tables:namespace": "Shop" } }, shop), false);
  assert.equal(holds({ StringEqualsIgnoreCase: { "s3tables:namespace": "SHOP" } }, shop), true);
  assert.equal(holds({ StringEquals: { "s3tables:namespace": ["hr", "shop"] } }, shop), true, "values OR");
  assert.equal(holds({ StringNotEquals: { "s3tables:namespace": ["hr", "shop"] } }, shop), false, "NOR");
  assert.equal(holds({ StringNotEquals: { "s3tables:namespace": ["hr", "ops"] } }, shop), true);
  assert.equal(holds({ StringLike: { "s3tables:tableName": "ord*" } }, shop), true);
  assert.equal(holds({ StringLike: { "s3tables:tableName": "o?ders" } }, shop), true);
  assert.equal(
    holds({ StringLike: { "s3tables:tableName": "Ord*" } }, shop),
    false,
    "StringLike is case-sensitive",
  );
  assert.equal(holds({ StringNotLike: { "s3tables:tableName": "secret*" } }, shop), true);
  assert.equal(
    holds({ StringEquals: { "S3Tables:TableName": "orders" } }, shop),
    true,
    "key names ignore case",
  );
});

test("several keys and operators must all hold", () => {
  const both = { StringEquals: { "s3tables:namespace": "shop", "s3tables:tableName": "orders" } };
  assert.equal(holds(both, shop), true);
  assert.equal(holds(both, { ...shop, "s3tables:tablename": "refunds" }), false);
  const two = {
    StringEquals: { "s3tables:namespace": "shop" },
    IpAddress: { "aws:SourceIp": "192.168.0.0/16" },
  };
  assert.equal(holds(two, shop), false);
  assert.equal(holds(two, { ...shop, "aws:sourceip": "192.168.7.7" }), true);
});

test("missing keys: positive operators fail, negated and …IfExists pass, Null tests presence", () => {
  const bucketOnly: ConditionContext = { "aws:sourceip": "10.1.2.3" };
  assert.equal(holds({ StringEquals: { "s3tables:tableName": "orders" } }, bucketOnly), false);
  assert.equal(holds({ StringNotEquals: { "s3tables:tableName": "orders" } }, bucketOnly), true);
  assert.equal(holds({ StringEqualsIfExists: { "s3tables:tableName": "orders" } }, bucketOnly), true);
  assert.equal(holds({ StringEqualsIfExists: { "s3tables:tableName": "orders" } }, shop), true);
  assert.equal(holds({ StringEqualsIfExists: { "s3tables:tableName": "other" } }, shop), false);
  assert.equal(holds({ Null: { "s3tables:tableName": "true" } }, bucketOnly), true);
  assert.equal(holds({ Null: { "s3tables:tableName": "true" } }, shop), false);
  assert.equal(holds({ Null: { "aws:PrincipalArn": "false" } }, shop), true);
});

test("IP ranges: IPv4 and IPv6 CIDRs, single addresses, IPv4-mapped peers", () => {
  const inTen = { IpAddress: { "aws:SourceIp": ["10.0.0.0/8", "2001:db8::/32"] } };
  assert.equal(holds(inTen, shop), true);
  assert.equal(holds(inTen, { "aws:sourceip": "11.0.0.1" }), false);
  assert.equal(holds(inTen, { "aws:sourceip": "::ffff:10.9.9.9" }), true);
  assert.equal(holds(inTen, { "aws:sourceip": "2001:db8:1::5" }), true);
  assert.equal(holds(inTen, { "aws:sourceip": "2001:db9::5" }), false);
  assert.equal(holds({ IpAddress: { "aws:SourceIp": "127.0.0.1" } }, { "aws:sourceip": "127.0.0.1" }), true);
  assert.equal(holds({ NotIpAddress: { "aws:SourceIp": "10.0.0.0/8" } }, shop), false);
  assert.equal(
    holds({ NotIpAddress: { "aws:SourceIp": "10.0.0.0/8" } }, { "aws:sourceip": "8.8.8.8" }),
    true,
  );
});

test("ARN operators and principal keys through evaluate(): anonymous callers have no principal keys", () => {
  const reader: Principal = {
    arn: "arn:aws:iam::444455556666:user/reader",
    accountId: "444455556666",
    owner: false,
    via: "bearer",
  };
  const anonymous: Principal = { arn: "anonymous", accountId: undefined, owner: false, via: "anonymous" };
  const resource = "arn:aws:s3tables:us-east-1:111122223333:bucket/lake/table/x";
  const policy = parsePolicy(
    JSON.stringify({
      Statement: [
        {
          Effect: "Allow",
          Principal: "*",
          Action: "s3tables:GetTableData",
          Condition: {
            ArnLike: { "aws:PrincipalArn": "arn:aws:iam::444455556666:user/*" },
            StringEquals: { "s3tables:namespace": "shop" },
          },
        },
      ],
    }),
  );
  const decide = (principal: Principal, context: ConditionContext) =>
    evaluate({ principal, action: "s3tables:GetTableData", resource, context }, [policy]);
  assert.equal(decide(reader, { "s3tables:namespace": "shop" }), "allowed");
  assert.equal(decide(reader, { "s3tables:namespace": "hr" }), "implicit-deny");
  assert.equal(decide(anonymous, { "s3tables:namespace": "shop" }), "implicit-deny");
  const account = parsePolicy(
    JSON.stringify({
      Statement: {
        Effect: "Allow",
        Principal: "*",
        Action: "*",
        Condition: { StringEquals: { "aws:PrincipalAccount": "444455556666" } },
      },
    }),
  );
  assert.equal(evaluate({ principal: reader, action: "s3tables:GetTable", resource }, [account]), "allowed");
});

test("conditions Floe cannot evaluate are refused when the policy is put, naming the fix", () => {
  const refused = (condition: unknown, pattern: RegExp) =>
    assert.throws(
      () =>
        parsePolicy(
          JSON.stringify({
            Statement: [{ Effect: "Allow", Principal: "*", Action: "*", Condition: condition }],
          }),
        ),
      (error: unknown) =>
        error instanceof AuthError && error.code === "INVALID_POLICY" && pattern.test(error.message),
      JSON.stringify(condition),
    );
  refused(
    { DateGreaterThan: { "aws:CurrentTime": "2020-01-01T00:00:00Z" } },
    /operators StringEquals, .*IfExists/,
  );
  refused(
    { StringEquals: { "aws:SecureTransport": "true" } },
    /condition keys aws:PrincipalArn, .*s3tables:tableName/,
  );
  refused({ "ForAnyValue:StringEquals": { "s3tables:namespace": ["a"] } }, /set operators/);
  refused({ IpAddress: { "aws:SourceIp": "10.0.0.0/33" } }, /not an IP address or CIDR range/);
  refused({ IpAddress: { "aws:SourceIp": "ten" } }, /not an IP address/);
  refused({ IpAddress: { "s3tables:namespace": "10.0.0.0/8" } }, /applies to aws:SourceIp only/);
  refused({ StringEquals: { "aws:SourceIp": "10.0.0.1" } }, /IpAddress or NotIpAddress/);
  refused({ StringEquals: { "s3tables:namespace": ["$", "{aws:username}"].join("") } }, /policy variables/);
  refused({ Null: { "s3tables:namespace": "maybe" } }, /Null takes/);
  refused({ NullIfExists: { "s3tables:namespace": "true" } }, /operators/);
  refused({ StringEquals: {} }, /must map condition keys/);
  refused({ StringEquals: { "s3tables:namespace": [] } }, /at least one value/);
  refused("StringEquals", /must be an object/);
});
