/**
 * `npm run services -- up|down|status [postgres|kafka|s3 ...]`: the development services, on loopback,
 * with data and logs under .floe/services. `up` is idempotent and takes seconds once artifacts are cached.
 */
import { describeError } from "../src/errors.ts";
import { parseServiceNames, servicesDown, servicesStatus, servicesUp } from "./services/index.ts";

const usage = "usage: npm run services -- up|down|status [postgres|kafka|s3 ...]";

async function main(argv: string[]): Promise<number> {
  const [action, ...rest] = argv;
  const names = parseServiceNames(rest);
  switch (action) {
    case "up": {
      const started = Date.now();
      const env = await servicesUp(names);
      console.log(JSON.stringify(env, null, 2));
      console.error(`services up (${names.join(", ")}) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      return 0;
    }
    case "down":
      await servicesDown(names);
      console.error(`services down (${names.join(", ")})`);
      return 0;
    case "status": {
      const statuses = await servicesStatus(names);
      for (const s of statuses)
        console.log(`${s.name.padEnd(9)} ${s.running ? "up  " : "down"}  ${s.detail}`);
      return statuses.every((s) => s.running) ? 0 : 1;
    }
    default:
      console.error(usage);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    console.error(describeError(error));
    process.exit(1);
  },
);
