/**
 * The `convergence` command. Exit codes: 0 success, 1 the run failed, 2 bad usage or a bad config.
 * Progress goes to stderr; results (and --json) to stdout.
 */
import { constants } from "node:fs";
import { access, mkdir } from "node:fs/promises";
import { parseArgs } from "node:util";
import { executeRun } from "../../run/execute.js";
import { prepareRun } from "../../run/prepare.js";
import { ConvergenceApiError } from "../../sdk/client.js";
import { runOnServer } from "../../sdk/remote.js";
import type { OptimizationResult } from "../../sdk/response.js";
import { newRunId, seedFor, toSeedResponse } from "../../sdk/run-optimization.js";
import { runPreferences } from "../../society/preferences.js";
import { VERSION } from "../../version.js";
import { devVarsHint, devVarsKey } from "../client.js";
import { nodePrepareOptions } from "../io.js";
import { initCommand } from "./init.js";
import { type Io, reportApiError } from "./io.js";
import { KEYS_USAGE, KeysUsageError, keysCommand } from "./keys.js";
import { writeOutputs } from "./output.js";
import { Progress } from "./progress.js";
import { RUNS_USAGE, RunsUsageError, runsCommand } from "./runs.js";
import { RUNTIME_USAGE, RuntimeUsageError, runtimeCommand } from "./runtime.js";
import { printIssues, readConfig, validateCommand } from "./validate.js";

export const USAGE = `convergence ${VERSION}: tune an API's parameters against test cases and metrics

Usage:
  convergence init [--from-curl CMD | --yes --endpoint URL --body JSON] [--tune a,b] ...  (see convergence init --help)
  convergence optimize CONFIG [--json] [--output DIR] [--seed N] [--quiet] [--server URL]
  convergence validate CONFIG [--json] [--server URL]
  convergence runs list|show|cancel|promote ...                        (see convergence runs --help)
  convergence runtime configure|select|update|arms|evaluate|systems|decisions ...  (see convergence runtime --help)
  convergence keys create|list|revoke ...                              (see convergence keys --help)
  convergence --version | --help

init       write a starting config for your API (convergence.yaml) from a sample request and the fields of
           its body to tune, by questions, --from-curl "curl ...", or --yes with flags; then validate it
optimize   run an optimization in-process and print the best config and score
           --output DIR   write best_config.json, detailed_results.json, report.md, experiments.csv
           --seed N       override optimization.seed (same seed, same run)
           --json         print the result as JSON on stdout
           --quiet        no progress on stderr
           --server URL   run it on a Convergence service instead (key: CONVERGENCE_API_KEY); the progress
                          and the result are the same, and the run goes on if this command is stopped
validate   check a config (or a test-case file) and print every problem: exit 0 exactly when optimize
           would start it here (this shell's keys, the evaluator modules next to the config)
           --server URL   check it as that service would start it (its secrets, bundled evaluators, policy)

Exit codes: 0 success, 1 the run failed, 2 bad usage or bad config.
`;

class UsageError extends Error {}

function parseSeed(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^-?\d+$/.test(text) || !Number.isSafeInteger(Number(text))) throw new UsageError(`--seed must be an integer, got '${text}'`);
  return Number(text);
}

