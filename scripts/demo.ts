/**
 * `npm run demo`: Floe's main job on embedded defaults, as far as it is built. Today that is the source
 * half: an embedded PostgreSQL with a small shop schema and a live workload of inserts, updates and
 * deletes, decoded through a pgoutput logical replication slot, with every committed change checked off
 * exactly once and its commit-to-decode latency measured. The report says plainly which parts of the
 * pipeline (Iceberg tables, floe serve, replicate, dump, verify) are not built yet.
 */
import pg from "pg";
import { LogicalReplicationService, type Pgoutput, PgoutputPlugin } from "pg-logical-replication";
import { describeError } from "../src/errors.ts";
import { servicesUp } from "./services/index.ts";

const workloadSeconds = Number(process.env.FLOE_DEMO_SECONDS ?? 10);
const database = "floe_demo";
const slot = "floe_demo";
const publication = "floe_demo";

type Op = "insert" | "update" | "delete";
type TableName = "customers" | "orders";
type Counts = Record<TableName, Record<Op, number>>;
const tables: TableName[] = ["customers", "orders"];
const ops: Op[] = ["insert", "update", "delete"];

const emptyCounts = (): Counts => ({
  customers: { insert: 0, update: 0, delete: 0 },
  orders: { insert: 0, update: 0, delete: 0 },
});

