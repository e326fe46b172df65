/**
 * The `floe` command: parses the command line and dispatches to one module per command. Exit codes are
 * part of the contract (../shared/DESIGN.md): 0 success, 1 failure, 2 bad usage, 3 verify found differences.
 */
import { readFileSync, realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Command, CommanderError } from "commander";
import { describeError } from "../errors.ts";
import { registerBucket } from "./bucket.ts";
import { captureCommand } from "./capture.ts";
import { applyConfigFile, configFileOption } from "./client-config.ts";
import { CliError } from "./config.ts";
import { dumpCommand, openRestCatalog } from "./dump.ts";
import { maintainCommand } from "./maintain.ts";
import { queryCommand } from "./query.ts";
import { replicateCommand } from "./replicate.ts";
import { registerServe } from "./serve.ts";
import { sinkCommand } from "./sink.ts";
import { isDifferences, verifyCommand } from "./verify.ts";

export const exitCodes = { ok: 0, failure: 1, usage: 2, differences: 3 } as const;

function packageVersion(): string {
  const url = new URL("../../package.json", import.meta.url);
  return (JSON.parse(readFileSync(url, "utf8")) as { version: string }).version;
}

export function buildProgram(): Command {
  const program = new Command("floe")
    .description("Stream PostgreSQL into Apache Iceberg table buckets.")
    .version(packageVersion(), "-v, --version")
    .showHelpAfterError()
    .exitOverride();
  registerServe(program);
  registerBucket(program);
  program.addCommand(configFileOption(dumpCommand({ openCatalog: openRestCatalog })));
  program.addCommand(configFileOption(queryCommand({ openCatalog: openRestCatalog })));
  program.addCommand(configFileOption(maintainCommand({ openCatalog: openRestCatalog })));
  program.addCommand(configFileOption(replicateCommand({ openCatalog: openRestCatalog })));
  program.addCommand(captureCommand());
  program.addCommand(sinkCommand({ openCatalog: openRestCatalog }));
  program.addCommand(configFileOption(verifyCommand({ openCatalog: openRestCatalog })));
  return program;
}

export async function run(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    applyConfigFile(program, argv);
    await program.parseAsync(argv, { from: "user" });
    if (argv.length === 0) program.outputHelp();
    return exitCodes.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end through exitOverride with exit code 0.
      return error.exitCode === 0 ? exitCodes.ok : exitCodes.usage;
    }
    console.error(`floe: ${describeError(error)}`);
    if (isDifferences(error)) return exitCodes.differences;
    return error instanceof CliError && error.code === "USAGE" ? exitCodes.usage : exitCodes.failure;
  }
}

if (process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  run(process.argv.slice(2)).then((code) => process.exit(code));
}
