// `floe serve` and `floe bucket` from the command line: settings from flags > env > config file >
// defaults, exit codes 0/1/2, bucket management on the data directory, and a served catalog that
// stops cleanly on SIGTERM.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  bucketEnv,
  bucketSettingsSchema,
  loadSettings,
  serveEnv,
  serveSettingsSchema,
} from "../../src/cli/config.ts";
import { exitCodes, run } from "../../src/cli/main.ts";

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), "floe-cli-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs `floe ARGS` in-process and returns its exit code and what it printed. */
async function floe(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const { log, error } = console;
  console.log = (...parts: unknown[]) => out.push(parts.join(" "));
  console.error = (...parts: unknown[]) => err.push(parts.join(" "));
  try {
    const code = await run(args);
    return { code, stdout: out.join("\n"), stderr: err.join("\n") };
  } finally {
    console.log = log;
    console.error = error;
  }
}

test("settings: flags beat env vars, env vars beat the config file, the file beats defaults", (t) => {
  const dir = tempDir(t);
  const file = join(dir, "floe.yaml");
  writeFileSync(
    file,
    "host: 0.0.0.0\nport: 9000\ndataDir: /from/file\ns3:\n  region: eu-west-1\nunrelated: ignored\n",
  );
  const fromFile = loadSettings(serveSettingsSchema, serveEnv, { flags: { config: file }, env: {} });
  assert.equal(fromFile.host, "0.0.0.0");
  assert.equal(fromFile.port, 9000);
  assert.equal(fromFile.s3?.region, "eu-west-1");
  assert.equal(fromFile.logLevel, "info");
  const withEnv = loadSettings(serveSettingsSchema, serveEnv, {
    flags: { config: file },
    env: { FLOE_PORT: "9100", FLOE_S3_FORCE_PATH_STYLE: "true", FLOE_DATA_DIR: "/from/env" },
  });
  assert.equal(withEnv.port, 9100);
  assert.equal(withEnv.s3?.forcePathStyle, true);
  assert.equal(withEnv.s3?.region, "eu-west-1");
  const withFlags = loadSettings(serveSettingsSchema, serveEnv, {
    flags: { config: file, port: "9200", dataDir: "/from/flag" },
    env: { FLOE_PORT: "9100", FLOE_DATA_DIR: "/from/env" },
  });
  assert.equal(withFlags.port, 9200);
  assert.equal(withFlags.dataDir, "/from/flag");
  const defaults = loadSettings(bucketSettingsSchema, bucketEnv, { flags: {}, env: {} });
  assert.deepEqual(defaults, { dataDir: ".floe/data", region: "us-east-1", accountId: "000000000000" });
});

test("floe bucket create, list and delete work on the data directory", async (t) => {
  const dataDir = tempDir(t);
  const created = await floe("bucket", "create", "sales", "--data-dir", dataDir, "--json");
  assert.equal(created.code, exitCodes.ok, created.stderr);
  const record = JSON.parse(created.stdout) as { name: string; arn: string; storage: string };
  assert.equal(record.arn, "arn:aws:s3tables:us-east-1:000000000000:bucket/sales");
  assert.equal(record.storage, `file://${dataDir}/buckets/sales`);
  const s3 = await floe(
    "bucket",
    "create",
    "lake",
    "--data-dir",
    dataDir,
    "--storage",
    "s3://my-bucket/tables/",
  );
  assert.equal(s3.code, exitCodes.ok, s3.stderr);
  assert.equal(
    s3.stdout,
    "created table bucket lake (arn:aws:s3tables:us-east-1:000000000000:bucket/lake) at s3://my-bucket/tables",
  );

  const duplicate = await floe("bucket", "create", "sales", "--data-dir", dataDir);
  assert.equal(duplicate.code, exitCodes.failure);
  assert.equal(duplicate.stderr, "floe: BUCKET_ALREADY_EXISTS: table bucket sales already exists");
  const badName = await floe("bucket", "create", "Bad_Name", "--data-dir", dataDir);
  assert.equal(badName.code, exitCodes.failure);
  assert.match(badName.stderr, /invalid table bucket name "Bad_Name"/);
  const badStorage = await floe("bucket", "create", "ftp", "--data-dir", dataDir, "--storage", "ftp://x/y");
  assert.equal(badStorage.code, exitCodes.failure);
  assert.match(badStorage.stderr, /INVALID_LOCATION/);

  const listed = await floe("bucket", "list", "--data-dir", dataDir, "--json");
  assert.deepEqual(
    (JSON.parse(listed.stdout) as Array<{ name: string }>).map((b) => b.name),
    ["lake", "sales"],
  );
  const deleted = await floe("bucket", "delete", "sales", "--data-dir", dataDir);
  assert.equal(deleted.stdout, "deleted table bucket sales");
  const missing = await floe("bucket", "delete", "sales", "--data-dir", dataDir);
  assert.equal(missing.code, exitCodes.failure);
  assert.match(missing.stderr, /NO_SUCH_WAREHOUSE/);
  const usage = await floe("bucket", "create");
  assert.equal(usage.code, exitCodes.usage);
});

