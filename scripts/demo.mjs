#!/usr/bin/env node
// npm run demo: the whole loop on this machine. Starts the local service unless one is running, optimizes
// examples/quickstart.yaml on it, promotes the 3 best configs to a system beside a hand-picked baseline arm, then
// serves 1,000 runtime requests whose rewards come from the mock's quality surface (a reward of 1 with the arm's
// quality as probability), and prints which arm won.
//   npm run demo [-- --port 8787]
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { createClient, runOptimization, surfaceQuality, validateConfig } from "convergence/node";
import { parse } from "yaml";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { values } = parseArgs({ options: { port: { type: "string", default: "8787" } } });
const url = process.env.CONVERGENCE_URL ?? `http://127.0.0.1:${values.port}`;
const SYSTEM = "quickstart_demo";
const USERS = 4;
const REQUESTS = 1000;

async function answers(base) {
  try {
    return (await fetch(`${base}/healthz`)).ok;
  } catch {
    return false;
  }
}

/** The service we started, to stop it (by its pid) when the demo ends. */
let started = null;
async function ensureService() {
  if (await answers(url)) return;
  if (process.env.CONVERGENCE_URL) throw new Error(`nothing answers at ${url} (CONVERGENCE_URL)`);
  process.stdout.write(`Starting the local service on ${url} ...\n`);
  started = spawn(process.execPath, [join(root, "scripts/start.mjs"), "--port", values.port], {
    cwd: root,
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  started.stderr.on("data", (chunk) => (log += chunk));
  const deadline = Date.now() + 90_000;
  while (!(await answers(url))) {
    if (started.exitCode !== null) throw new Error(`the local service did not start:\n${log}`);
    if (Date.now() > deadline) throw new Error("the local service did not answer within 90 s");
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

function stopService() {
  if (started && started.exitCode === null) started.kill("SIGTERM");
}
process.on("SIGINT", () => {
  stopService();
  process.exit(130);
});

const pct = (x) => `${(100 * x).toFixed(1)}%`;

try {
  await ensureService();
  const client = createClient({ baseUrl: url });
  const configText = readFileSync(join(root, "examples/quickstart.yaml"), "utf8");
  const config = parse(configText);
  const space = validateConfig(config).config.search_space.parameters;

  // 1. Optimize on the service.
  const result = await runOptimization({
    configDict: config,
    server: { url, pollMs: 200 },
    onEvent: (event) => {
      if (event.type === "run_started") process.stdout.write(`Optimizing examples/quickstart.yaml on ${url}: run ${event.run_id}\n`);
      if (event.type === "generation_finished") {
        process.stdout.write(`  generation ${event.generation + 1}: best ${event.best?.toFixed(4) ?? "--"}, ${event.target_calls} calls\n`);
      }
    },
  });
  if (!result.success) throw new Error(`the optimization failed: ${result.error}`);
  process.stdout.write(`Best score ${result.best_score.toFixed(4)} with ${JSON.stringify(result.best_config)}\n`);

  // 2. A system with a hand-picked baseline, and the run's 3 best configs promoted beside it.
  const baseline = { model: "mock-small", temperature: 1.2, top_p: 0.6, max_tokens: 128 };
  await client.configureSystem(SYSTEM, { default_arms: [{ arm_id: "baseline", name: "Hand-picked", params: baseline }] });
  const promoted = await client.promoteRun(result.optimization_run_id, { system: SYSTEM, top_k: 3 });
  process.stdout.write(`Promoted ${promoted.added.join(", ")} to system ${SYSTEM} (version ${promoted.version})\n`);
  const arms = (await client.getSystem(SYSTEM)).config.default_arms;
  const quality = Object.fromEntries(arms.map((arm) => [arm.arm_id, surfaceQuality(space, arm.params)]));

  // 3. 1,000 requests from a few users: select, then reward 1 with the chosen arm's quality as probability.
  const stats = Object.fromEntries(arms.map((arm) => [arm.arm_id, { pulls: 0, reward: 0, late: 0 }]));
  const run = `${Date.now().toString(36)}`;
  await Promise.all(
    Array.from({ length: USERS }, async (_, u) => {
      const userId = `demo_${run}_${u}`;
      for (let i = 0; i < REQUESTS / USERS; i++) {
        const selection = await client.select(SYSTEM, { userId });
        const reward = Math.random() < quality[selection.arm_id] ? 1 : 0;
        await client.update(SYSTEM, { userId, decisionId: selection.decision_id, reward });
        const s = stats[selection.arm_id];
        s.pulls += 1;
        s.reward += reward;
        if (i >= REQUESTS / USERS / 2) s.late += 1;
      }
    }),
  );
  process.stdout.write(`\n${REQUESTS} requests from ${USERS} users:\n`);
  process.stdout.write("  arm                quality  pulls  mean reward  share of the last half\n");
  for (const arm of arms) {
    const s = stats[arm.arm_id];
    process.stdout.write(
      `  ${arm.arm_id.padEnd(18)} ${quality[arm.arm_id].toFixed(3)}  ${String(s.pulls).padStart(5)}  ${(s.pulls ? s.reward / s.pulls : 0).toFixed(3).padStart(11)}  ${pct(s.late / (REQUESTS / 2)).padStart(8)}\n`,
    );
  }
  const winner = arms.reduce((a, b) => (stats[b.arm_id].late > stats[a.arm_id].late ? b : a));
  process.stdout.write(`\nWinning arm: ${winner.arm_id} ${JSON.stringify(winner.params)}\n`);
  // The API's URLs need a key a browser does not send: the dashboard's pages show the same, signed in.
  const dashboard = await fetch(`${url}/`).catch(() => null);
  if (dashboard?.ok && (dashboard.headers.get("content-type") ?? "").includes("html")) {
    process.stdout.write(
      `\nIn the dashboard (sign in with the API key of .dev.vars):\n  the run:    ${url}/#/runs/${encodeURIComponent(result.optimization_run_id)}\n  the system: ${url}/#/systems/${SYSTEM}\n`,
    );
    if (started)
      process.stdout.write("This demo started the service and stops it now: `npm start` serves them again (local data is kept).\n");
  }
  process.stdout.write(
    `From the shell: convergence runs show ${result.optimization_run_id} --server ${url}; convergence runtime arms ${SYSTEM} --user demo_${run}_0 --server ${url}\n`,
  );
} catch (error) {
  process.stderr.write(`demo: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
} finally {
  stopService();
}
