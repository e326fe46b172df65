// Exactly-once under faults, end to end: PostgreSQL → `floe capture` (process) → a Kafka broker of the
// test's own → two `floe sink` processes (consumer group + elected coordinator) → `floe serve`. While a
// workload of multi-table transactions, updates, deletes and primary-key changes runs, a seeded chaos
// loop kill -9s a worker, the elected coordinator, the capture and the broker, and freezes the
// coordinator (SIGSTOP) past its session timeout so a new one is elected before the old one wakes up as
// a zombie. A supervisor restarts whatever exited, as a deployment would. Afterwards every table must
// equal PostgreSQL row for row (nothing lost, nothing duplicated) and no table may hold a commit of an
// older coordinator epoch after a newer one (a zombie's late commit is rejected).
//
// FLOE_CHAOS_SEED=<n> replays a run's choice of faults; the seed is printed as a test diagnostic. Seed
// 427949 once found a duplicate row. Three causes were fixed: a worker's round landing in two commits, a
// coordinator retrying a conflict with a zombie's commit of the same events (unit tests in
// test/sink/kafka-coordinator.test.ts), and a worker re-reading its keys from a stale table after a
// rebalance (test/sink/table-writer.test.ts). ~150-390 s with its own broker.
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type TestContext, test } from "node:test";
import { fileURLToPath } from "node:url";
import { Admin } from "@platformatic/kafka";
import pg from "pg";
import { isPortOpen } from "../../scripts/services/common.ts";
import type { Catalog } from "../../src/catalog/catalog.ts";
import { closeCatalog, openRestCatalog } from "../../src/cli/dump.ts";
import { startServer } from "../../src/server/server.ts";
import { waitForEquality as waitForTables } from "../helpers/equality.ts";
import { createTestDatabase, defer, uniqueName } from "../helpers/services.ts";
import { SHOP_DDL, SHOP_TABLES, shopStep } from "../helpers/shop.ts";

const MAIN = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));
const SERVICES = fileURLToPath(new URL("../../scripts/services.ts", import.meta.url));

const TABLES = SHOP_TABLES;

const waitForEquality = (sql: pg.Client, catalog: Catalog, timeoutMs: number) =>
  waitForTables(sql, catalog, TABLES, { namespace: ["shop"], timeoutMs, intervalMs: 1000 });

/** mulberry32: a small seeded PRNG, so a failing run's faults can be replayed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A child process the test keeps running: restarted a second after it exits, until stopped. */
class Supervised {
  child: ChildProcess | undefined;
  readonly lines: string[] = [];
  starts = 0;
  #stopping = false;

  constructor(
    readonly name: string,
    readonly argv: () => string[],
  ) {}

  start(): void {
    this.starts++;
    const child = spawn(process.execPath, ["--import", "tsx", ...this.argv()], {
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
    });
    this.child = child;
    let partial = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      const text = partial + chunk.toString();
      const parts = text.split("\n");
      partial = parts.pop() ?? "";
      for (const line of parts) this.lines.push(`${this.name}#${this.starts}: ${line}`);
      if (this.lines.length > 4000) this.lines.splice(0, this.lines.length - 4000);
    });
    child.once("exit", (code, signal) => {
      this.lines.push(`${this.name}#${this.starts}: exited (${code ?? signal})`);
      if (this.child === child) this.child = undefined;
      if (!this.#stopping) setTimeout(() => !this.#stopping && !this.child && this.start(), 1000);
    });
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** The last `coordinator: elected, epoch N` of the current process, if it was elected. */
  electedEpoch(): number | undefined {
    const prefix = `${this.name}#${this.starts}: `;
    for (let i = this.lines.length - 1; i >= 0; i--) {
      const line = this.lines[i]!;
      if (!line.startsWith(prefix)) break;
      const match = /coordinator: elected, epoch (\d+)/.exec(line);
      if (match) return Number(match[1]);
      if (line.includes("stands down")) return undefined;
    }
    return undefined;
  }

  signal(signal: NodeJS.Signals): void {
    this.child?.kill(signal);
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    const child = this.child;
    if (!child) return;
    const exited = once(child, "exit");
    child.kill("SIGCONT");
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    await exited;
    clearTimeout(timer);
  }
}

/** A single-node KRaft broker of this test's own (so killing it disturbs no other test). */
class Broker {
  readonly stateDir = mkdtempSync(join(tmpdir(), "floe-chaos-kafka-"));
  constructor(readonly port: number) {}

  get brokers(): string[] {
    return [`127.0.0.1:${this.port}`];
  }

