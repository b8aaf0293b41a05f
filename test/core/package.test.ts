/**
 * The package's two entries: `convergence` bundles for a Worker (esbuild --platform=neutral) and runs with only
 * the web-standard globals a Worker has; `convergence/node` adds files, evaluator modules and the CLI.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createContext, runInContext } from "node:vm";
import { build } from "esbuild";
import { describe, expect, it } from "vitest";
import * as neutral from "../../src/index.js";
import * as node from "../../src/node/index.js";
import { tempDir } from "../helpers/temp.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

async function bundleNeutral() {
  return build({
    entryPoints: [join(ROOT, "src/index.ts")],
    bundle: true,
    platform: "neutral",
    // What the Workers bundler resolves with: ESM packages through their exports' "import"/"default".
    mainFields: ["module", "main"],
    format: "iife",
    globalName: "convergence",
    write: false,
    metafile: true,
    logLevel: "silent",
  });
}

/** What a Worker has: the language, web-standard APIs, no process, require or file system. */
function workerLikeGlobals() {
  return createContext({
    fetch,
    Request,
    Response,
    Headers,
    URL,
    URLSearchParams,
    TextEncoder,
    TextDecoder,
    AbortController,
    AbortSignal,
    crypto,
    structuredClone,
    setTimeout,
    clearTimeout,
    queueMicrotask,
    performance,
    console,
  });
}

describe("the package", () => {
  it("bundles `convergence` for a Worker (platform neutral), with nothing from Node, tsx, hono or uplot", async () => {
    const result = await bundleNeutral();
    expect(result.errors).toEqual([]);
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.filter((file) => /(^|\/)src\/node\/|node_modules\/(tsx|hono|@hono|uplot)\//.test(file))).toEqual([]);
    const code = result.outputFiles[0]?.text ?? "";
    expect(code).not.toMatch(/["']node:[a-z]/);
  });

  it("runs the bundled entry with only a Worker's globals: an optimization of a local function and the runtime loop", async () => {
    const code = (await bundleNeutral()).outputFiles[0]?.text ?? "";
    const context = workerLikeGlobals();
    runInContext(code, context);
    const api = context.convergence as typeof neutral;
    const result = await api.runOptimization({
      configDict: {
        api: { name: "in_a_worker" },
        search_space: { parameters: { x: { type: "float", min: 0, max: 1 } } },
        evaluation: { test_cases: { inline: [{ id: "a", input: {} }] }, metrics: { closeness: { type: "custom", weight: 1 } } },
        optimization: { algorithm: "random", evolution: { population_size: 4, generations: 3 }, seed: 7 },
      },
      localFunction: (params) => ({ answer: 1 - Math.abs((params.x as number) - 0.3) }),
      evaluator: (prediction: neutral.Prediction) => ({ closeness: (prediction.result as { answer: number }).answer }),
    });
    if (!result.success) throw new Error(result.error);
    expect(result.target_calls).toBe(12);
    expect(result.best_score).toBeGreaterThan(0.5);

    const arms = [
      { arm_id: "a", params: { n: 1 } },
      { arm_id: "b", params: { n: 2 } },
    ];
    await api.configureRuntime("checkout", { config: { default_arms: arms }, storage: new api.MemoryRuntimeStorage() });
    const selection = await api.runtimeSelect("checkout", { userId: "u1" });
    expect(["a", "b"]).toContain(selection.arm_id);
    const update = await api.runtimeUpdate("checkout", { userId: "u1", decisionId: selection.decision_id as string, reward: 1 });
    expect(update.success).toBe(true);
  });

  it("refuses a config file on the neutral entry with a message that names convergence/node, and reads it there", async () => {
    const dir = tempDir("package");
    const path = join(dir, "config.json");
    const config = {
      api: { name: "from_a_file", mock_mode: true },
      search_space: { parameters: { temperature: { type: "float", min: 0, max: 1 } } },
      evaluation: {
        test_cases: { inline: [{ id: "a", input: { prompt: "hi" } }] },
        metrics: { quality: { type: "llm_judge", weight: 1 } },
      },
      optimization: { algorithm: "random", evolution: { population_size: 2, generations: 1 }, seed: 1 },
    };
    writeFileSync(path, JSON.stringify(config));
    // A JavaScript caller of the neutral entry can still pass yamlPath; its type has none.
    const fromJavaScript: object = { yamlPath: path };
    const refused = await neutral.runOptimization(fromJavaScript as neutral.RunOptimizationOptions);
    expect(refused.success).toBe(false);
    expect(refused.success ? "" : refused.error).toContain("convergence/node");
    const read = await node.runOptimization({ yamlPath: path });
    expect(read.success).toBe(true);
  });

  it("installs for SDK users without the service's packages: npm ls --omit=dev has no hono, uplot or tsx", () => {
    const manifest = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
    expect(Object.keys(manifest.exports)).toEqual([".", "./node", "./package.json"]);
    expect(manifest.peerDependenciesMeta.tsx.optional).toBe(true);
    const listed = spawnSync("npm", ["ls", "--omit=dev", "--all", "--json"], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
    const names = new Set<string>();
    type Tree = Record<string, { dependencies?: Tree }>;
    const walk = (deps: Tree | undefined) => {
      for (const [name, dep] of Object.entries(deps ?? {})) {
        names.add(name);
        walk(dep.dependencies);
      }
    };
    walk(JSON.parse(listed.stdout).dependencies);
    expect([...names].sort()).toEqual(["yaml", "zod"]);
  });

  it("installs packed without an install script to approve, and a shipped example evaluator copied into the app runs there", () => {
    const dir = tempDir("packed");
    const run = (command: string, args: string[], cwd: string) =>
      spawnSync(command, args, { cwd, encoding: "utf8", timeout: 240_000, env: { ...process.env, npm_config_fund: "false" } });
    // dist is built (npm ci did it): pack what is there, as npm publish would after prepack.
    const packed = run("npm", ["pack", "--ignore-scripts", "--pack-destination", dir], ROOT);
    expect(packed.status).toBe(0);
    const tarball = join(dir, packed.stdout.trim().split("\n").at(-1) as string);
    const app = join(dir, "app");
    mkdirSync(app);
    // A CommonJS app (no "type": "module"), as `npm init -y` makes: its TypeScript evaluators load as CommonJS.
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "team-app", version: "1.0.0", private: true }));
    const installed = run("npm", ["install", tarball, "tsx", "--prefer-offline", "--no-audit"], app);
    expect(installed.status).toBe(0);
    // npm lists the install scripts a user must approve: tsx's esbuild has one, this package none.
    expect(`${installed.stdout}${installed.stderr}`).not.toMatch(/install-scripts +convergence@/);
    const shipped = join(app, "node_modules/convergence/examples/groq");
    for (const file of ["groq_optimization.yaml", "groq_responses.ts", "groq_responses_tests.json"]) {
      copyFileSync(join(shipped, file), join(app, file));
    }
    const optimized = run("npx", ["--no-install", "convergence", "optimize", "groq_optimization.yaml", "--quiet", "--seed", "1"], app);
    expect(optimized.stderr).toBe("");
    expect(optimized.stdout).toMatch(/^Best score: 0\.\d{4}$/m);
    expect(optimized.status).toBe(0);
  }, 300_000);
});
