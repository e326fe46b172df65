/**
 * The development S3-compatible object store: SeaweedFS (master + volume + filer + S3 gateway in one
 * `weed server` process), built once from its Go module with the machine's Go toolchain and cached.
 * FLOE_S3_ENDPOINT (+ FLOE_S3_ACCESS_KEY_ID / FLOE_S3_SECRET_ACCESS_KEY) points at an existing store.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateBucketCommand, ListBucketsCommand, S3Client } from "@aws-sdk/client-s3";
import {
  assertPortsFree,
  cacheRoot,
  isProcessAlive,
  readPid,
  requireTool,
  runOrThrow,
  serviceDir,
  startDaemon,
  stopDaemon,
  waitFor,
} from "./common.ts";

/** The SeaweedFS module version the Go proxy serves here (a pseudo-version of its main branch). */
export const seaweedfsVersion = "v0.0.0-20261109003541-7506e5f91cd6";
const seaweedfsModule = "github.com/seaweedfs/seaweedfs";

export interface S3Info {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** A bucket that exists for tests and the demo. */
  bucket: string;
  managed: boolean;
}

function ports() {
  const s3 = Number(process.env.FLOE_S3_PORT ?? 18333);
  // SeaweedFS's own ports sit beside the S3 port; each gRPC port is its HTTP port + 10000.
  return {
    s3,
    s3Grpc: s3 + 10000,
    master: s3 + 1000,
    masterGrpc: s3 + 11000,
    volume: s3 + 2000,
    volumeGrpc: s3 + 12000,
    filer: s3 + 3000,
    filerGrpc: s3 + 13000,
  };
}

export function s3Info(managed = true): S3Info {
  return {
    endpoint: process.env.FLOE_S3_ENDPOINT || `http://127.0.0.1:${ports().s3}`,
    region: process.env.FLOE_S3_REGION || "us-east-1",
    accessKeyId: process.env.FLOE_S3_ACCESS_KEY_ID || "floe-access-key",
    secretAccessKey: process.env.FLOE_S3_SECRET_ACCESS_KEY || "floe-secret-key",
    bucket: process.env.FLOE_S3_BUCKET || "floe-test",
    managed,
  };
}

export function s3Client(info: S3Info): S3Client {
  return new S3Client({
    endpoint: info.endpoint,
    region: info.region,
    forcePathStyle: true,
    credentials: { accessKeyId: info.accessKeyId, secretAccessKey: info.secretAccessKey },
  });
}

/** Builds the `weed` binary from the Go module proxy into the cache (seconds when already built). */
export function ensureWeedBinary(): string {
  const dir = join(cacheRoot, `seaweedfs-${seaweedfsVersion}`);
  const binary = join(dir, "weed");
  if (existsSync(binary)) return binary;
  requireTool(
    "go",
    ["version"],
    "Install Go (apt-get install golang) so SeaweedFS can be built from its Go module.",
  );
  mkdirSync(dir, { recursive: true });
  const download = runOrThrow("Downloading the SeaweedFS Go module", "go", [
    "mod",
    "download",
    "-json",
    `${seaweedfsModule}@${seaweedfsVersion}`,
  ]);
  const moduleDir: string = JSON.parse(download).Dir;
  // The module's go.mod has replace directives, so `go install module@version` refuses it; build a
  // writable copy of the module source instead.
  const buildDir = join(tmpdir(), `floe-seaweedfs-build-${process.pid}`);
  rmSync(buildDir, { recursive: true, force: true });
  runOrThrow("Copying the SeaweedFS module", "cp", ["-r", moduleDir, buildDir]);
  runOrThrow("Making the SeaweedFS copy writable", "chmod", ["-R", "u+w", buildDir]);
  try {
    runOrThrow(
      "Building SeaweedFS (one time, a few minutes)",
      "go",
      ["build", "-o", `${binary}.partial`, "./weed"],
      {
        cwd: buildDir,
      },
    );
    runOrThrow("Moving the SeaweedFS binary into place", "mv", [`${binary}.partial`, binary]);
  } finally {
    rmSync(buildDir, { recursive: true, force: true });
  }
  return binary;
}

