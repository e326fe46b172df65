// `floe capture` itself: a team's Debezium connector config file drives it (plus flags), the
// Prometheus endpoint serves the slot-lag gauge and the counters, a stop signal ends it cleanly, and
// an unreachable broker or missing setting ends it with the right exit code and a message naming them.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { captureCommand } from "../../../src/cli/capture.ts";
import { defer } from "../../helpers/services.ts";
import { captureFixture, payloadOf, readTopics, waitFor } from "./helpers.ts";

const MAIN = fileURLToPath(new URL("../../../src/cli/main.ts", import.meta.url));

function metricValue(text: string, name: string): number | undefined {
  const line = text.split("\n").find((candidate) => candidate.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

test("floe capture from a Debezium connector config: topics, metrics endpoint with the slot-lag gauge, clean stop", {
  timeout: 180_000,
}, async (t) => {
  const fixture = await captureFixture(
    t,
    "create table orders (id int primary key, total int); insert into orders values (1, 10), (2, 20); create table ignored (id int primary key)",
  );
  const { sql, brokers, prefix, slot } = fixture;
  const url = new URL(fixture.url);
  const dir = await mkdtemp(join(tmpdir(), "floe-capture-cli-"));
  defer(t, () => rm(dir, { recursive: true, force: true }));
  const configPath = join(dir, "inventory-connector.properties");
  await writeFile(
    configPath,
    [
      "name=inventory-connector",
      "connector.class=io.debezium.connector.postgresql.PostgresConnector",
      "plugin.name=pgoutput",
      `database.hostname=${url.hostname}`,
      `database.port=${url.port}`,
      `database.user=${decodeURIComponent(url.username)}`,
      `database.dbname=${url.pathname.slice(1)}`,
      `topic.prefix=${prefix}`,
      `slot.name=${slot}`,
      `publication.name=${slot}`,
      "table.include.list=public.orders",
      "key.converter.schemas.enable=false",
      "value.converter.schemas.enable=false",
      "transforms=unwrap",
      "",
    ].join("\n"),
  );

  let stop: () => void = () => {};
  const stopSignal = new Promise<void>((resolve) => {
    stop = resolve;
  });
  let log = "";
  const stderr = new Writable({
    write(chunk, _encoding, callback) {
      log += chunk.toString();
      callback();
    },
  });
  let streaming: (port: number | null) => void = () => {};
  const metricsPort = new Promise<number | null>((resolve) => {
    streaming = resolve;
  });
  const running = captureCommand({
    stopSignal,
    stderr,
    onStreaming: ({ metricsPort }) => streaming(metricsPort),
  }).parseAsync(
    ["--config", configPath, "--brokers", brokers.join(","), "--metrics-port", "0", "--log-interval", "0.2"],
    { from: "user" },
  );
  running.catch(() => {});
  defer(t, async () => {
    stop();
    await running.catch(() => {});
  });
  const port = await Promise.race([metricsPort, running.then(() => null)]);
  assert.ok(port, `floe capture is streaming with a metrics port: ${log}`);
  assert.match(log, /ignoring settings floe capture does not use: transforms/);

  await sql.query("insert into orders values (3, 30)");
  await sql.query("insert into ignored values (1)");
  const topic = `${prefix}.public.orders`;
  const records = await waitFor("order 3 in Kafka", async () => {
    const found = await readTopics(brokers, [topic]);
    return found.some((record) => payloadOf(record.key)?.id === 3) ? found : undefined;
  });
  assert.deepEqual(
    records.map((record) => [record.key, (record.value as { op: string }).op]),
    [
      [{ id: 1 }, "r"],
      [{ id: 2 }, "r"],
      [{ id: 3 }, "c"],
    ],
    "plain JSON (schemas disabled by the connector config), only the included table",
  );
  assert.deepEqual(await readTopics(brokers, [`${prefix}.public.ignored`]), []);

  const metrics = await waitFor("the metrics to count the insert", async () => {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    return (metricValue(text, "floe_capture_events_total") ?? 0) >= 1 ? text : undefined;
  });
  assert.match(metrics, /# TYPE floe_capture_slot_lag_bytes gauge/);
  const lag = metricValue(metrics, "floe_capture_slot_lag_bytes");
  assert.ok(lag !== undefined && Number.isFinite(lag) && lag >= 0, `slot lag gauge: ${lag}`);
  assert.equal(metricValue(metrics, "floe_capture_snapshot_rows_total"), 2);
  assert.ok((metricValue(metrics, "floe_capture_transactions_total") ?? 0) >= 1);
  assert.ok((metricValue(metrics, "floe_capture_last_commit_lsn") ?? 0) > 0);
  assert.ok((metricValue(metrics, "floe_capture_records_acknowledged_total") ?? 0) >= 3);
  assert.equal((await fetch(`http://127.0.0.1:${port}/other`)).status, 404);
  await waitFor("a progress line", async () => (/events\/s/.test(log) ? true : undefined), 10_000);

  stop();
  await running;
  assert.match(log, /stopped; slot \S+ confirmed through/);
  await assert.rejects(fetch(`http://127.0.0.1:${port}/metrics`), "the metrics server is closed");
});

test("floe capture exits 1 with BROKERS_UNREACHABLE naming the brokers, and 2 when no broker is given", {
  timeout: 60_000,
}, async (t) => {
  const fixture = await captureFixture(t, "create table orders (id int primary key)");
  const env = { ...process.env, FLOE_KAFKA_BROKERS: "" };
  const unreachable = spawnSync(
    process.execPath,
    [
      "--import",
      "tsx",
      MAIN,
      "capture",
      "--pg",
      fixture.url,
      "--brokers",
      "127.0.0.1:1",
      "--slot",
      fixture.slot,
    ],
    { encoding: "utf8", env, timeout: 50_000 },
  );
  assert.equal(unreachable.status, 1, unreachable.stderr);
  assert.match(unreachable.stderr, /BROKERS_UNREACHABLE: no Kafka broker answered at 127\.0\.0\.1:1/);

  const missing = spawnSync(process.execPath, ["--import", "tsx", MAIN, "capture", "--pg", fixture.url], {
    encoding: "utf8",
    env,
    timeout: 50_000,
  });
  assert.equal(missing.status, 2, missing.stderr);
  assert.match(missing.stderr, /no Kafka brokers: give --brokers/);
});
