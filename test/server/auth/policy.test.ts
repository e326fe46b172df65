// Resource-policy evaluation as IAM does it for resource policies: explicit Deny wins, the owner needs no
// Allow, everyone else does; Principal / Action / Resource matching with wildcards and Not* forms; and
// the documents Floe refuses to store because it could not enforce them.
import assert from "node:assert/strict";
import { test } from "node:test";
import { AuthError } from "../../../src/server/auth/errors.ts";
import { evaluate, parsePolicy } from "../../../src/server/auth/policy.ts";
import type { Principal } from "../../../src/server/auth/principals.ts";

const bucket = "arn:aws:s3tables:us-east-1:111122223333:bucket/lake";
const table = `${bucket}/table/8f0c6c1e-0000-4000-8000-000000000001`;
const otherTable = `${bucket}/table/8f0c6c1e-0000-4000-8000-000000000002`;

const owner: Principal = {
  arn: "arn:aws:iam::111122223333:root",
  accountId: "111122223333",
  owner: true,
  via: "sigv4",
};
const reader: Principal = {
  arn: "arn:aws:iam::444455556666:user/reader",
  accountId: "444455556666",
  owner: false,
  via: "bearer",
};
const stranger: Principal = {
  arn: "arn:aws:iam::777788889999:user/x",
  accountId: "777788889999",
  owner: false,
  via: "sigv4",
};
const anonymous: Principal = { arn: "anonymous", accountId: undefined, owner: true, via: "anonymous" };

const policy = (...statements: object[]) =>
  parsePolicy(JSON.stringify({ Version: "2012-10-17", Statement: statements }));

const allowReaderGet = policy({
  Effect: "Allow",
  Principal: { AWS: reader.arn },
  Action: ["s3tables:GetTableData", "s3tables:GetTableMetadataLocation"],
  Resource: table,
});

test("without policies the owner may do everything and nobody else anything", () => {
  assert.equal(
    evaluate({ principal: owner, action: "s3tables:DeleteTable", resource: table }, []),
    "allowed",
  );
  assert.equal(
    evaluate({ principal: reader, action: "s3tables:GetTableData", resource: table }, []),
    "implicit-deny",
  );
});

test("an Allow grants exactly its principal, actions and resources", () => {
  const decide = (principal: Principal, action: string, resource: string) =>
    evaluate({ principal, action, resource }, [allowReaderGet]);
  assert.equal(decide(reader, "s3tables:GetTableData", table), "allowed");
  assert.equal(decide(reader, "s3tables:gettabledata", table), "allowed", "actions match case-insensitively");
  assert.equal(decide(reader, "s3tables:PutTableData", table), "implicit-deny");
  assert.equal(decide(reader, "s3tables:GetTableData", otherTable), "implicit-deny");
  assert.equal(decide(stranger, "s3tables:GetTableData", table), "implicit-deny");
});

test("wildcards: s3tables:*, s3tables:Get*, table/*, accounts and Principal *", () => {
  const wide = policy(
    {
      Effect: "Allow",
      Principal: { AWS: "444455556666" },
      Action: "s3tables:Get*",
      Resource: `${bucket}/table/*`,
    },
    {
      Effect: "Allow",
      Principal: { AWS: "arn:aws:iam::777788889999:root" },
      Action: "s3tables:*",
      Resource: "*",
    },
    { Effect: "Allow", Principal: "*", Action: "s3tables:ListTables", Resource: bucket },
  );
  const decide = (principal: Principal, action: string, resource: string) =>
    evaluate({ principal, action, resource }, [wide]);
  assert.equal(decide(reader, "s3tables:GetTableMetadataLocation", otherTable), "allowed");
  assert.equal(decide(reader, "s3tables:UpdateTableMetadataLocation", otherTable), "implicit-deny");
  assert.equal(
    decide(reader, "s3tables:GetTableBucket", bucket),
    "implicit-deny",
    "table/* is not the bucket",
  );
  assert.equal(decide(stranger, "s3tables:DeleteTableBucket", bucket), "allowed");
  assert.equal(decide(reader, "s3tables:ListTables", bucket), "allowed");
  assert.equal(decide({ ...anonymous, owner: false }, "s3tables:ListTables", bucket), "allowed");
  assert.equal(decide({ ...anonymous, owner: false }, "s3tables:GetTable", table), "implicit-deny");
});