async function optimizeCommand(
  path: string,
  flags: { json: boolean; output?: string; seed?: number; quiet: boolean },
  io: Io,
): Promise<number> {
  const read = readConfig(path);
  const prepared =
    read.errors.length > 0
      ? { ok: false as const, errors: read.errors, warnings: [] }
      : await prepareRun(read.value, nodePrepareOptions(path));
  if (!prepared.ok) {
    if (flags.json) {
      const error = `Config validation failed: ${prepared.errors.map((e) => (e.path ? `${e.path}: ${e.message}` : e.message)).join("; ")}`;
      io.stdout.write(
        `${JSON.stringify({ success: false, error, errors: prepared.errors, configs_generated: 0, configs_saved: 0 }, null, 2)}\n`,
      );
    }
    io.stderr.write(`${path}: invalid config\n`);
    printIssues(io.stderr, "error:  ", prepared.errors);
    printIssues(io.stderr, "warning:", prepared.warnings);
    return 2;
  }
  const run = prepared.run;
  if (flags.output) {
    const problem = await prepareOutputDir(flags.output);
    if (problem) {
      io.stderr.write(`convergence: --output ${flags.output}: ${problem}\n`);
      return 2;
    }
  }
  if (!flags.quiet) printIssues(io.stderr, "warning:", run.warnings);
  const controller = new AbortController();
  const onSigint = () => controller.abort(new Error("interrupted"));
  process.once("SIGINT", onSigint);
  const progress = new Progress(io.stderr);
  try {
    const report = await executeRun(run, {
      runId: newRunId(run.config.api.name),
      seed: seedFor(run, flags.seed),
      signal: controller.signal,
      ...(flags.quiet ? {} : { onEvent: progress.handle }),
    });
    const result = toSeedResponse(report);
    let written: string[] = [];
    let writeError: string | null = null;
    if (flags.output) {
      try {
        const preferences = runPreferences(run.config, report.evaluations, run.testCases) ?? undefined;
        written = await writeOutputs(flags.output, report, preferences);
      } catch (error) {
        writeError = `could not write ${flags.output}: ${(error as Error).message}`;
      }
    }
    printResult(result, flags.json, io);
    for (const file of written) if (!flags.json) io.stdout.write(`wrote ${file}\n`);
    if (writeError) {
      io.stderr.write(`convergence: ${writeError}\n`);
      return 1;
    }
    return result.success ? 0 : 1;
  } finally {
    process.off("SIGINT", onSigint);
  }
}

function printResult(result: OptimizationResult, json: boolean, io: Io): void {
  if (json) io.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else if (result.success) {
    io.stdout.write(`Best score: ${result.best_score.toFixed(4)}\nBest config:\n${JSON.stringify(result.best_config, null, 2)}\n`);
    io.stdout.write(
      `${result.target_calls} target calls (${result.failed_calls} failed, ${result.retries} retries), seed ${result.seed}, run ${result.optimization_run_id}\n`,
    );
    for (const f of result.failures.slice(0, 10)) {
      const why = f.reasons.map((r) => `${r.count}x ${r.message}`).join("; ");
      io.stdout.write(`  test case ${f.test_case_id}: ${f.failures} of ${f.evaluations} failed: ${why}\n`);
    }
  } else io.stderr.write(`Optimization failed: ${result.error}\n`);
}

/** `optimize --server URL`: the run goes to the service; this command follows it (stopping it leaves it running). */
async function optimizeOnServer(
  path: string,
  flags: { json: boolean; seed?: number | undefined; quiet: boolean; server: string },
  io: Io,
): Promise<number> {
  const read = readConfig(path);
  if (read.errors.length > 0) {
    io.stderr.write(`${path}: invalid config\n`);
    printIssues(io.stderr, "error:  ", read.errors);
    return 2;
  }
  const progress = new Progress(io.stderr);
  let runId: string | null = null;
  // Stopping this command stops following the run, not the run: say how to find it again.
  const onSigint = () => {
    io.stderr.write(
      runId
        ? `\nstopped following run ${runId}; it goes on on ${flags.server}: convergence runs show ${runId} --server ${flags.server} (or runs cancel ${runId})\n`
        : "\nstopped before the service answered: convergence runs list shows whether the run started\n",
    );
    process.exit(130);
  };
  process.once("SIGINT", onSigint);
  let result: OptimizationResult;
  try {
    result = await runOnServer(read.value, {
      server: { url: flags.server },
      ...nodePrepareOptions(path),
      keyFallback: devVarsKey,
      missingKeyHint: devVarsHint,
      ...(flags.seed !== undefined ? { seed: flags.seed } : {}),
      onEvent: (event) => {
        if (event.type === "run_started") runId = event.run_id;
        if (flags.quiet) return;
        if (event.type === "run_started") io.stderr.write(`run ${event.run_id} on ${flags.server}\n`);
        progress.handle(event);
      },
    });
  } finally {
    process.off("SIGINT", onSigint);
  }
  if (!result.success && result.errors && result.errors.length > 0) {
    if (flags.json) io.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    io.stderr.write(`${path}: invalid config\n`);
    printIssues(io.stderr, "error:  ", result.errors);
    return 2;
  }
  printResult(result, flags.json, io);
  return result.success ? 0 : 1;
}