test("floe bucket create puts buckets without --storage under --storage-root (FLOE_STORAGE_ROOT)", async (t) => {
  const dataDir = tempDir(t);
  const rooted = await floe(
    "bucket",
    "create",
    "sales",
    "--data-dir",
    dataDir,
    "--storage-root",
    "s3://my-bucket/tables/",
    "--json",
  );
  assert.equal(rooted.code, exitCodes.ok, rooted.stderr);
  assert.equal((JSON.parse(rooted.stdout) as { storage: string }).storage, "s3://my-bucket/tables/sales");
  const explicit = await floe(
    "bucket",
    "create",
    "people",
    "--data-dir",
    dataDir,
    "--storage-root",
    "s3://my-bucket/tables",
    "--storage",
    "s3://other/people",
    "--json",
  );
  assert.equal((JSON.parse(explicit.stdout) as { storage: string }).storage, "s3://other/people");
  const fromEnv = loadSettings(bucketSettingsSchema, bucketEnv, {
    flags: {},
    env: { FLOE_STORAGE_ROOT: "file:///srv/lake" },
  });
  assert.equal(fromEnv.storageRoot, "file:///srv/lake");
  const badRoot = await floe("bucket", "create", "x1x", "--data-dir", dataDir, "--storage-root", "ftp://x/y");
  assert.equal(badRoot.code, exitCodes.failure);
  assert.match(badRoot.stderr, /INVALID_LOCATION: ftp:\/\/x\/y/);
});

test("floe serve: bad settings exit 2", async () => {
  const bad = await floe("serve", "--port", "99999", "--allow-anonymous");
  assert.equal(bad.code, exitCodes.usage);
  assert.match(bad.stderr, /port/);
});

test("floe serve refuses to start with neither access keys nor --allow-anonymous, and says how to fix it", async (t) => {
  const dataDir = tempDir(t);
  const refused = await floe("serve", "--port", "0", "--data-dir", dataDir);
  assert.equal(refused.code, exitCodes.usage);
  assert.match(refused.stderr, /no credentials configured and anonymous access is off/);
  assert.match(refused.stderr, /FLOE_AUTH_KEYS=ID:SECRET/);
  assert.match(refused.stderr, /--allow-anonymous/);
  const badKey = await floe("serve", "--port", "0", "--data-dir", dataDir, "--auth-key", "no-secret");
  assert.equal(badKey.code, exitCodes.usage);
  assert.match(badKey.stderr, /ACCESS_KEY_ID:SECRET_ACCESS_KEY/);
  assert.doesNotMatch(badKey.stderr, /no-secret.*no-secret/);
});

