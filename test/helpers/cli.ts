import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Finished, runProcess } from "./process.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/**
 * The built CLI (bin/convergence.js) in a child process, with the key `cli-key` (`key: null`: none at all);
 * asynchronous, so a stand-in service in the test's process can answer it. `cwd`: where it runs (the
 * repository by default).
 */
export function runCli(args: string[], options: { key?: string | null; cwd?: string } = {}): Promise<Finished> {
  const { CONVERGENCE_API_KEY: _inherited, ...env } = process.env;
  const key = options.key === undefined ? "cli-key" : options.key;
  return runProcess(process.execPath, [join(ROOT, "bin/convergence.js"), ...args], {
    cwd: options.cwd ?? ROOT,
    env: key === null ? env : { ...env, CONVERGENCE_API_KEY: key },
  });
}

/** The `error:` lines of what `validate` or `optimize` printed: the problems, without the rest of the output. */
export const errorLines = (text: string) => text.split("\n").filter((l) => l.trimStart().startsWith("error:"));
