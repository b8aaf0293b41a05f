/**
 * runOptimization for Node: as the neutral one, plus `yamlPath` (a YAML or JSON config file, whose relative paths
 * resolve next to it), test-case files and evaluator modules read from disk, and secrets from process.env.
 */
import { stat } from "node:fs/promises";
import { formatFromName, parseConfigText } from "../config/parse.js";
import type { Prepared } from "../run/prepare.js";
import type { OptimizationResult } from "../sdk/response.js";
import {
  type ConfigLoader,
  givenConfig,
  type LoadedConfig,
  prepareFromOptions as prepareNeutral,
  type RunOptimizationOptions,
  runOptimization as runNeutral,
} from "../sdk/run-optimization.js";
import { devVarsKey } from "./client.js";
import { nodePrepareOptions, readText } from "./io.js";

export interface NodeRunOptimizationOptions extends RunOptimizationOptions {
  /** A YAML or JSON config file; its relative paths resolve next to it. */
  yamlPath?: string;
}

const nodeLoader: ConfigLoader = async (options) => {
  const loaded = await loadConfig(options);
  return "raw" in loaded ? { ...loaded, io: { ...loaded.io, keyFallback: devVarsKey } } : loaded;
};

async function loadConfig(options: NodeRunOptimizationOptions): Promise<LoadedConfig> {
  const { yamlPath } = options;
  if (yamlPath === undefined || options.configDict !== undefined || options.config !== undefined) {
    return givenConfig(options, nodePrepareOptions(null));
  }
  const kind = await stat(yamlPath).then(
    (s) => (s.isDirectory() ? "directory" : "file"),
    () => "missing",
  );
  if (kind === "missing") return { argumentError: `Config file not found: ${yamlPath}` };
  if (kind === "directory") return { argumentError: `Config path is a directory, not a file: ${yamlPath}` };
  const parsed = parseConfigText(await readText(yamlPath), formatFromName(yamlPath) ?? "yaml", yamlPath);
  if (parsed.errors.length > 0) return { errors: parsed.errors };
  return { raw: parsed.value, io: nodePrepareOptions(yamlPath) };
}

export function runOptimization(options: NodeRunOptimizationOptions): Promise<OptimizationResult> {
  return runNeutral(options, nodeLoader);
}

export function prepareFromOptions(options: NodeRunOptimizationOptions): Promise<Prepared | { ok: false; argumentError: string }> {
  return prepareNeutral(options, nodeLoader);
}
