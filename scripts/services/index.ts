/**
 * One entry point over the development services: bring any subset up or down, report status, and
 * publish how to reach them in `.floe/services/env.json`, which test helpers and the demo read.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stateRoot } from "./common.ts";
import { type KafkaInfo, kafkaDown, kafkaStatus, kafkaUp } from "./kafka.ts";
import { type PostgresInfo, postgresDown, postgresStatus, postgresUp } from "./postgres.ts";
import { type S3Info, s3Down, s3Status, s3Up } from "./s3.ts";

export const serviceNames = ["postgres", "kafka", "s3"] as const;
export type ServiceName = (typeof serviceNames)[number];

export interface ServicesEnv {
  postgres?: PostgresInfo;
  kafka?: KafkaInfo;
  s3?: S3Info;
}

const envFile = join(stateRoot, "env.json");

export function readServicesEnv(): ServicesEnv {
  if (!existsSync(envFile)) return {};
  return JSON.parse(readFileSync(envFile, "utf8")) as ServicesEnv;
}

function writeServicesEnv(env: ServicesEnv) {
  writeFileSync(envFile, `${JSON.stringify(env, null, 2)}\n`);
}

export function parseServiceNames(args: string[]): ServiceName[] {
  if (args.length === 0) return [...serviceNames];
  for (const name of args) {
    if (!serviceNames.includes(name as ServiceName)) {
      throw new Error(`unknown service '${name}'; choose from ${serviceNames.join(", ")}`);
    }
  }
  return args as ServiceName[];
}

/** Starts what is not running (in parallel), waits until healthy, returns how to reach each. */
export async function servicesUp(names: readonly ServiceName[] = serviceNames): Promise<ServicesEnv> {
  const env = readServicesEnv();
  const started = await Promise.all(
    names.map(async (name) => {
      switch (name) {
        case "postgres":
          return { postgres: await postgresUp() };
        case "kafka":
          return { kafka: await kafkaUp() };
        case "s3":
          return { s3: await s3Up() };
      }
    }),
  );
  const merged: ServicesEnv = Object.assign(env, ...started);
  writeServicesEnv(merged);
  return merged;
}

export async function servicesDown(names: readonly ServiceName[] = serviceNames): Promise<void> {
  const env = readServicesEnv();
  await Promise.all(
    names.map(async (name) => {
      switch (name) {
        case "postgres":
          await postgresDown();
          break;
        case "kafka":
          await kafkaDown();
          break;
        case "s3":
          await s3Down();
          break;
      }
      delete env[name];
    }),
  );
  writeServicesEnv(env);
}

export async function servicesStatus(names: readonly ServiceName[] = serviceNames) {
  const probes = { postgres: postgresStatus, kafka: kafkaStatus, s3: s3Status };
  return Promise.all(names.map(async (name) => ({ name, ...(await probes[name]()) })));
}