/** Make sure the output folder can be written before spending any call; a message when it cannot. */
async function prepareOutputDir(dir: string): Promise<string | null> {
  try {
    await mkdir(dir, { recursive: true });
    await access(dir, constants.W_OK);
    return null;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "EEXIST" || code === "ENOTDIR") return "exists and is not a folder";
    return (error as Error).message;
  }
}

/** `convergence runtime ...`, `runs ...` and `keys ...`: service commands with their own usage text. */
async function serviceCommand(
  argv: readonly string[],
  io: Io,
  usageText: string,
  UsageClass: new (...args: never[]) => Error,
  command: (args: readonly string[], io: Io) => Promise<number>,
): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h") || argv.length === 1) {
    io.stdout.write(usageText);
    return argv.length === 1 ? 2 : 0;
  }
  try {
    return await command(argv.slice(1), io);
  } catch (error) {
    const usage = error instanceof UsageClass || (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS");
    io.stderr.write(`convergence: ${(error as Error).message}\n${usage ? `\n${usageText}` : ""}`);
    return usage || (error as { code?: string }).code === "ENOENT" ? 2 : 1;
  }
}

export async function main(argv: readonly string[], io: Io = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  if (argv[0] === "runtime") return serviceCommand(argv, io, RUNTIME_USAGE, RuntimeUsageError, runtimeCommand);
  if (argv[0] === "runs") return serviceCommand(argv, io, RUNS_USAGE, RunsUsageError, runsCommand);
  if (argv[0] === "keys") return serviceCommand(argv, io, KEYS_USAGE, KeysUsageError, keysCommand);
  try {
    // init has flags of its own, and with none it asks its questions.
    if (argv[0] === "init") return await initCommand(argv.slice(1), io);
    const { values, positionals } = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        json: { type: "boolean", default: false },
        output: { type: "string", short: "o" },
        seed: { type: "string" },
        quiet: { type: "boolean", short: "q", default: false },
        server: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
        version: { type: "boolean", short: "v", default: false },
      },
    });
    if (values.version) {
      io.stdout.write(`convergence ${VERSION}\n`);
      return 0;
    }
    const [command, config, ...extra] = positionals;
    if (values.help || command === "help") {
      io.stdout.write(USAGE);
      return 0;
    }
    if (!command) throw new UsageError("missing command");
    if (command !== "optimize" && command !== "validate") throw new UsageError(`unknown command '${command}'`);
    if (!config) throw new UsageError(`${command} needs a CONFIG file`);
    if (extra.length > 0) throw new UsageError(`unexpected argument '${extra[0]}'`);
    if (command === "validate") return await validateCommand(config, { json: values.json, server: values.server }, io);
    if (values.server !== undefined) {
      if (values.output)
        throw new UsageError("--output writes a run's files in-process: with --server, use `convergence runs show RUN_ID --json`");
      return await optimizeOnServer(
        config,
        { json: values.json, quiet: values.quiet, seed: parseSeed(values.seed), server: values.server },
        io,
      );
    }
    return await optimizeCommand(
      config,
      { json: values.json, quiet: values.quiet, seed: parseSeed(values.seed), ...(values.output ? { output: values.output } : {}) },
      io,
    );
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      io.stderr.write(`convergence: ${(error as Error).message}\n\n${USAGE}`);
      return 2;
    }
    // The service refused or could not be reached (validate --server): its message says why.
    if (error instanceof ConvergenceApiError) return reportApiError(error, io);
    io.stderr.write(`convergence: internal error: ${error instanceof Error ? error.message : String(error)}\n`);
    if (process.env.CONVERGENCE_DEBUG) io.stderr.write(`${(error as Error).stack}\n`);
    return 1;
  }
}
