/**
 * The local service as a user runs it: `npm start` (scripts/start.mjs), then the README's runtime demo and the
 * CLI's runtime commands against it.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

let service: ChildProcess | null = null;
let url = "";
let persist = "";

beforeAll(async () => {
  const [port, inspector] = [await freePort(), await freePort()];
  url = `http://127.0.0.1:${port}`;
  persist = mkdtempSync(join(tmpdir(), "convergence-service-"));
  service = spawn(
    process.execPath,
    ["scripts/start.mjs", "--port", String(port), "--inspector-port", String(inspector), "--persist-to", persist],
    {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let output = "";
  service.stdout?.on("data", (chunk) => (output += chunk));
  service.stderr?.on("data", (chunk) => (output += chunk));
  const started = Date.now();
  while (!output.includes("Convergence is running at")) {
    if (Date.now() - started > 60_000 || service.exitCode !== null) throw new Error(`the service did not start:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  expect(output).toContain(`Convergence is running at ${url}`);
  expect(output).toMatch(/API key \(from \.dev\.vars\): \S+/);
}, 90_000);

afterAll(async () => {
  if (service && service.exitCode === null) {
    const exited = new Promise((resolve) => service?.once("exit", resolve));
    service.kill("SIGTERM");
    await exited;
  }
  if (persist) rmSync(persist, { recursive: true, force: true });
});

function run(args: string[]) {
  const result = spawnSync(process.execPath, args, {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, CONVERGENCE_URL: url },
    timeout: 120_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe("npm start", () => {
  it("runs the README's runtime demo: the 0.7 arm takes at least 80% of the last 1,000 of 2,000 rounds", () => {
    const demo = run(["examples/runtime_demo.mjs"]);
    expect(demo.stderr).toBe("");
    const share = Number(demo.stdout.match(/share: ([\d.]+)%/)?.[1]);
    expect(share).toBeGreaterThanOrEqual(80);
    expect(demo.code).toBe(0);
  });

  it("runs the same demo in-process through the SDK", () => {
    const demo = run(["examples/runtime_demo.mjs", "--in-process"]);
    expect(Number(demo.stdout.match(/share: ([\d.]+)%/)?.[1])).toBeGreaterThanOrEqual(80);
    expect(demo.code).toBe(0);
  });

  it("serves the CLI's runtime commands", () => {
    const configured = run(["bin/convergence.js", "runtime", "configure", "cli_system", "examples/runtime_system.yaml"]);
    expect(configured.code).toBe(0);
    expect(JSON.parse(configured.stdout)).toMatchObject({ system: "cli_system", version: 1 });
    const selected = run(["bin/convergence.js", "runtime", "select", "cli_system", "--user", "ann", "--context", '{"page":"home"}']);
    const selection = JSON.parse(selected.stdout);
    expect(["precise", "balanced", "broad"]).toContain(selection.arm_id);
    const updated = run([
      "bin/convergence.js",
      "runtime",
      "update",
      "cli_system",
      "--user",
      "ann",
      "--decision",
      selection.decision_id,
      "--reward",
      "1",
    ]);
    expect(JSON.parse(updated.stdout)).toMatchObject({ success: true, duplicate: false, reward: 1 });
    const arms = JSON.parse(run(["bin/convergence.js", "runtime", "arms", "cli_system", "--user", "ann"]).stdout);
    expect(arms.find((a: { arm_id: string }) => a.arm_id === selection.arm_id)).toMatchObject({ total_pulls: 1, total_reward: 1 });
    const bad = run([
      "bin/convergence.js",
      "runtime",
      "update",
      "cli_system",
      "--user",
      "ann",
      "--decision",
      selection.decision_id,
      "--reward",
      "7",
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/reward: Too big: expected number to be <=1/);
  });
});