function layout() {
  const dir = serviceDir("s3");
  return {
    dir,
    dataDir: join(dir, "data"),
    config: join(dir, "s3.json"),
    logFile: join(dir, "seaweedfs.log"),
    pidFile: join(dir, "seaweedfs.pid"),
  };
}

async function answers(info: S3Info): Promise<boolean> {
  const client = s3Client(info);
  try {
    await client.send(new ListBucketsCommand({}));
    return true;
  } finally {
    client.destroy();
  }
}

async function ensureBucket(info: S3Info): Promise<void> {
  const client = s3Client(info);
  try {
    const { Buckets } = await client.send(new ListBucketsCommand({}));
    if (!Buckets?.some((b) => b.Name === info.bucket)) {
      await client.send(new CreateBucketCommand({ Bucket: info.bucket }));
    }
  } finally {
    client.destroy();
  }
}

export async function s3Up(): Promise<S3Info> {
  if (process.env.FLOE_S3_ENDPOINT) {
    const info = s3Info(false);
    await waitFor(`S3 at FLOE_S3_ENDPOINT=${info.endpoint}`, () => answers(info), 15_000);
    await ensureBucket(info);
    return info;
  }
  const info = s3Info(true);
  const paths = layout();
  if (!isProcessAlive(readPid(paths.pidFile))) {
    const p = ports();
    await assertPortsFree(
      "SeaweedFS",
      {
        s3: p.s3,
        "s3 grpc": p.s3Grpc,
        master: p.master,
        "master grpc": p.masterGrpc,
        volume: p.volume,
        "volume grpc": p.volumeGrpc,
        filer: p.filer,
        "filer grpc": p.filerGrpc,
      },
      "FLOE_S3_PORT (SeaweedFS also uses that port +1000, +2000, +3000 and each of those +10000)",
    );
    const weed = ensureWeedBinary();
    mkdirSync(paths.dataDir, { recursive: true });
    const identities = {
      identities: [
        {
          name: "floe",
          credentials: [{ accessKey: info.accessKeyId, secretKey: info.secretAccessKey }],
          actions: ["Admin", "Read", "Write", "List", "Tagging"],
        },
      ],
    };
    writeFileSync(paths.config, JSON.stringify(identities, null, 2));
    const pid = startDaemon({
      command: weed,
      args: [
        "server",
        `-dir=${paths.dataDir}`,
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        `-master.port=${p.master}`,
        `-master.port.grpc=${p.masterGrpc}`,
        "-master.telemetry=false",
        "-master.volumeSizeLimitMB=256",
        `-volume.port=${p.volume}`,
        `-volume.port.grpc=${p.volumeGrpc}`,
        "-volume.max=0",
        "-filer",
        `-filer.port=${p.filer}`,
        `-filer.port.grpc=${p.filerGrpc}`,
        "-s3",
        `-s3.port=${p.s3}`,
        `-s3.port.grpc=${p.s3Grpc}`,
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        `-s3.config=${paths.config}`,
        "-s3.allowDeleteBucketNotEmpty=true",
      ],
      logFile: paths.logFile,
      pidFile: paths.pidFile,
    });
    await waitFor(
      "SeaweedFS S3",
      () => answers(info),
      90_000,
      paths.logFile,
      () => isProcessAlive(pid),
    );
  }
  await waitFor("SeaweedFS S3", () => answers(info), 30_000, paths.logFile);
  await ensureBucketWithRetry(info, paths.logFile);
  return info;
}

/** Right after start the filer may not have a writable volume yet; bucket creation is retried briefly. */
async function ensureBucketWithRetry(info: S3Info, logFile: string) {
  await waitFor(
    `creating bucket ${info.bucket}`,
    async () => {
      await ensureBucket(info);
      return true;
    },
    30_000,
    logFile,
  );
}

export async function s3Down(): Promise<boolean> {
  if (process.env.FLOE_S3_ENDPOINT) return false;
  return stopDaemon(layout().pidFile, 10_000);
}

export async function s3Status(): Promise<{ running: boolean; detail: string }> {
  const info = s3Info(!process.env.FLOE_S3_ENDPOINT);
  const running = await answers(info).catch(() => false);
  return { running, detail: info.endpoint };
}
