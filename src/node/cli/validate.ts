/**
 * `convergence validate`, and the config reading `optimize` shares with it. `init` runs the same check on the
 * file it wrote, so what it prints is what `validate` would.
 */
import { existsSync, readFileSync } from "node:fs";
import type { ConfigIssue } from "../../config/issues.js";
import { formatFromName, parseConfigText } from "../../config/parse.js";
import { normalizeTestCases, testCaseList } from "../../config/test-cases.js";
import { isPlainObject } from "../../json.js";
import { prepareRun } from "../../run/prepare.js";
import { validateOnServer } from "../../sdk/remote.js";
import { devVarsHint, devVarsKey } from "../client.js";
import { nodePrepareOptions } from "../io.js";
import type { Io } from "./io.js";

export function readConfig(path: string): { value: unknown; errors: ConfigIssue[] } {
  if (!existsSync(path)) return { value: undefined, errors: [{ path: "", message: `Config file not found: ${path}` }] };
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    return { value: undefined, errors: [{ path: "", message: `cannot read ${path}: ${(error as Error).message}` }] };
  }
  return parseConfigText(text, formatFromName(path) ?? "yaml", path);
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

export function printIssues(out: NodeJS.WriteStream, label: string, issues: readonly ConfigIssue[]): void {
  for (const issue of issues) out.write(`  ${label} ${issue.path ? `${issue.path}: ` : ""}${issue.message}\n`);
}

/** A file that holds test cases rather than a config: validate it as such. */
function looksLikeTestCases(value: unknown): boolean {
  if (Array.isArray(value)) return true;
  return (
    isPlainObject(value) && !("api" in value) && !("search_space" in value) && !("evaluation" in value) && testCaseList(value) !== null
  );
}

export interface Validation {
  kind: string;
  /** What was checked, for the line that says it is valid. */
  detail: string;
  errors: ConfigIssue[];
  warnings: ConfigIssue[];
}

/**
 * What `optimize` would say of the file: the same checks in this shell (its environment, the modules next to the
 * config), or with `server` those of the service, which knows its own secrets and bundled evaluators.
 */
export async function checkConfigFile(path: string, server?: string): Promise<Validation> {
  const read = readConfig(path);
  let errors = read.errors;
  let warnings: ConfigIssue[] = [];
  let kind = "config";
  let detail = "";
  if (errors.length === 0 && looksLikeTestCases(read.value)) {
    kind = "test-case file";
    const list = testCaseList(read.value) ?? [];
    const result = normalizeTestCases(list, "test_cases");
    errors = result.errors;
    detail = `${count(result.testCases.length, "test case")}; a config names it in evaluation.test_cases.path`;
  } else if (errors.length === 0 && server !== undefined) {
    const checked = await validateOnServer(read.value, {
      server: { url: server },
      ...nodePrepareOptions(path),
      keyFallback: devVarsKey,
      missingKeyHint: devVarsHint,
    });
    ({ errors, warnings } = checked);
    detail = `as ${server} would start it`;
  } else if (errors.length === 0) {
    const prepared = await prepareRun(read.value, nodePrepareOptions(path));
    warnings = prepared.ok ? prepared.run.warnings : prepared.warnings;
    if (prepared.ok) {
      const { config, testCases } = prepared.run;
      detail = [
        count(Object.keys(config.search_space.parameters).length, "parameter"),
        count(testCases.length, "test case"),
        count(Object.keys(config.evaluation.metrics).length, "metric"),
        config.optimization.algorithm,
        ...(config.api.mock_mode ? ["mock mode"] : []),
      ].join(", ");
    } else errors = prepared.errors;
  }
  return { kind, detail, errors, warnings };
}

export function printValidation(io: Io, path: string, checked: Validation, server?: string): void {
  const { kind, detail, errors, warnings } = checked;
  if (errors.length === 0) io.stdout.write(`${path}: valid ${kind}${detail ? ` (${detail})` : ""}\n`);
  else io.stdout.write(`${path}: ${count(errors.length, "problem")}${server ? ` on ${server}` : ""}\n`);
  printIssues(io.stdout, "error:  ", errors);
  printIssues(io.stdout, "warning:", warnings);
}

/** `validate` exits 0 exactly when `optimize` would start the config (here, or with --server on that service). */
export async function validateCommand(path: string, flags: { json: boolean; server?: string | undefined }, io: Io): Promise<number> {
  const checked = await checkConfigFile(path, flags.server);
  if (flags.json) {
    const { kind, errors, warnings } = checked;
    io.stdout.write(`${JSON.stringify({ valid: errors.length === 0, kind, errors, warnings }, null, 2)}\n`);
  } else printValidation(io, path, checked, flags.server);
  return checked.errors.length === 0 ? 0 : 2;
}
