// kill -9 of a `floe capture` process mid-stream, several times while a workload commits: after each
// kill the slot has confirmed nothing Kafka lacks, and after the restarts every committed change is in
// Kafka at least once (counted as distinct (txId, key, op) against what the workload committed). The
// last process is stopped with SIGTERM and must exit 0.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { formatLsn, parseLsn } from "../../../src/capture/lsn.ts";
import { defer } from "../../helpers/services.ts";
import {
  captureFixture,
  changeIdentity,
  confirmedFlushLsn,
  readTopics,
  startWorkload,
  waitFor,
} from "./helpers.ts";

const MAIN = fileURLToPath(new URL("../../../src/cli/main.ts", import.meta.url));

interface CaptureProcess {
  child: ChildProcess;
  ready: Promise<void>;
  stderr: () => string;
}

function startCapture(args: string[]): CaptureProcess {
  const child = spawn(process.execPath, ["--import", "tsx", MAIN, "capture", ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  const ready = new Promise<void>((resolve, reject) => {
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
      if (stderr.includes("streaming from slot")) resolve();
    });
    child.once("exit", (code, signal) =>
      reject(new Error(`floe capture exited (${code ?? signal}) before streaming: ${stderr}`)),
    );
  });
  ready.catch(() => {});
  return { child, ready, stderr: () => stderr };
}

async function kill(process: CaptureProcess): Promise<void> {
  if (process.child.exitCode !== null || process.child.signalCode !== null) return;
  const exited = once(process.child, "exit");
  process.child.kill("SIGKILL");
  await exited;
}

test("kill -9 of floe capture mid-stream, restart: every committed change at least once, nothing confirmed before Kafka had it", {
  timeout: 300_000,
}, async (t) => {
  const fixture = await captureFixture(t, "create table work (id int primary key, v text)");
  const { sql, brokers, prefix, slot } = fixture;
  const topic = `${prefix}.public.work`;
  const args = [
    "--pg",
    fixture.url,
    "--brokers",
    brokers.join(","),
    "--topic-prefix",
    prefix,
    "--slot",
    slot,
    "--publication",
    slot,
    "--snapshot-mode",
    "never",
    "--partitions",
    "2",
    "--log-interval",
    "1",
  ];
  let current = startCapture(args);
  defer(t, () => kill(current));
  await current.ready;

  const workload = startWorkload(fixture.url);
  defer(t, () => workload.stop());
  let kills = 0;
  for (let round = 0; round < 3; round++) {
    await new Promise((resolve) => setTimeout(resolve, 800 + round * 400));
    await kill(current);
    kills++;
    // Whatever the slot confirmed must be in Kafka: check every transaction whose commit is surely below it.
    const confirmed = parseLsn((await confirmedFlushLsn(sql, slot)) ?? "0/0");
    const inKafka = new Set(
      (await readTopics(brokers, [topic])).map((record) => changeIdentity(record)?.split("/")[0]),
    );
    const covered = workload.transactions.filter((transaction) => transaction.walAfterCommit <= confirmed);
    for (const transaction of covered)
      assert.ok(
        inKafka.has(transaction.xid),
        `transaction ${transaction.xid} confirmed to the slot but not in Kafka`,
      );
    t.diagnostic(
      `kill ${kills}: slot confirmed ${formatLsn(confirmed)}, covering ${covered.length} of ${workload.transactions.length} committed transactions`,
    );
    current = startCapture(args);
    await current.ready;
  }
  await new Promise((resolve) => setTimeout(resolve, 500));
  await workload.stop();

  const expected = new Set(workload.committed);
  const records = await waitFor(
    "every committed change in Kafka",
    async () => {
      const found = await readTopics(brokers, [topic]);
      const seen = new Set(found.map(changeIdentity));
      return [...expected].every((identity) => seen.has(identity)) ? found : undefined;
    },
    120_000,
  );
  const changes = records.map(changeIdentity).filter((identity) => identity !== null);
  const distinct = new Set(changes);
  assert.deepEqual(distinct, expected, "distinct (txId, key, op) are exactly what the workload committed");
  t.diagnostic(
    `${kills} SIGKILLs; ${expected.size} committed changes; ${changes.length} records (${changes.length - expected.size} redelivered)`,
  );

  // A clean stop: SIGTERM → acks awaited, offset stored, exit 0.
  const exited = once(current.child, "exit");
  current.child.kill("SIGTERM");
  const [code] = (await exited) as [number | null];
  assert.equal(code, 0, current.stderr());
  assert.match(current.stderr(), /stopped; slot \S+ confirmed through/);
});
