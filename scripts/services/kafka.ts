/**
 * The development Kafka: a single-node KRaft broker (broker + controller in one JVM) built from the
 * Apache Kafka jars on Maven Central, resolved once with the machine's Maven and run with its Java.
 * FLOE_KAFKA_BROKERS points tests at an existing cluster instead (then nothing is started).
 */
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Admin } from "@platformatic/kafka";
import {
  assertPortsFree,
  cacheRoot,
  isProcessAlive,
  readPid,
  requireTool,
  runOrThrow,
  ServiceError,
  serviceDir,
  startDaemon,
  stopDaemon,
  waitFor,
} from "./common.ts";

export const kafkaVersion = "4.1.1";
const log4jVersion = "2.24.3";

export interface KafkaInfo {
  brokers: string;
  managed: boolean;
}

function ports() {
  const broker = Number(process.env.FLOE_KAFKA_PORT ?? 19092);
  return { broker, controller: broker + 1 };
}

export function kafkaBrokers(): string {
  return process.env.FLOE_KAFKA_BROKERS || `127.0.0.1:${ports().broker}`;
}

/** Resolves kafka_2.13 and its runtime dependencies into the cache (seconds when already there). */
export function ensureKafkaJars(): string {
  const dir = join(cacheRoot, `kafka-${kafkaVersion}`);
  const libs = join(dir, "libs");
  if (existsSync(join(libs, `kafka_2.13-${kafkaVersion}.jar`))) return libs;
  requireTool(
    "mvn",
    ["-v"],
    "Install Maven (apt-get install maven) so the Kafka jars can be resolved from Maven Central.",
  );
  mkdirSync(dir, { recursive: true });
  const pom = `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.floe.services</groupId><artifactId>kafka-runtime</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>${kafkaVersion}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>${log4jVersion}</version></dependency>
  </dependencies>
</project>
`;
  writeFileSync(join(dir, "pom.xml"), pom);
  rmSync(`${libs}.partial`, { recursive: true, force: true });
  runOrThrow("Resolving the Kafka jars from Maven Central", "mvn", [
    "-q",
    "-B",
    "-f",
    join(dir, "pom.xml"),
    "dependency:copy-dependencies",
    `-DoutputDirectory=${libs}.partial`,
    "-DincludeScope=runtime",
  ]);
  rmSync(libs, { recursive: true, force: true });
  runOrThrow("Moving the Kafka jars into place", "mv", [`${libs}.partial`, libs]);
  return libs;
}

function layout() {
  const dir = serviceDir("kafka");
  return {
    dir,
    dataDir: join(dir, "data"),
    config: join(dir, "server.properties"),
    log4j: join(dir, "log4j2.properties"),
    logFile: join(dir, "kafka.log"),
    pidFile: join(dir, "kafka.pid"),
  };
}

function writeConfig(paths: ReturnType<typeof layout>) {
  const { broker, controller } = ports();
  const properties = [
    "process.roles=broker,controller",
    "node.id=1",
    `controller.quorum.voters=1@127.0.0.1:${controller}`,
    `listeners=PLAINTEXT://127.0.0.1:${broker},CONTROLLER://127.0.0.1:${controller}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${broker}`,
    "controller.listener.names=CONTROLLER",
    "inter.broker.listener.name=PLAINTEXT",
    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
    `log.dirs=${paths.dataDir}`,
    "num.partitions=1",
    "offsets.topic.replication.factor=1",
    "offsets.topic.num.partitions=4",
    "transaction.state.log.replication.factor=1",
    "transaction.state.log.min.isr=1",
    "transaction.state.log.num.partitions=4",
    "group.initial.rebalance.delay.ms=0",
    "auto.create.topics.enable=false",
    "log.retention.hours=24",
    "log.segment.bytes=67108864",
  ];
  writeFileSync(paths.config, `${properties.join("\n")}\n`);
  writeFileSync(
    paths.log4j,
    [
      "status = warn",
      "appender.out.type = Console",
      "appender.out.name = out",
      "appender.out.layout.type = PatternLayout",
      "appender.out.layout.pattern = [%d] %p %m (%c)%n",
      "rootLogger.level = warn",
      "rootLogger.appenderRef.out.ref = out",
      "logger.kafka.name = kafka.server.KafkaRaftServer",
      "logger.kafka.level = info",
    ].join("\n"),
  );
}