async function resetDatabase(adminUrl: string): Promise<string> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(
      "select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = $1",
      [slot],
    );
    await admin.query(`drop database if exists ${database} with (force)`);
    await admin.query(`create database ${database}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

async function createSchema(sql: pg.Client) {
  await sql.query(`
    create table customers (
      id serial primary key,
      name text not null,
      email text not null unique,
      created_at timestamptz not null default now()
    );
    create table orders (
      id bigserial primary key,
      customer_id int not null references customers(id),
      status text not null,
      total numeric(12,2) not null,
      updated_at timestamptz not null default now()
    );
    create publication ${publication} for table customers, orders;
  `);
  await sql.query("select pg_create_logical_replication_slot($1, 'pgoutput')", [slot]);
}

/** Random small transactions for `seconds`; returns the changes it committed, by table and op. */
async function runWorkload(sql: pg.Client, seconds: number, stop: () => boolean) {
  const committed = emptyCounts();
  let transactions = 0;
  const deadline = Date.now() + seconds * 1000;
  const statuses = ["new", "paid", "shipped", "delivered"];
  let customerSeq = 0;
  while (Date.now() < deadline && !stop()) {
    const pending = emptyCounts();
    await sql.query("begin");
    const roll = Math.random();
    if (roll < 0.3 || customerSeq < 5) {
      customerSeq++;
      await sql.query("insert into customers (name, email) values ($1, $2)", [
        `customer ${customerSeq}`,
        `c${customerSeq}@example.com`,
      ]);
      pending.customers.insert++;
    }
    const inserts = 1 + Math.floor(Math.random() * 3);
    for (let i = 0; i < inserts; i++) {
      await sql.query(
        "insert into orders (customer_id, status, total) select id, 'new', $1 from customers order by random() limit 1",
        [(Math.random() * 500).toFixed(2)],
      );
      pending.orders.insert++;
    }
    const updated = await sql.query(
      "update orders set status = $1, updated_at = now() where id in (select id from orders order by random() limit 2)",
      [statuses[Math.floor(Math.random() * statuses.length)]],
    );
    pending.orders.update += updated.rowCount ?? 0;
    if (Math.random() < 0.3) {
      const deleted = await sql.query(
        "delete from orders where id in (select id from orders where status = 'delivered' order by id limit 1)",
      );
      pending.orders.delete += deleted.rowCount ?? 0;
    }
    await sql.query("commit");
    transactions++;
    for (const table of tables) for (const op of ops) committed[table][op] += pending[table][op];
    await new Promise((r) => setTimeout(r, 20));
  }
  return { committed, transactions };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

async function main(): Promise<number> {
  let interrupted = false;
  process.on("SIGINT", () => {
    interrupted = true;
    console.error("\nstopping (Ctrl-C) ...");
  });

  console.log("Floe demo: starting the embedded PostgreSQL (first run initialises it) ...");
  const env = await servicesUp(["postgres"]);
  if (!env.postgres) throw new Error("PostgreSQL did not start");
  const url = await resetDatabase(env.postgres.url);
  const sql = new pg.Client({ connectionString: url });
  await sql.connect();
  await createSchema(sql);
  console.log(
    `database ${database}: tables customers, orders; publication and pgoutput slot '${slot}' created`,
  );

  const received = emptyCounts();
  let commitsReceived = 0;
  const latenciesMs: number[] = [];
  const replication = new LogicalReplicationService(
    { connectionString: url },
    { acknowledge: { auto: true, timeoutSeconds: 1 } },
  );
  replication.on("data", (_lsn: string, message: Pgoutput.Message) => {
    if (message.tag === "insert" || message.tag === "update" || message.tag === "delete") {
      const table = message.relation.name;
      if (table === "customers" || table === "orders") received[table][message.tag]++;
    } else if (message.tag === "commit") {
      commitsReceived++;
      latenciesMs.push(Date.now() - Number(BigInt(message.commitTime.toString()) / 1000n));
    }
  });
  let replicationError: unknown;
  replication.on("error", (error: unknown) => {
    replicationError = error;
  });
  replication
    .subscribe(new PgoutputPlugin({ protoVersion: 1, publicationNames: [publication] }), slot)
    .catch((error: unknown) => {
      replicationError = error;
    });

  console.log(`running a live workload for ${workloadSeconds} s (inserts, updates, deletes) ...`);
  const { committed, transactions } = await runWorkload(sql, workloadSeconds, () => interrupted);

  const deadline = Date.now() + 30_000;
  while (commitsReceived < transactions && Date.now() < deadline && !replicationError) {
    await new Promise((r) => setTimeout(r, 100));
  }
  const rows = await sql.query<{ table: string; n: string }>(
    "select 'customers' as table, count(*) as n from customers union all select 'orders', count(*) from orders",
  );
  await replication.stop();
  await sql.query("select pg_drop_replication_slot($1)", [slot]);
  await sql.end();

  const sorted = [...latenciesMs].sort((a, b) => a - b);
  const exact = JSON.stringify(received) === JSON.stringify(committed) && commitsReceived === transactions;
  console.log("\n=== Floe demo report ===");
  console.log(
    `transactions committed in PostgreSQL: ${transactions}; decoded from the slot: ${commitsReceived}`,
  );
  for (const table of tables) {
    const c = committed[table];
    const r = received[table];
    console.log(
      `  ${table.padEnd(10)} committed ins/upd/del ${c.insert}/${c.update}/${c.delete}   decoded ${r.insert}/${r.update}/${r.delete}`,
    );
  }
  for (const row of rows.rows) console.log(`  rows now in ${row.table}: ${row.n}`);
  console.log(
    `commit → decoded latency: median ${percentile(sorted, 50)} ms, p95 ${percentile(sorted, 95)} ms, max ${sorted.at(-1) ?? "n/a"} ms`,
  );
  console.log(
    exact
      ? "result: every committed change was decoded exactly once."
      : `result: MISMATCH between committed and decoded changes${replicationError ? ` (${describeError(replicationError)})` : ""}.`,
  );
  console.log(
    "\nNot built yet: Iceberg tables, floe serve, floe replicate, floe dump and floe verify. When they land,\n" +
      "this demo carries the same workload into an Iceberg table bucket and verifies the lake against PostgreSQL.\n" +
      "PostgreSQL keeps running for the next run; stop it with: npm run services -- down",
  );
  return exact ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(`demo failed: ${describeError(error)}`);
    process.exit(1);
  },
);