  #services(command: "up" | "down"): void {
    const result = spawnSync(process.execPath, ["--import", "tsx", SERVICES, command, "kafka"], {
      encoding: "utf8",
      env: {
        ...process.env,
        FLOE_STATE_DIR: this.stateDir,
        FLOE_KAFKA_PORT: String(this.port),
        FLOE_KAFKA_BROKERS: "",
      },
    });
    if (result.status !== 0) throw new Error(`services ${command} kafka failed: ${result.stderr}`);
  }

  up(): void {
    this.#services("up");
  }

  kill9(): void {
    const pid = Number(readFileSync(join(this.stateDir, "kafka", "kafka.pid"), "utf8").trim());
    process.kill(pid, "SIGKILL");
  }

  down(): void {
    try {
      this.#services("down");
    } finally {
      rmSync(this.stateDir, { recursive: true, force: true });
    }
  }
}

async function freePortPair(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 30_000 + Math.floor(Math.random() * 10_000) * 2;
    if (!(await isPortOpen(port)) && !(await isPortOpen(port + 1))) return port;
  }
  throw new Error("no free port pair for the test's Kafka broker");
}

/** Multi-table transactions, updates, deletes and primary-key changes until stopped. */
function startWorkload(url: string) {
  let stopped = false;
  let transactions = 0;
  const done = (async () => {
    const sql = new pg.Client({ connectionString: url });
    await sql.connect();
    try {
      for (let i = 0; !stopped; i++) {
        await shopStep(sql, i);
        transactions++;
        await sleep(25);
      }
    } finally {
      await sql.end();
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await done;
    },
    done,
    count: () => transactions,
  };
}

test("exactly-once under kill -9 of workers, the coordinator, the capture and the broker, and a zombie coordinator", {
  timeout: 600_000,
}, async (t: TestContext) => {
  const seed = Number(process.env.FLOE_CHAOS_SEED ?? Date.now() % 1_000_000);
  t.diagnostic(`chaos seed ${seed} (FLOE_CHAOS_SEED=${seed} replays it)`);
  const rand = random(seed);
  // FLOE_CHAOS_TRANSACTIONAL=1 runs the sink transaction-consistent (--transaction-topic): the same
  // faults, whole PostgreSQL transactions per commit. Not yet in the default run: under these faults it
  // can stop committing (seeds 11 and 427949 stalled after a broker kill; see issue #6).
  const transactional = process.env.FLOE_CHAOS_TRANSACTIONAL === "1";
  t.diagnostic(`sink mode: ${transactional ? "transaction-consistent" : "default"}`);

  const broker = new Broker(await freePortPair());
  defer(t, () => broker.down());
  broker.up();

  const dataDir = mkdtempSync(join(tmpdir(), "floe-chaos-serve-"));
  defer(t, () => rmSync(dataDir, { recursive: true, force: true }));
  const server = await startServer({
    dataDir,
    host: "127.0.0.1",
    port: 0,
    logger: false,
    maintenanceIntervalMs: 0,
    auth: { anonymous: true },
  });
  defer(t, () => server.close());
  const catalogUrl = server.url;
  const bucket = "lake";
  await server.buckets.create(bucket);
  const catalog = await openRestCatalog(catalogUrl, bucket);
  defer(t, () => closeCatalog(catalog));

  const pgUrl = await createTestDatabase(t);
  const sql = new pg.Client({ connectionString: pgUrl });
  await sql.connect();
  defer(t, () => sql.end());
  await sql.query(SHOP_DDL);

  const prefix = uniqueName("chaos").replace(/[^a-z0-9_]/gi, "_");
  const topics = ["customers", "orders"].map((table) => `${prefix}.public.${table}`);
  const admin = new Admin({ clientId: "floe-chaos-admin", bootstrapBrokers: broker.brokers });
  await admin.createTopics({ topics, partitions: 3, replicas: 1 });
  await admin.close();

  const slot = uniqueName("floe_chaos").replace(/[^a-z0-9_]/gi, "_");
  const processes: Supervised[] = [];
  defer(t, async () => {
    for (const p of processes) await p.stop();
    await sql
      .query(
        "select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = $1 and not active",
        [slot],
      )
      .catch(() => {});
  });
  const capture = new Supervised("capture", () => [
    MAIN,
    "capture",
    "--pg",
    pgUrl,
    "--brokers",
    broker.brokers.join(","),
    "--topic-prefix",
    prefix,
    "--slot",
    slot,
    "--publication",
    slot,
    "--partitions",
    "3",
    "--log-interval",
    "5",
  ]);
  const sinkId = uniqueName("chaos-sink");
  // `floe sink` processes; each start is a new worker id (and transactional id), as in production.
  const worker = (id: string) =>
    new Supervised(id, () => [
      MAIN,
      "sink",
      "--brokers",
      broker.brokers.join(","),
      "--sink-id",
      sinkId,
      "--topics",
      topics.join(","),
      "--control-topic",
      `${prefix}.control`,
      "--catalog",
      catalogUrl,
      "--bucket",
      bucket,
      "--namespace",
      "shop",
      "--commit-interval-ms",
      "500",
      ...(transactional ? ["--transaction-topic", `${prefix}.transaction`] : []),
    ]);
  const workers = [worker("w1"), worker("w2")];
  processes.push(capture, ...workers);
  for (const p of processes) p.start();
  const debug = () => processes.flatMap((p) => p.lines.slice(-60)).join("\n");
  // Every process's log, time-ordered, for a failure's post-mortem.
  const logFile = join(tmpdir(), `floe-chaos-${seed}.log`);
  defer(t, () => {
    const lines = processes.flatMap((p) => p.lines);
    const time = (line: string) => /\d{4}-\d\d-\d\dT[\d:.]+Z/.exec(line)?.[0] ?? "";
    writeFileSync(logFile, `${lines.sort((a, b) => time(a).localeCompare(time(b))).join("\n")}\n`);
    t.diagnostic(`process logs: ${logFile}`);
  });

  const workload = startWorkload(pgUrl);
  defer(t, () => workload.stop());
  const faults: string[] = [];
  // Every kind of fault at least once, in a seeded order, ~10-15 s apart: each kill costs the groups a
  // session timeout (10 s) before the partitions move, so closer faults would only measure that.
  const plan = ["worker", "coordinator", "capture", "broker", "zombie", "worker", "coordinator", "capture"];
  for (let i = plan.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [plan[i], plan[j]] = [plan[j]!, plan[i]!];
  }
  if (process.env.FLOE_CHAOS_DRY === "1") plan.length = 0; // the same run without faults, as a baseline
  await sleep(8000);
  for (const fault of plan) {
    const leader = workers.find((w) => w.running && w.electedEpoch() !== undefined);
    const at = new Date().toISOString();
    if (fault === "broker") {
      faults.push(`${at} kill -9 broker`);
      broker.kill9();
      await sleep(1000);
      broker.up();
    } else if (fault === "capture") {
      faults.push(`${at} kill -9 capture`);
      capture.signal("SIGKILL");
    } else if (fault === "zombie" && leader) {
      // Frozen past its session timeout: the group elects a new coordinator; then the old one wakes
      // up still believing it leads, with whatever round it had in flight.
      faults.push(`${at} SIGSTOP coordinator ${leader.name} (epoch ${leader.electedEpoch()}) for 15 s`);
      leader.signal("SIGSTOP");
      await sleep(15_000);
      leader.signal("SIGCONT");
    } else if (fault === "coordinator" && leader) {
      faults.push(`${at} kill -9 coordinator ${leader.name}`);
      leader.signal("SIGKILL");
    } else {
      const victim = workers[Math.floor(rand() * workers.length)]!;
      faults.push(`${at} kill -9 worker ${victim.name}`);
      victim.signal("SIGKILL");
    }
    await sleep(10_000 + rand() * 5000);
  }
  await workload.stop();
  t.diagnostic(`${workload.count()} workload transactions; faults: ${faults.join(", ")}`);

  await waitForEquality(sql, catalog, 240_000).catch((error: unknown) => {
    throw new Error(`${(error as Error).message}\nfaults: ${faults.join(", ")}\n${debug()}`);
  });

  // No zombie commit: along each table's history the sink's epochs never go down.
  for (const name of Object.keys(TABLES)) {
    const table = await catalog.loadTable({ namespace: ["shop"], name });
    const history = table.metadata.snapshots
      .slice()
      .sort((a, b) => Number(a.sequenceNumber - b.sequenceNumber))
      .map(
        (s) =>
          `${s.summary.operation}:${s.summary["floe.sink.id"] === sinkId ? s.summary["floe.sink.epoch"] : "-"}`,
      );
    const epochs = table.metadata.snapshots
      .filter((s) => s.summary["floe.sink.id"] === sinkId)
      .sort((a, b) => Number(a.sequenceNumber - b.sequenceNumber))
      .map((s) => Number(s.summary["floe.sink.epoch"]));
    const context = `${name} history ${history.join(" ")}\nfaults: ${faults.join(", ")}\n${debug()}`;
    for (let i = 1; i < epochs.length; i++) {
      assert.ok(
        epochs[i]! >= epochs[i - 1]!,
        `epoch ${epochs[i]} committed after ${epochs[i - 1]}: ${context}`,
      );
    }
    assert.ok(epochs.length >= 2, `${epochs.length} sink commits: ${context}`);
    t.diagnostic(`${name}: ${epochs.length} sink commits, epochs ${epochs[0]} … ${epochs.at(-1)}`);
  }
  const fenced = processes
    .flatMap((p) => p.lines)
    .filter((line) => /stands down|COORDINATOR_FENCED/.test(line));
  t.diagnostic(
    `restarts: ${processes.map((p) => `${p.name} ${p.starts - 1}`).join(", ")}; fenced coordinator lines: ${fenced.length}`,
  );
});
