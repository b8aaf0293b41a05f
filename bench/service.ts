/** Start the local service (scripts/start.mjs) on free ports for a benchmark, and stop it by pid. */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface LocalService {
  url: string;
  key: string;
  stop(): Promise<void>;
}

/** `stateDir`: where wrangler keeps the local D1 and Durable Object files (default: the system's temp folder). */
export async function startLocalService(stateDir: string = tmpdir()): Promise<LocalService> {
  const [port, inspector] = [await freePort(), await freePort()];
  const persist = mkdtempSync(join(stateDir, "convergence-bench-"));
  const child: ChildProcess = spawn(
    process.execPath,
    ["scripts/start.mjs", "--port", String(port), "--inspector-port", String(inspector), "--persist-to", persist],
    { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  child.stdout?.on("data", (chunk) => (output += chunk));
  child.stderr?.on("data", (chunk) => (output += chunk));
  const started = Date.now();
  while (!output.includes("Convergence is running at")) {
    if (Date.now() - started > 60_000 || child.exitCode !== null) throw new Error(`the service did not start:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const key = output.match(/API key \(from \.dev\.vars\): (\S+)/)?.[1] ?? "";
  return {
    url: `http://127.0.0.1:${port}`,
    key,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGTERM");
        await exited;
      }
      rmSync(persist, { recursive: true, force: true });
    },
  };
}
