/** The Node side of the SDK and CLI: reading files and loading evaluator modules (TypeScript via tsx). */
import { access, readFile } from "node:fs/promises";
import { dirname, extname, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { Evaluator } from "../evaluate/custom.js";
import type { PrepareOptions } from "../run/prepare.js";

export const readText = (path: string): Promise<string> => readFile(path, "utf8");

const MODULE_EXTENSIONS = [".ts", ".mts", ".js", ".mjs"];

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

type TsImport = (specifier: string, parent: string) => Promise<unknown>;

/** tsx is an optional peer: only evaluators written in TypeScript need it, so its absence is explained, not thrown. */
async function typeScriptLoader(file: string): Promise<TsImport> {
  try {
    return (await import("tsx/esm/api")).tsImport as TsImport;
  } catch (error) {
    if ((error as { code?: string }).code !== "ERR_MODULE_NOT_FOUND") throw error;
    throw new Error(`${file} is TypeScript: loading it needs tsx (npm install --save-dev tsx), or compile it to .js`);
  }
}

/** Why a module could not be imported, in a line (Node's message goes on with a require stack). */
function importProblem(file: string, error: unknown): string {
  const message = (error instanceof Error ? error.message : String(error)).split("\n")[0] as string;
  const missing = message.match(/Cannot find (?:module|package) '([^']+)'/)?.[1];
  if (missing === "convergence" || missing?.startsWith("convergence/")) {
    return `${file} imports '${missing}', which is not installed where the file is: npm install convergence in its project`;
  }
  return message;
}

/** `module` is a file next to the config, with or without its extension (the seed names Python modules that way). */
export async function loadEvaluator(module: string, fn: string, baseDir: string): Promise<Evaluator | null> {
  const base = resolve(baseDir, module);
  const candidates = MODULE_EXTENSIONS.includes(extname(base)) ? [base] : MODULE_EXTENSIONS.map((ext) => base + ext);
  let file: string | null = null;
  for (const candidate of candidates) {
    if (await exists(candidate)) {
      file = candidate;
      break;
    }
  }
  if (!file) {
    if (await exists(`${base}.py`)) {
      throw new Error(`${base}.py is a Python module: port it to TypeScript or JavaScript (${module}.ts) next to the config`);
    }
    return null;
  }
  const url = pathToFileURL(file).href;
  let namespace: Record<string, unknown>;
  try {
    if (file.endsWith(".ts") || file.endsWith(".mts")) {
      namespace = (await (await typeScriptLoader(file))(url, import.meta.url)) as Record<string, unknown>;
    } else {
      namespace = (await import(url)) as Record<string, unknown>;
    }
  } catch (error) {
    throw new Error(importProblem(file, error));
  }
  const fromDefault = (namespace.default as Record<string, unknown> | undefined)?.[fn];
  const found = namespace[fn] ?? fromDefault;
  if (typeof found !== "function") {
    const exported = Object.keys(namespace).filter((k) => typeof namespace[k] === "function");
    throw new Error(`${file} exports no function '${fn}' (its functions: ${exported.join(", ") || "none"})`);
  }
  return found as Evaluator;
}

/** PrepareOptions for a config file on disk: relative paths resolve next to it, secrets come from process.env. */
export function nodePrepareOptions(configPath: string | null): Pick<PrepareOptions, "baseDir" | "readText" | "loadEvaluator" | "env"> {
  return {
    baseDir: configPath ? dirname(resolve(configPath)) : process.cwd(),
    readText,
    loadEvaluator,
    env: process.env,
  };
}