async function brokerAnswers(brokers: string): Promise<boolean> {
  const admin = new Admin({
    clientId: "floe-health",
    bootstrapBrokers: brokers.split(","),
    retries: 0,
    timeout: 2000,
  });
  try {
    await admin.listTopics();
    return true;
  } finally {
    await admin.close().catch(() => {});
  }
}

export async function kafkaUp(): Promise<KafkaInfo> {
  if (process.env.FLOE_KAFKA_BROKERS) {
    const brokers = process.env.FLOE_KAFKA_BROKERS;
    await waitFor(`Kafka at FLOE_KAFKA_BROKERS=${brokers}`, () => brokerAnswers(brokers), 15_000);
    return { brokers, managed: false };
  }
  const paths = layout();
  const brokers = kafkaBrokers();
  if (isProcessAlive(readPid(paths.pidFile))) {
    await waitFor("Kafka", () => brokerAnswers(brokers), 60_000, paths.logFile);
    return { brokers, managed: true };
  }
  const javaVersion = requireTool(
    "java",
    ["-version"],
    "Kafka needs Java 17 or newer: apt-get install openjdk-17-jre-headless.",
  );
  const major = Number(/version "(\d+)/.exec(javaVersion)?.[1] ?? 0);
  if (major < 17) {
    throw new ServiceError(
      "TOOL_MISSING",
      `Kafka ${kafkaVersion} needs Java 17 or newer; 'java -version' says: ${javaVersion}`,
    );
  }
  const { broker, controller } = ports();
  await assertPortsFree(
    "Kafka",
    { broker, controller },
    "FLOE_KAFKA_PORT (the controller uses the port after it)",
  );
  const libs = ensureKafkaJars();
  writeConfig(paths);
  const classpath = join(libs, "*");
  if (!existsSync(paths.dataDir) || !readdirSync(paths.dataDir).includes("meta.properties")) {
    mkdirSync(paths.dataDir, { recursive: true });
    const clusterId = runOrThrow("Generating a Kafka cluster id", "java", [
      "-cp",
      classpath,
      "kafka.tools.StorageTool",
      "random-uuid",
    ])
      .trim()
      .split("\n")
      .pop();
    runOrThrow("Formatting the Kafka log directory", "java", [
      "-cp",
      classpath,
      `-Dlog4j2.configurationFile=${paths.log4j}`,
      "kafka.tools.StorageTool",
      "format",
      "-t",
      clusterId ?? "",
      "-c",
      paths.config,
      "--ignore-formatted",
    ]);
  }
  const pid = startDaemon({
    command: "java",
    args: [
      "-Xms256m",
      "-Xmx1g",
      "-XX:+UseG1GC",
      "-XX:MaxGCPauseMillis=20",
      "-Djava.awt.headless=true",
      `-Dlog4j2.configurationFile=${paths.log4j}`,
      "-cp",
      classpath,
      "kafka.Kafka",
      paths.config,
    ],
    logFile: paths.logFile,
    pidFile: paths.pidFile,
  });
  await waitFor(
    "Kafka",
    () => brokerAnswers(brokers),
    180_000,
    paths.logFile,
    () => isProcessAlive(pid),
  );
  return { brokers, managed: true };
}

export async function kafkaDown(): Promise<boolean> {
  if (process.env.FLOE_KAFKA_BROKERS) return false;
  return stopDaemon(layout().pidFile, 60_000);
}

export async function kafkaStatus(): Promise<{ running: boolean; detail: string }> {
  const brokers = kafkaBrokers();
  const running = await brokerAnswers(brokers).catch(() => false);
  return { running, detail: brokers };
}
