/**
 * The edge app (examples/edge-app) and Convergence, both local, as `npm run edge-app` starts them: the app reaches
 * Convergence by its service binding, through a dev registry of this file's own (WRANGLER_REGISTRY_PATH), so no
 * other test's service answers it. Then the app without Convergence: stopped, and answering after the timeout.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { APP_DIR, type EdgeApp, SYSTEM, startEdgeApp } from "../../scripts/edge-app.mjs";
import { freePort } from "../../scripts/free-port.mjs";
import { Rng } from "../../src/search/rng.js";
import { runProcess } from "../helpers/process.js";
import { startLateServer } from "../helpers/server.js";
import { tempDir } from "../helpers/temp.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const USERS = 20;
const REQUESTS_PER_USER = 10;
const ARMS = (JSON.parse(readFileSync(join(APP_DIR, "system.json"), "utf8")) as { default_arms: { arm_id: string; params: unknown }[] })
  .default_arms;
/** The params the app shipped with (its SHIPPED_PARAMS): the "balanced" arm's. */
const SHIPPED = ARMS.find((a) => a.arm_id === "balanced")?.params;
/** Wrangler's own output on a crash or an uncaught exception in the app. */
const APP_ERROR = /Uncaught|\[ERROR\]|TypeError|ReferenceError|unhandled/i;

interface Page {
  system: string;
  arm_id: string | null;
  decision_id: string | null;
  params: unknown;
  fallback: boolean;
}

const registry = tempDir("edge-registry");
const state = tempDir("edge-state");
const env = { ...process.env, WRANGLER_REGISTRY_PATH: registry };
let script: ChildProcess;
let printed = "";
let convergenceUrl = "";
let appUrl = "";
let adminKey = "";

