import { spawn } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/**
 * The built CLI (bin/convergence.js) in a child process, with the key `cli-key` (`key: null`: none at all);
 * asynchronous, so a stand-in service in the test's process can answer it. `cwd`: where it runs (the
 * repository by default).
 */
export function runCli(
  args: string[],
  options: { key?: string | null; cwd?: string } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { CONVERGENCE_API_KEY: _inherited, ...env } = process.env;
  const key = options.key === undefined ? "cli-key" : options.key;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, "bin/convergence.js"), ...args], {
      cwd: options.cwd ?? ROOT,
      env: key === null ? env : { ...env, CONVERGENCE_API_KEY: key },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
    });
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}
