/**
 * `--config floe.yaml` (or FLOE_CONFIG) for the commands that talk to a catalog — dump, query, maintain,
 * replicate, verify: the file's keys are the flags' names in camelCase (`catalog`, `bucket`,
 * `credential`, `pg`, `namespace`, ...), optionally under a section named after the command
 * (`replicate: {mode: changelog}`), which wins over the top level. A command takes the keys it has
 * and leaves the others, so one file serves every command (as `floe serve` reads the same file).
 * Strongest first: the flag, the environment variable, the command's section, the top level, the
 * default. Values go through the flag's own parser and choices, so a bad value is the same usage error
 * (naming the file and key) as on the command line.
 *
 * Commander applies environment variables over values whose source is `config`, and checks mandatory
 * options before any hook runs, so the file is applied to the command before parsing.
 */
import { type Command, InvalidArgumentError, type Option } from "commander";
import { CliError, readConfigFile } from "./config.ts";

/** The commands whose plain flags a config file may set. */
export const CONFIG_FILE_COMMANDS = ["dump", "query", "maintain", "replicate", "verify"] as const;

export function configFileOption(command: Command): Command {
  return command.option("--config <file>", "YAML file with these flags' values (env: FLOE_CONFIG)");
}

/** The `--config` value in argv (`--config F` or `--config=F`), else FLOE_CONFIG. */
function configPathOf(argv: readonly string[], env: NodeJS.ProcessEnv): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "--") break;
    if (arg === "--config") return argv[i + 1];
    if (arg.startsWith("--config=")) return arg.slice("--config=".length);
  }
  return env.FLOE_CONFIG || undefined;
}

function settingValue(option: Option, key: string, raw: unknown, file: string): unknown {
  const where = `${key} in ${file}`;
  const takesValue = option.required || option.optional;
  if (!takesValue) {
    // (A `--no-x` flag's key is `x`: the value is the setting itself.)
    if (typeof raw !== "boolean") throw new CliError("USAGE", `${where} must be true or false`);
    return raw;
  }
  const items = Array.isArray(raw) ? raw : [raw];
  for (const item of items) {
    if (item === null || typeof item === "object")
      throw new CliError(
        "USAGE",
        `${where} must be a value (or a list of values), not ${JSON.stringify(item)}`,
      );
  }
  const texts = items.map(String);
  const choices = option.argChoices;
  for (const text of texts) {
    if (choices && !choices.includes(text))
      throw new CliError("USAGE", `${where} is '${text}'; allowed: ${choices.join(", ")}`);
  }
  const parse = option.parseArg;
  if (!parse) return Array.isArray(raw) ? texts : texts[0];
  try {
    // Repeatable flags accumulate through their parser, as on the command line.
    let value: unknown = option.defaultValue;
    for (const text of texts) value = parse(text, value);
    return value;
  } catch (error) {
    if (error instanceof InvalidArgumentError) throw new CliError("USAGE", `${where}: ${error.message}`);
    throw error;
  }
}

/**
 * Sets the options of the command `argv` names from the config file, before the program parses argv.
 * Does nothing for other commands, or without `--config` / FLOE_CONFIG.
 */
export function applyConfigFile(program: Command, argv: readonly string[], env = process.env): void {
  const name = argv[0];
  if (!name || !(CONFIG_FILE_COMMANDS as readonly string[]).includes(name)) return;
  const command = program.commands.find((c) => c.name() === name);
  const file = configPathOf(argv.slice(1), env);
  if (!command || !file) return;
  const settings = readConfigFile(file);
  const section = settings[name];
  if (section !== undefined && (section === null || typeof section !== "object" || Array.isArray(section)))
    throw new CliError("USAGE", `${name} in ${file} must be a mapping of ${name}'s settings`);
  const merged: Record<string, unknown> = {
    ...settings,
    ...(section as Record<string, unknown> | undefined),
  };
  for (const option of command.options) {
    const key = option.attributeName();
    if (key === "config" || !(key in merged) || merged[key] === undefined) continue;
    command.setOptionValueWithSource(key, settingValue(option, key, merged[key], file), "config");
  }
}
