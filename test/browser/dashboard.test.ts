/**
 * The dashboard in a real browser: Debian's Chromium (headless, offline flags) driven by playwright-core, against
 * the local service (`npm start`) after a mock optimization. Screenshots go to test-artifacts/.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { type LocalService, startLocalService } from "../../bench/service.js";
import { createClient, runOptimization } from "../../src/index.js";
import { tempDir } from "../helpers/temp.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CHROMIUM = "/usr/bin/chromium";
const ARTIFACTS = join(ROOT, "test-artifacts");
// Without these, Chromium reaches for the network (updates, sync, QUIC probes), which is closed here.
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

let service: LocalService;
let browser: BrowserContext;
let page: Page;
let runId = "";
let bestConfig: Record<string, unknown> = {};
const pageErrors: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)`);
  service = await startLocalService();
  const config = parse(readFileSync(join(ROOT, "examples/quickstart.yaml"), "utf8"));
  const result = await runOptimization({ configDict: config, server: { url: service.url, apiKey: service.key, pollMs: 100 } });
  if (!result.success) throw new Error(result.error);
  runId = result.optimization_run_id;
  bestConfig = result.best_config;
  const client = createClient({ baseUrl: service.url, apiKey: service.key });
  await client.promoteRun(runId, { system: "dashboard_demo", top_k: 3 });
  // Some traffic, the first arm rewarded most, until the decision log (flushed in batches) shows it.
  for (let i = 0; i < 60; i++) {
    const selection = await client.select("dashboard_demo", { userId: `user_${i % 6}` });
    const rate = selection.arm_id.startsWith("opt_bf") ? 0.9 : 0.4;
    await client.update("dashboard_demo", {
      userId: `user_${i % 6}`,
      decisionId: selection.decision_id,
      reward: i % 10 < rate * 10 ? 1 : 0,
    });
  }
  // launchPersistentContext is playwright's way to pass a fresh --user-data-dir.
  browser = await chromium.launchPersistentContext(tempDir("chromium-profile"), {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport: { width: 1280, height: 900 },
  });
  page = await browser.newPage();
  page.on("pageerror", (error) => pageErrors.push(error.message));
  mkdirSync(ARTIFACTS, { recursive: true });
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await service?.stop();
});

describe("the dashboard", () => {
  it("asks for an admin API key, says when it was given a runtime key, and keeps the key out of the URL", async () => {
    await page.goto(`${service.url}/`);
    await page.fill("input[name=key]", "not-the-key");
    await page.click("button[type=submit]");
    await page.waitForSelector("text=That key was refused.");
    // A runtime key (what an app embeds) is a valid key, but not for the dashboard: it says so.
    const runtimeKey = await createClient({ baseUrl: service.url, apiKey: service.key }).createKey({ scope: "runtime" });
    await page.fill("input[name=key]", runtimeKey.key);
    await page.click("button[type=submit]");
    await page.waitForSelector("text=That is a runtime key");
    expect(await page.textContent(".sign-in .error")).toContain("The dashboard needs an admin key.");
    await page.fill("input[name=key]", service.key);
    await page.click("button[type=submit]");
    await page.waitForSelector(`a[href="#/runs/${runId}"]`);
    expect(page.url()).not.toContain(service.key);
  });

  it("shows a run: the score chart, calls over time, the best config as YAML, per-test-case scores and parameter charts", async () => {
    await page.click(`a[href="#/runs/${runId}"]`);
    await page.waitForSelector("#score-chart canvas");
    await page.waitForSelector("#calls-chart canvas");
    const best = await page.textContent("#best-config");
    expect(best).toMatch(/^model: mock-\w+$/m);
    expect(best).toMatch(/^temperature: [\d.]+$/m);
    // The YAML is the run's best config, value for value.
    expect(parse(best ?? "")).toEqual(bestConfig);
    expect(await page.locator("#per-case tr").count()).toBe(4);
    expect(await page.locator(".scatters canvas").count()).toBe(4);
    expect(await page.textContent("#best-score")).toMatch(/^0\.\d{4}$/);
    await page.screenshot({ path: join(ARTIFACTS, "dashboard-run.png"), fullPage: true });
  });

  it("shows a system: its arms with posterior mean, interval, P(best) and the run they came from", async () => {
    await page.goto(`${service.url}/#/systems/dashboard_demo`);
    await page.waitForSelector("#arms");
    // The decision log reaches D1 in batches, each user's a few seconds after its decisions: reload until the page
    // shows all the rows it will (not just the first batch), with a deadline sized for a loaded machine.
    const deadline = Date.now() + 90_000;
    while ((await page.locator("#decisions tr").count()) < 21 && Date.now() < deadline) {
      await page.waitForTimeout(500);
      await page.reload();
      await page.waitForSelector("#arms");
    }
    expect(await page.locator("#decisions tr").count()).toBe(21);
    expect(await page.locator("#arms tr").count()).toBe(4);
    expect(await page.locator(`#arms a[href="#/runs/${runId}"]`).count()).toBe(3);

    // Over time: each arm's share of selections and its reward rate, hourly over 7 days, from the timeline. Rewards
    // can reach D1 in a later batch than their decisions: the page is read again until the timeline fetched before
    // and after drawing it is the same, so the charts are compared with what they drew from.
    type Timeline = {
      hours: string[];
      arms: { arm_id: string; name: string | null; selections: number[]; rewarded: number[]; reward_sum: number[] }[];
    };
    const fetchTimeline = async () =>
      (await (
        await fetch(`${service.url}/v1/systems/dashboard_demo/timeline`, { headers: { authorization: `Bearer ${service.key}` } })
      ).json()) as Timeline;
    const drawCharts = async () => {
      await page.waitForSelector("#share-chart canvas");
      await page.waitForSelector("#reward-rate-chart canvas");
      return page.evaluate(() =>
        ["share-chart", "reward-rate-chart"].map((id) => {
          const chart = (document.getElementById(id) as HTMLElement & { chart: { series: { label: string }[]; data: (number | null)[][] } })
            .chart;
          return { labels: chart.series.map((s) => s.label), data: chart.data };
        }),
      );
    };
    const stableBy = Date.now() + 90_000;
    let before: Timeline;
    let drawn: Awaited<ReturnType<typeof drawCharts>>;
    let timeline: Timeline;
    do {
      before = await fetchTimeline();
      await page.reload();
      drawn = await drawCharts();
      timeline = await fetchTimeline();
      if (JSON.stringify(before) === JSON.stringify(timeline)) break;
      await page.waitForTimeout(1000);
    } while (Date.now() < stableBy);
    for (const { labels, data } of drawn) {
      // The hours, then one series per arm, each a point per hour.
      expect(labels).toEqual(["hour (UTC)", ...timeline.arms.map((a) => a.arm_id)]);
      expect(data).toHaveLength(1 + 3);
      for (const series of data) expect(series).toHaveLength(168);
      expect(data[0]?.[167]).toBe(Date.parse(timeline.hours[167] as string) / 1000);
    }
    const [share, rate] = drawn as [{ data: (number | null)[][] }, { data: (number | null)[][] }];
    // All 60 selections are in the last hour or two: there the shares add up to 1; a week ago there is nothing.
    const lastHours = [166, 167].filter((i) => timeline.arms.some((a) => a.selections[i] > 0));
    expect(lastHours.length).toBeGreaterThan(0);
    for (const i of lastHours) expect(share.data.slice(1).reduce((n, s) => n + (s[i] ?? 0), 0)).toBeCloseTo(1, 9);
    for (const series of [...share.data.slice(1), ...rate.data.slice(1)]) expect(series[0]).toBeNull();
    // The reward rate is each arm's reward sum over its rewarded selections, a gap where it had none.
    timeline.arms.forEach((arm, a) => {
      for (const i of lastHours) {
        expect(rate.data[a + 1]?.[i]).toBe(arm.rewarded[i] > 0 ? (arm.reward_sum[i] as number) / (arm.rewarded[i] as number) : null);
      }
    });
    expect(await page.textContent("#over-time")).toContain("last 7 days");
    await page.screenshot({ path: join(ARTIFACTS, "dashboard-system.png"), fullPage: true });
    expect(pageErrors).toEqual([]);
    // The dashboard runs no script but its own, and cannot be framed.
    const headers = (await page.request.get(`${service.url}/`)).headers();
    expect(headers["content-security-policy"]).toContain("script-src 'self'");
    expect(headers["content-security-policy"]).toContain("frame-ancestors 'none'");
  }, 150_000);
});