beforeAll(async () => {
  const [port, appPort] = [await freePort(), await freePort()];
  // A timeout that no select of a loaded machine reaches: here every answer must be an arm. (Twenty users arriving
  // at once each cost a new Durable Object, which locally takes longer than the app's 250 ms.)
  const args = ["--port", String(port), "--app-port", String(appPort), "--persist-to", state, "--app-var", "SELECT_TIMEOUT_MS:30000"];
  script = spawn(process.execPath, ["scripts/edge-app.mjs", ...args], {
    cwd: ROOT,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  script.stdout?.setEncoding("utf8").on("data", (chunk: string) => (printed += chunk));
  script.stderr?.setEncoding("utf8").on("data", (chunk: string) => (printed += chunk));
  const started = Date.now();
  while (!printed.includes("Try it:")) {
    if (script.exitCode !== null || Date.now() - started > 100_000) throw new Error(`npm run edge-app did not start:\n${printed}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  convergenceUrl = printed.match(/^Convergence: (\S+)/m)?.[1] ?? "";
  appUrl = printed.match(/^Edge app: +(\S+)/m)?.[1] ?? "";
  adminKey = printed.match(/API key \(from \.dev\.vars\): (\S+)/)?.[1] ?? "";
}, 120_000);

async function stopScript() {
  if (script.exitCode !== null || script.signalCode !== null) return;
  const exited = new Promise((resolve) => script.once("exit", resolve));
  script.kill("SIGTERM");
  await exited;
}
afterAll(stopScript, 60_000);

const admin = (path: string) =>
  fetch(`${convergenceUrl}${path}`, { headers: { authorization: `Bearer ${adminKey}` } }).then(async (r) => {
    expect(r.status, await r.clone().text()).toBe(200);
    return r.json();
  });

interface ArmTotals {
  pulls: number;
  rewarded: number;
  reward_sum: number;
}
async function armTotals(): Promise<Map<string, ArmTotals>> {
  const summary = (await admin(`/v1/systems/${SYSTEM}/summary`)) as { arms: ({ arm_id: string } & ArmTotals)[] };
  return new Map(summary.arms.map((a) => [a.arm_id, { pulls: a.pulls, rewarded: a.rewarded, reward_sum: a.reward_sum }]));
}

/** One user's visit: GET / with their header or cookie, then feedback on it with `reward`. */
async function visit(app: string, user: { header?: string; cookie?: string }, reward: number) {
  const who: Record<string, string> = user.header ? { "x-user-id": user.header } : user.cookie ? { cookie: user.cookie } : {};
  const response = await fetch(`${app}/`, { headers: who });
  expect(response.status).toBe(200);
  const page = (await response.json()) as Page;
  const setCookie = response.headers.get("set-cookie");
  const cookie = setCookie?.match(/^uid=[^;]+/)?.[0];
  const feedback = await fetch(`${app}/feedback`, {
    method: "POST",
    headers: { ...who, ...(cookie ? { cookie } : {}), "content-type": "application/json" },
    body: JSON.stringify({ decision_id: page.decision_id, reward }),
  });
  expect(feedback.status).toBe(202);
  return { page, cookie, reported: ((await feedback.json()) as { reported: boolean }).reported };
}

describe("npm run edge-app", () => {
  it("prints both URLs and creates the app's system", async () => {
    expect(convergenceUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(appUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(printed).toContain(`system ${SYSTEM}, just created`);
    const system = (await admin(`/v1/systems/${SYSTEM}`)) as { config: { default_arms: { arm_id: string }[] } };
    expect(system.config.default_arms.map((a) => a.arm_id)).toEqual(ARMS.map((a) => a.arm_id));
  });

  it("moves the system's arm totals by exactly what 200 requests from 20 users sent back", async () => {
    const before = await armTotals();
    const rewardOf = Rng.uniform(19);
    const sent = new Map<string, ArmTotals>(ARMS.map((a) => [a.arm_id, { pulls: 0, rewarded: 0, reward_sum: 0 }]));
    const perUser = new Map<number, number>();
    // Even users name themselves by header; odd ones are given the uid cookie by their first request.
    await Promise.all(
      Array.from({ length: USERS }, async (_, u) => {
        const user: { header?: string; cookie?: string } = u % 2 === 0 ? { header: `edge-user-${u}` } : {};
        for (let n = 0; n < REQUESTS_PER_USER; n++) {
          const reward = Math.round(rewardOf() * 4) / 4;
          const { page, cookie, reported } = await visit(appUrl, user, reward);
          expect(page.fallback, `${JSON.stringify(page)}\n${printed.slice(-3000)}`).toBe(false);
          expect(page.system).toBe(SYSTEM);
          expect(page.params).toEqual(ARMS.find((a) => a.arm_id === page.arm_id)?.params);
          expect(reported).toBe(true);
          // Only a request without a user is given a cookie; the cookie names the same user afterwards.
          expect(cookie !== undefined).toBe(u % 2 === 1 && n === 0);
          if (cookie) user.cookie = cookie;
          const arm = sent.get(page.arm_id as string) as ArmTotals;
          arm.pulls++;
          arm.rewarded++;
          arm.reward_sum += reward;
          perUser.set(u, (perUser.get(u) ?? 0) + reward);
        }
      }),
    );
    expect([...sent.values()].reduce((n, a) => n + a.pulls, 0)).toBe(USERS * REQUESTS_PER_USER);
    const expected = new Map(
      [...sent].map(([arm, s]) => {
        const b = before.get(arm) ?? { pulls: 0, rewarded: 0, reward_sum: 0 };
        return [arm, { pulls: b.pulls + s.pulls, rewarded: b.rewarded + s.rewarded, reward_sum: b.reward_sum + s.reward_sum }];
      }),
    );
    // Feedback goes out in the background (waitUntil) and the log reaches D1 in batches: wait for all of it.
    let totals = await armTotals();
    const started = Date.now();
    while ([...expected].some(([arm, e]) => totals.get(arm)?.rewarded !== e.rewarded) && Date.now() - started < 90_000) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      totals = await armTotals();
    }
    for (const [arm, e] of expected) {
      const got = totals.get(arm);
      expect(got?.pulls, arm).toBe(e.pulls);
      expect(got?.rewarded, arm).toBe(e.rewarded);
      expect(got?.reward_sum, arm).toBeCloseTo(e.reward_sum, 9);
    }
    // Each header user's own arms (their Durable Object) hold exactly their rewards.
    for (let u = 0; u < USERS; u += 2) {
      const { arms } = (await admin(`/v1/systems/${SYSTEM}/arms?user_id=edge-user-${u}`)) as {
        arms: { total_reward: number; total_pulls: number }[];
      };
      expect(arms.reduce((n, a) => n + a.total_pulls, 0)).toBe(REQUESTS_PER_USER);
      expect(arms.reduce((n, a) => n + a.total_reward, 0)).toBeCloseTo(perUser.get(u) ?? 0, 9);
    }
  }, 240_000);

  it("refuses bad feedback with the error format, and sends Convergence none of it", async () => {
    const visited = await fetch(`${appUrl}/`, { headers: { "x-user-id": "edge-bad" } });
    const decisionId = ((await visited.json()) as Page).decision_id as string;
    const json = { "x-user-id": "edge-bad", "content-type": "application/json" };
    const post = (body: unknown, headers: Record<string, string> = json) =>
      fetch(`${appUrl}/feedback`, { method: "POST", headers, body: typeof body === "string" ? body : JSON.stringify(body) });
    // Each carries the real decision and, but for the bad reward, a good reward of 1: forwarded, it would land.
    const good = { decision_id: decisionId, reward: 1 };
    const refusals: [Response, number, string][] = [
      [await post({ decision_id: decisionId, reward: 2 }), 400, "invalid_reward"],
      [await post("{not json"), 400, "invalid_json"],
      [await post({ decision_id: 7, reward: 1 }), 400, "invalid_decision"],
      [await post({ ...good, pad: "x".repeat(5000) }), 413, "too_large"],
      [await post(good, { "x-user-id": "edge-bad", "content-type": "text/plain" }), 415, "unsupported_media_type"],
      [await post(good, { "content-type": "application/json" }), 400, "no_user"],
      [await fetch(`${appUrl}/`, { headers: { "x-user-id": "u".repeat(257) } }), 400, "invalid_user"],
    ];
    for (const [response, status, code] of refusals) {
      expect(response.status).toBe(status);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe(code);
    }
    // Then good feedback of 0.25: the decision's reward is that one, so none of the refused ones reached it first.
    expect((await post({ decision_id: decisionId, reward: 0.25 })).status).toBe(202);
    const decision = `/v1/systems/${SYSTEM}/decisions/${encodeURIComponent(decisionId)}?user_id=edge-bad`;
    let reward: number | null = null;
    for (const started = Date.now(); reward === null && Date.now() - started < 60_000; ) {
      reward = ((await admin(decision)) as { reward: number | null }).reward;
      if (reward === null) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(reward).toBe(0.25);
  });
});

describe("the edge app's bundle", () => {
  it("builds with wrangler deploy --dry-run from the platform-neutral entry alone, at the size the README gives", async () => {
    const out = tempDir("edge-bundle");
    const built = await runProcess(
      process.execPath,
      [
        "node_modules/wrangler/bin/wrangler.js",
        "deploy",
        "--dry-run",
        "-c",
        join(APP_DIR, "wrangler.toml"),
        "--outdir",
        out,
        "--metafile",
        join(out, "meta.json"),
      ],
      { cwd: ROOT, env: { ...env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false" } },
    );
    expect(built.code, built.stderr).toBe(0);
    // Paths are relative to the app's folder. What the bundler read: the app, the package's neutral entry (built in
    // dist/src/, nothing of convergence/node) and its dependencies; what the bundle holds: the app and the client (with
    // the two helpers it shares with the target calls: Retry-After and sleep).
    const meta = JSON.parse(readFileSync(join(out, "meta.json"), "utf8")) as {
      inputs: object;
      outputs: Record<string, { inputs: object }>;
    };
    const read = Object.keys(meta.inputs);
    expect(
      read.filter((file) => !/^(src\/index\.ts|\.\.\/\.\.\/dist\/src\/(?!node\/)|\.\.\/\.\.\/node_modules\/(zod|yaml)\/)/.test(file)),
    ).toEqual([]);
    const bundled = Object.entries(meta.outputs).find(([file]) => file.endsWith("/index.js"))?.[1].inputs ?? {};
    expect(Object.keys(bundled).sort()).toEqual([
      "../../dist/src/index.js",
      "../../dist/src/sdk/client.js",
      "../../dist/src/sdk/runtime-requests.js",
      "../../dist/src/target/fetch-retry.js",
      "../../dist/src/target/sleep.js",
      "src/index.ts",
    ]);
    const code = readFileSync(join(out, "index.js"), "utf8");
    expect(code).not.toMatch(/["']node:[a-z]/);
    const source = readFileSync(join(APP_DIR, "src/index.ts"), "utf8");
    expect([...source.matchAll(/^import .* from "([^"]+)";$/gm)].map((m) => m[1])).toEqual(["convergence"]);
    // The README's figure, within a quarter of what wrangler measures now.
    const measured = Number(built.stdout.match(/Total Upload: ([\d.]+) KiB/)?.[1]);
    const stated = Number(readFileSync(join(ROOT, "README.md"), "utf8").match(/edge app bundles to ([\d.]+) KiB/)?.[1]);
    expect(measured).toBeGreaterThan(0);
    expect(Math.abs(stated - measured) / measured).toBeLessThan(0.25);
  });

  it("leaves the app's local state and keys out of the npm package", async () => {
    // By now wrangler dev has run the app from examples/edge-app, which keeps its local state in .wrangler/ there.
    expect(existsSync(join(APP_DIR, ".wrangler"))).toBe(true);
    const packed = await runProcess("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: ROOT });
    expect(packed.code, packed.stderr).toBe(0);
    const files = (JSON.parse(packed.stdout) as { files: { path: string }[] }[])[0]?.files.map((f) => f.path) ?? [];
    expect(files).toContain("examples/edge-app/src/index.ts");
    expect(files.filter((f) => /(^|\/)(\.wrangler\/|\.dev\.vars)/.test(f))).toEqual([]);
  });
});

describe("the edge app without Convergence", () => {
  let app: EdgeApp | undefined;
  afterAll(async () => {
    await app?.stop();
  }, 60_000);

  /** 20 visits, each answered with the shipped params and no decision, its feedback skipped. */
  async function fallsBackEveryTime(url: string, code: RegExp) {
    // How long each answer took is bench:runtime's to measure (README); here, that it is the fallback, and why.
    for (let u = 0; u < 20; u++) {
      const { page, reported } = await visit(url, { header: `edge-offline-${u}` }, 1);
      expect(page).toEqual({ system: SYSTEM, arm_id: null, decision_id: null, params: SHIPPED, fallback: true });
      expect(reported).toBe(false);
    }
    expect(app?.output()).toMatch(code);
    expect(app?.output()).not.toMatch(APP_ERROR);
  }

  it("answers every request with the shipped params when Convergence is stopped", async () => {
    await stopScript();
    app = await startEdgeApp({ port: await freePort(), envFile: join(state, "edge-app.dev.vars"), env });
    await fallsBackEveryTime(app.url, /convergence select fell back: (HTTP 503|cannot reach)/);
    await app.stop();
  });

  it("answers at the timeout when Convergence answers too late, and sends it no feedback", async () => {
    // Convergence's stand-in: answers every request only after 120 s (or when the test ends).
    const slow = await startLateServer(120_000);
    try {
      app = await startEdgeApp({
        port: await freePort(),
        envFile: join(state, "edge-app.dev.vars"),
        vars: [`CONVERGENCE_URL:${slow.url}`, "SELECT_TIMEOUT_MS:300"],
        env,
      });
      await fallsBackEveryTime(app.url, /did not answer POST \/v1\/systems\/edge-demo\/select within 300 ms/);
      expect(slow.requests.map((r) => `${r.method} ${r.url}`)).toEqual(
        Array.from({ length: 20 }, () => `POST /v1/systems/${SYSTEM}/select`),
      );
      // Every answer came before Convergence gave any: the app did not wait for it (no clock read here).
      expect(slow.answered()).toBe(0);
    } finally {
      await slow.close();
    }
  });
});
