/**
 * What the development services (PostgreSQL, Kafka, the S3 server) share: where their data, logs and
 * cached artifacts live, how a detached daemon is started and stopped, port and health probes, and the
 * typed error every service failure is reported as.
 */
import { spawn, spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { FloeError } from "../../src/errors.ts";

export type ServiceErrorCode =
  | "PORT_IN_USE"
  | "TOOL_MISSING"
  | "ARTIFACT_BUILD_FAILED"
  | "START_FAILED"
  | "HEALTH_CHECK_FAILED"
  | "EXTERNAL_SERVICE_INVALID";

export class ServiceError extends FloeError<ServiceErrorCode> {}

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** Data, logs and pid files of every service: one ignored folder in the checkout. */
export const stateRoot = process.env.FLOE_STATE_DIR ?? join(repoRoot, ".floe", "services");

/**
 * Built or downloaded artifacts (Kafka jars, the S3 server binary) are kept outside the checkout so a
 * fresh clone on the same machine reuses them; only package registries are ever contacted to fill it.
 */
export const cacheRoot = process.env.FLOE_CACHE_DIR ?? join(homedir(), ".cache", "floe");

export function serviceDir(name: string): string {
  const dir = join(stateRoot, name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

export function portFromEnv(variable: string, fallback: number): number {
  const raw = process.env[variable];
  if (raw === undefined || raw === "") return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new ServiceError(
      "START_FAILED",
      `${variable}=${raw} is not a TCP port; use a number from 1 to 65535`,
    );
  }
  return port;
}

/** True when something accepts TCP connections on 127.0.0.1:port. */
export function isPortOpen(port: number, host = "127.0.0.1", timeoutMs = 500): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const socket = connect({ port, host });
    const finish = (open: boolean) => {
      socket.destroy();
      resolvePromise(open);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.once("connect", () => finish(true));
    socket.once("error", () => finish(false));
  });
}

/** Fails with PORT_IN_USE when a port we are about to bind is taken by someone else. */
export async function assertPortsFree(service: string, ports: Record<string, number>, hint: string) {
  for (const [what, port] of Object.entries(ports)) {
    if (await isPortOpen(port)) {
      throw new ServiceError(
        "PORT_IN_USE",
        `${service}: port ${port} (${what}) on 127.0.0.1 is already in use by another process. ` +
          `Stop that process or choose another port with ${hint}.`,
      );
    }
  }
}

export async function waitFor(
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs: number,
  logFile?: string,
  isStillAlive?: () => boolean,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await probe()) return;
    } catch (error) {
      lastError = error;
    }
    if (isStillAlive && !isStillAlive()) {
      throw new ServiceError("START_FAILED", `${what} exited while starting.${logTail(logFile)}`);
    }
    await sleep(250);
  }
  const cause = lastError instanceof Error ? ` Last error: ${lastError.message}.` : "";
  throw new ServiceError(
    "HEALTH_CHECK_FAILED",
    `${what} did not become healthy within ${Math.round(timeoutMs / 1000)} s.${cause}${logTail(logFile)}`,
  );
}

export function logTail(logFile: string | undefined, lines = 15): string {
  if (!logFile || !existsSync(logFile)) return "";
  const text = readFileSync(logFile, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  return `\nLast lines of ${logFile}:\n${text}`;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export interface DaemonOptions {
  command: string;
  args: string[];
  logFile: string;
  pidFile: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  uid?: number;
  gid?: number;
}

/** Starts a process that outlives this one (own process group, output appended to its log file). */
export function startDaemon(options: DaemonOptions): number {
  mkdirSync(dirname(options.logFile), { recursive: true });
  const log = openSync(options.logFile, "a");
  try {
    const child = spawn(options.command, options.args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      detached: true,
      stdio: ["ignore", log, log],
      uid: options.uid,
      gid: options.gid,
    });
    if (child.pid === undefined) {
      throw new ServiceError("START_FAILED", `could not start ${options.command}`);
    }
    child.unref();
    writeFileSync(options.pidFile, `${child.pid}\n`);
    return child.pid;
  } finally {
    closeSync(log);
  }
}

export function readPid(pidFile: string): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, "utf8").trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

export function isProcessAlive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie still answers signal 0; treat it as gone.
  const stat = spawnSync("ps", ["-o", "stat=", "-p", String(pid)], { encoding: "utf8" });
  return !stat.stdout.trim().startsWith("Z");
}

/** SIGTERM, then SIGKILL after `graceMs`; removes the pid file. */
export async function stopDaemon(pidFile: string, graceMs = 30_000): Promise<boolean> {
  const pid = readPid(pidFile);
  if (!isProcessAlive(pid) || pid === undefined) {
    rmSync(pidFile, { force: true });
    return false;
  }
  signalGroup(pid, "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && isProcessAlive(pid)) await sleep(200);
  if (isProcessAlive(pid)) signalGroup(pid, "SIGKILL");
  while (isProcessAlive(pid)) await sleep(100);
  rmSync(pidFile, { force: true });
  return true;
}

function signalGroup(pid: number, signal: NodeJS.Signals) {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/** Throws TOOL_MISSING naming the package to install when a command is not on PATH. */
export function requireTool(command: string, versionArgs: string[], installHint: string): string {
  const probe = spawnSync(command, versionArgs, { encoding: "utf8" });
  if (probe.error || probe.status !== 0) {
    throw new ServiceError("TOOL_MISSING", `'${command}' is not available on PATH. ${installHint}`);
  }
  return `${probe.stdout}${probe.stderr}`.trim();
}

/** Runs a command to completion, throwing ARTIFACT_BUILD_FAILED with its output tail on failure. */
export function runOrThrow(
  what: string,
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
) {
  const result = spawnSync(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.error || result.status !== 0) {
    const output = `${result.stdout ?? ""}${result.stderr ?? ""}`.trimEnd().split("\n").slice(-20).join("\n");
    throw new ServiceError(
      "ARTIFACT_BUILD_FAILED",
      `${what} failed (${command} ${args.join(" ")} exited ${result.status ?? result.error?.message}).\n${output}`,
    );
  }
  return result.stdout;
}