test("auth settings: keys from the file, FLOE_AUTH_KEYS (ID:SECRET[@principal], comma-separated) and --auth-key", async (t) => {
  const dir = tempDir(t);
  const file = join(dir, "floe.yaml");
  writeFileSync(
    file,
    [
      "auth:",
      "  keys:",
      "    - accessKeyId: FILEKEY",
      "      secretAccessKey: file-secret",
      "      principal: arn:aws:iam::444455556666:user/reader",
      "  tokenTtlSeconds: 600",
    ].join("\n"),
  );
  const fromFile = loadSettings(serveSettingsSchema, serveEnv, { flags: { config: file }, env: {} });
  assert.deepEqual(fromFile.auth, {
    anonymous: false,
    keys: [
      {
        accessKeyId: "FILEKEY",
        secretAccessKey: "file-secret",
        principal: "arn:aws:iam::444455556666:user/reader",
      },
    ],
    tokenTtlSeconds: 600,
  });
  const fromEnv = loadSettings(serveSettingsSchema, serveEnv, {
    flags: { config: file },
    env: { FLOE_AUTH_KEYS: "A:s1, B:s:2@arn:aws:iam::444455556666:role/etl", FLOE_AUTH_ANONYMOUS: "true" },
  });
  assert.deepEqual(fromEnv.auth, {
    anonymous: true,
    keys: [
      { accessKeyId: "A", secretAccessKey: "s1" },
      { accessKeyId: "B", secretAccessKey: "s:2", principal: "arn:aws:iam::444455556666:role/etl" },
    ],
    tokenTtlSeconds: 600,
  });
  const fromFlags = loadSettings(serveSettingsSchema, serveEnv, {
    flags: { config: file, "auth.keys": ["C:s3"], "auth.anonymous": true },
    env: {},
  });
  assert.deepEqual(fromFlags.auth.keys, [{ accessKeyId: "C", secretAccessKey: "s3" }]);
  assert.equal(fromFlags.auth.tokenTtlSeconds, 600, "a flag for one auth setting keeps the file's others");
  assert.equal(fromFlags.auth.anonymous, true);
  const defaults = loadSettings(serveSettingsSchema, serveEnv, { flags: {}, env: {} });
  assert.deepEqual(defaults.auth, { anonymous: false, keys: [], tokenTtlSeconds: 3600 });
  assert.throws(
    () =>
      loadSettings(serveSettingsSchema, serveEnv, {
        flags: {},
        env: { FLOE_AUTH_KEYS: "A:s1@arn:aws:iam::1:user/x" },
      }),
    /principal/,
  );
});

test("floe serve listens, says where, serves the catalog to key holders, and stops on SIGTERM with exit 0", async (t) => {
  const dataDir = tempDir(t);
  assert.equal((await floe("bucket", "create", "demo", "--data-dir", dataDir)).code, exitCodes.ok);
  const child = spawn(process.execPath, ["bin/floe.js", "serve", "--port", "0"], {
    env: { ...process.env, FLOE_DATA_DIR: dataDir, FLOE_LOG_LEVEL: "warn", FLOE_AUTH_KEYS: "cli:cli-secret" },
  });
  t.after(() => child.kill("SIGKILL"));
  let stderr = "";
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
      const match = /listening on (http:\/\/\S+) \(Iceberg REST catalog: (\S+),/.exec(stderr);
      if (match?.[1]) resolve(match[1]);
    });
    child.on("exit", (code) => reject(new Error(`floe serve exited ${code}: ${stderr}`)));
  });
  assert.match(stderr, /Iceberg REST catalog: http:\/\/127\.0\.0\.1:\d+\/iceberg/);
  await new Promise<void>((resolve) => {
    const check = () => (/auth: 1 access key/.test(stderr) ? resolve() : setTimeout(check, 10));
    check();
  });
  assert.match(
    stderr,
    /auth: 1 access key \(SigV4, OAuth2 client credentials at .*\/iceberg\/v1\/oauth\/tokens\), anonymous access off/,
  );
  assert.deepEqual(await (await fetch(`${url}/healthz`)).json(), { status: "ok" });
  assert.equal((await fetch(`${url}/iceberg/v1/config?warehouse=demo`)).status, 401);
  const granted = await fetch(`${url}/iceberg/v1/oauth/tokens`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: "grant_type=client_credentials&client_id=cli&client_secret=cli-secret",
  });
  const { access_token: token } = (await granted.json()) as { access_token: string };
  const config = (await (
    await fetch(`${url}/iceberg/v1/config?warehouse=demo`, { headers: { authorization: `Bearer ${token}` } })
  ).json()) as {
    overrides: Record<string, string>;
  };
  assert.deepEqual(config.overrides, { prefix: "demo" });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  child.kill("SIGTERM");
  assert.equal(await exited, 0);
  assert.match(stderr, /SIGTERM, shutting down/);
});
