/**
 * Start the local service (scripts/start.mjs) on free ports for a benchmark or a test, and stop it by pid. Its
 * state lives in a folder of its own, removed when it stops (unless it is to be started again on the same state).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../scripts/free-port.mjs";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

export interface LocalService {
  url: string;
  key: string;
  /** The folder wrangler keeps its local D1 and Durable Object files in (--persist-to). */
  stateDir: string;
  /** What the service printed so far. */
  output(): string;
  /** Stop it; `keepState` keeps its folder for `restart`. */
  stop(options?: { keepState?: boolean }): Promise<void>;
  /** Start it again on the same port and state (after `stop({ keepState: true })`). */
  restart(): Promise<void>;
}

export interface LocalServiceOptions {
  /** Where wrangler keeps the local D1 and Durable Object files (default: the system's temp folder). */
  stateDir?: string;
  /** Worker vars, like RUN_WATCHDOG_SECONDS:3. */
  vars?: string[];
  /** Environment variables over this process's, like WRANGLER_REGISTRY_PATH (which dev registry it joins). */
  env?: Record<string, string>;
}

export async function startLocalService(options: LocalServiceOptions = {}): Promise<LocalService> {
  // The inspector's port is left to scripts/start.mjs, which picks a free one: every test service exercises that.
  const port = await freePort();
  const persist = mkdtempSync(join(options.stateDir ?? tmpdir(), "convergence-service-"));
  let child: ChildProcess;
  let output = "";
  const launch = async () => {
    child = spawn(
      process.execPath,
      ["scripts/start.mjs", "--port", String(port), "--persist-to", persist, ...(options.vars ?? []).flatMap((v) => ["--var", v])],
      { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...options.env } },
    );
    output = "";
    child.stdout?.on("data", (chunk) => (output += chunk));
    child.stderr?.on("data", (chunk) => (output += chunk));
    const started = Date.now();
    while (!output.includes("Convergence is running at")) {
      if (Date.now() - started > 60_000 || child.exitCode !== null) throw new Error(`the service did not start:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  await launch();
  const key = output.match(/API key \(from \.dev\.vars\): (\S+)/)?.[1] ?? "";
  return {
    url: `http://127.0.0.1:${port}`,
    key,
    stateDir: persist,
    output: () => output,
    stop: async ({ keepState = false } = {}) => {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGTERM");
        await exited;
      }
      if (!keepState) rmSync(persist, { recursive: true, force: true });
    },
    restart: launch,
  };
}