test("an explicit Deny wins over Allows and over ownership, in either policy", () => {
  const deny = policy({
    Effect: "Deny",
    Principal: "*",
    Action: ["s3tables:PutTableData", "s3tables:UpdateTableMetadataLocation"],
    Resource: table,
  });
  const allowAll = policy({
    Effect: "Allow",
    Principal: { AWS: reader.arn },
    Action: "s3tables:*",
    Resource: "*",
  });
  assert.equal(
    evaluate({ principal: reader, action: "s3tables:PutTableData", resource: table }, [allowAll, deny]),
    "explicit-deny",
  );
  assert.equal(
    evaluate({ principal: owner, action: "s3tables:PutTableData", resource: table }, [deny]),
    "explicit-deny",
  );
  assert.equal(
    evaluate({ principal: anonymous, action: "s3tables:UpdateTableMetadataLocation", resource: table }, [
      deny,
    ]),
    "explicit-deny",
  );
  assert.equal(
    evaluate({ principal: reader, action: "s3tables:PutTableData", resource: otherTable }, [allowAll, deny]),
    "allowed",
  );
});

test("NotPrincipal, NotAction and NotResource invert their match", () => {
  const fence = policy(
    { Effect: "Deny", NotPrincipal: { AWS: owner.arn }, NotAction: "s3tables:Get*", Resource: "*" },
    { Effect: "Allow", Principal: "*", Action: "s3tables:*", NotResource: otherTable },
  );
  const decide = (principal: Principal, action: string, resource: string) =>
    evaluate({ principal, action, resource }, [fence]);
  assert.equal(decide(reader, "s3tables:GetTableData", table), "allowed");
  assert.equal(decide(reader, "s3tables:GetTableData", otherTable), "implicit-deny");
  assert.equal(decide(reader, "s3tables:DeleteTable", table), "explicit-deny");
  assert.equal(decide(owner, "s3tables:DeleteTable", table), "allowed");
});

test("policies Floe cannot enforce are refused with the reason", () => {
  const refused = (document: unknown, pattern: RegExp) =>
    assert.throws(
      () => parsePolicy(typeof document === "string" ? document : JSON.stringify(document)),
      (error: unknown) =>
        error instanceof AuthError && error.code === "INVALID_POLICY" && pattern.test(error.message),
    );
  refused("{not json", /not valid JSON/);
  refused([], /policy document/);
  refused({ Statement: [{ Effect: "Maybe", Principal: "*", Action: "*" }] }, /Effect must be Allow or Deny/);
  refused({ Statement: [{ Effect: "Allow", Action: "*" }] }, /Principal and NotPrincipal/);
  refused({ Statement: [{ Effect: "Allow", Principal: "*" }] }, /Action and NotAction/);
  refused(
    {
      Statement: [
        {
          Effect: "Allow",
          Principal: "*",
          Action: "*",
          Condition: { DateGreaterThan: { "aws:CurrentTime": "2020-01-01T00:00:00Z" } },
        },
      ],
    },
    /Condition\.DateGreaterThan: floe serve evaluates only the operators/,
  );
  refused(
    { Statement: [{ Effect: "Allow", Principal: { Service: "glue.amazonaws.com" }, Action: "*" }] },
    /"AWS" key/,
  );
  refused({ Version: "2099-01-01", Statement: [] }, /Version/);
  assert.deepEqual(parsePolicy('{"Version":"2012-10-17","Statement":[]}'), { statements: [] });
  const single = parsePolicy(
    '{"Statement":{"Effect":"Deny","Principal":{"AWS":["1","2"]},"Action":"s3tables:*"}}',
  );
  assert.deepEqual(single.statements[0]?.principals, ["1", "2"]);
  assert.deepEqual(
    single.statements[0]?.resources,
    ["*"],
    "no Resource: the resource the policy is attached to",
  );
});
