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
import type { ContextView } from "../../src/bandit/contextual.js";
import { type ConvergenceClient, createClient, type RunView, runOptimization } from "../../src/index.js";
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

/**
 * A long value of a text parameter: every instruction the mock target rewards (so the best config holds it), a
 * line break, and markup that must show as text.
 */
const LONG_PROMPT = [
  "You are a meticulous research assistant for <b>students</b> & teachers. Think step by step before you answer.",
  "Cite the source of every fact you state. Answer in one paragraph, in plain words, without lists or headings.",
  "Check the arithmetic of every number twice. When a question can be read two ways, say which reading you answered and why; when you do not know, say so rather than guess.",
].join("\n");
/** The most characters a clipped value's summary shows: its preview (80 and "…") and its length in characters. */
const SUMMARY_MOST = 110;

/** A system with context features, whose arms win on different pages. */
const CONTEXT_SYSTEM = "context_demo";
/**
 * Each arm's reward on each page: "bold" wins on search pages, "careful" on chat. One fractional reward per page
 * and arm, so each observed mean is exact whichever arm the bandit chose for each request.
 */
const PAGE_REWARDS: Record<string, Record<string, number>> = {
  search: { bold: 0.8, careful: 0.3 },
  chat: { bold: 0.25, careful: 0.75 },
};
/** Every request's plan: the same for all (a feature that never varies), and markup that must show as text. */
const PLAN = "<b>pro</b>";
/** Users of the contextual system, each on a search page and then a chat page. */
const CONTEXT_USERS = 40;

let service: LocalService;
let client: ConvergenceClient;
let browser: BrowserContext;
let page: Page;
let runId = "";
let bestConfig: Record<string, unknown> = {};
const pageErrors: string[] = [];

/** What a chart of the page drew: the uPlot instance the dashboard keeps on the chart's element (`chart`). */
interface Drawn {
  /** Each series' label, the x series' first. */
  labels: string[];
  data: (number | null)[][];
  /** Each series' first and last index drawn: uPlot draws the points between them (and no other). */
  idxs: [number, number][];
  /** The x axis' tick labels, as drawn. */
  ticks: string[];
}

function chartsOf(target: Page, selector: string): Promise<Drawn[]> {
  return target.evaluate(
    (selector) =>
      [...document.querySelectorAll(selector)].map((el) => {
        const chart = (
          el as HTMLElement & {
            chart: {
              series: { label: string; idxs: [number, number] }[];
              data: (number | null)[][];
              // uPlot keeps the labels it drew on each axis (internal, of the pinned uplot 1.6).
              axes: { _values: (string | number)[] | null }[];
            };
          }
        ).chart;
        return {
          labels: chart.series.map((s) => s.label),
          data: chart.data,
          idxs: chart.series.map((s) => [...s.idxs] as [number, number]),
          ticks: (chart.axes[0]?._values ?? []).map(String),
        };
      }),
    selector,
  );
}

/** The indices of series `s`'s points the chart drew: non-null values between its first and last drawn index. */
function drawnAt(chart: Drawn, s: number): number[] {
  const [first, last] = chart.idxs[s] as [number, number];
  const values = chart.data[s] as (number | null)[];
  return values.flatMap((v, i) => (v !== null && v !== undefined && i >= first && i <= last ? [i] : []));
}

/** How many of `items` have each key. */
function countBy(items: readonly unknown[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[JSON.stringify(item)] = (counts[JSON.stringify(item)] ?? 0) + 1;
  return counts;
}

type Candidate = Awaited<ReturnType<ConvergenceClient["runCandidates"]>>[number];

/**
 * A run page's parameter charts against the run's scored candidates: one dot per candidate (parameters where many
 * share a value included), each nearest its own value, and one ring, at the best config's score and values.
 */
async function expectEveryCandidateDrawn(target: Page, candidates: Candidate[], best: { config: Record<string, unknown>; score: number }) {
  const scatters = await chartsOf(target, ".scatters > div");
  const names = Object.keys(candidates[0]?.params ?? {});
  expect(scatters.map((c) => c.labels[0])).toEqual(names);
  for (const chart of scatters) {
    const name = chart.labels[0] as string;
    expect(chart.labels.slice(1)).toEqual(["scored on every test case", "partly scored", "best config"]);
    const xs = chart.data[0] as number[];
    const dots = [...drawnAt(chart, 1), ...drawnAt(chart, 2)];
    expect(dots).toHaveLength(candidates.length);
    // No two at one x (uPlot needs x to increase), so no dot hides another of the same score.
    for (let i = 1; i < xs.length; i++) expect(xs[i]).toBeGreaterThan(xs[i - 1] as number);
    // Each dot's value, read back from where it was drawn: the nearest of the values the candidates have.
    const values = [...new Set(candidates.map((c) => JSON.stringify(c.params[name])))].map((v) => JSON.parse(v) as unknown);
    const numeric = values.every((v) => typeof v === "number");
    // Categorical values are drawn by their index in the order the candidates first have them.
    const positions = numeric ? (values as number[]) : values.map((_, i) => i);
    const valueAt = (x: number) => {
      let nearest = 0;
      positions.forEach((p, i) => {
        if (Math.abs(p - x) < Math.abs((positions[nearest] as number) - x)) nearest = i;
      });
      return values[nearest];
    };
    expect(countBy(dots.map((i) => valueAt(xs[i] as number)))).toEqual(countBy(candidates.map((c) => c.params[name])));
    const ring = drawnAt(chart, 3);
    expect(ring).toHaveLength(1);
    expect(chart.data[3]?.[ring[0] as number]).toBe(best.score);
    expect(valueAt(xs[ring[0] as number] as number)).toEqual(best.config[name]);
  }
}

/**
 * Start `config` as a random search of `generations` generations of 4 (each generation new configs, none carried over
 * already scored, so each is as long), two calls at a time, without early stopping; answer once its first generation
 * is over, or fail after 90 s.
 */
async function startUntilFirstGeneration(config: Record<string, unknown>, generations: number): Promise<RunView> {
  config.optimization = {
    algorithm: "random",
    seed: 7,
    evolution: { population_size: 4, generations },
    execution: { parallel_workers: 2, early_stopping: { enabled: false } },
  };
  const started = await client.startRun(config);
  const deadline = Date.now() + 90_000;
  while ((await client.getRun(started.run_id)).history.length === 0) {
    if (Date.now() > deadline) throw new Error(`run ${started.run_id} finished no generation in 90 s`);
    await page.waitForTimeout(100);
  }
  return started;
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)`);
  service = await startLocalService();
  const config = parse(readFileSync(join(ROOT, "examples/quickstart.yaml"), "utf8"));
  const result = await runOptimization({ configDict: config, server: { url: service.url, apiKey: service.key, pollMs: 100 } });
  if (!result.success) throw new Error(result.error);
  runId = result.optimization_run_id;
  bestConfig = result.best_config;
  client = createClient({ baseUrl: service.url, apiKey: service.key });
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
    await page.waitForSelector("input[name=key]");
    // Signed out, the links and Sign out are hidden (nav's display: flex once overrode its hidden attribute).
    expect(await page.isVisible("#nav")).toBe(false);
    expect(await page.isVisible("#sign-out")).toBe(false);
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
    expect(await page.isVisible("#sign-out")).toBe(true);
  });

  it("shows a run: the score chart, calls per generation, the best config as YAML, per-test-case scores and parameter charts", async () => {
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

    const run = await client.getRun(runId);
    const [score, calls] = (await chartsOf(page, "#score-chart, #calls-chart")) as [Drawn, Drawn];
    // Every generation, counted from 1, with whole numbers on the axis; the calls add up to the run's.
    const generations = run.history.map((_, i) => i + 1);
    expect(score.data[0]).toEqual(generations);
    expect(calls.data[0]).toEqual(generations);
    expect(calls.data[1]).toEqual(run.history.map((g) => g.calls));
    expect(calls.data[2]?.at(-1)).toBe(run.progress.target_calls);
    for (const chart of [score, calls]) {
      expect(chart.ticks.length).toBeGreaterThan(0);
      for (const tick of chart.ticks) expect(tick).toMatch(/^\d+$/);
    }

    // A dot per scored candidate on each parameter's chart, though max_tokens has four values for them all.
    const candidates = await client.runCandidates(runId);
    expect(Math.max(...Object.values(countBy(candidates.map((c) => c.params.max_tokens))))).toBeGreaterThan(5);
    await expectEveryCandidateDrawn(page, candidates, { config: bestConfig, score: run.progress.best_score as number });
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

  it("shows a cancelled run: its calls per generation add up to the run's, every generation, whole-number ticks, and its best config", async () => {
    const config = parse(readFileSync(join(ROOT, "examples/quickstart.yaml"), "utf8"));
    config.api = { ...config.api, name: "cancelled_demo", mock_latency_ms: 1000 };
    // Cancelled in its second generation: a generation is 12 calls of a second each, two at a time, so the six
    // seconds or more it lasts leave room for a slow poll.
    const started = await startUntilFirstGeneration(config, 6);
    const cancelled = await client.cancelRun(started.run_id);
    expect(cancelled.status).toBe("cancelled");
    expect(cancelled.history).toHaveLength(2);
    expect(cancelled.history.reduce((sum, g) => sum + g.calls, 0)).toBe(cancelled.progress.target_calls);
    const result = cancelled.result;
    if (!result?.best_config || result.best_score === null || result.best_score === undefined)
      throw new Error("the cancelled run has no best config");

    await page.goto(`${service.url}/#/runs/${started.run_id}`);
    await page.waitForSelector("#calls-chart canvas");
    await page.waitForSelector("#score-chart canvas");
    expect(await page.locator(".scatters canvas").count()).toBe(4);
    expect(await page.textContent(".head .badge")).toBe("cancelled");
    expect(await page.textContent(".facts")).toContain(`target calls ${cancelled.progress.target_calls} /`);
    const [score, calls] = (await chartsOf(page, "#score-chart, #calls-chart")) as [Drawn, Drawn];
    expect(score.data[0]).toEqual([1, 2]);
    expect(calls.data[0]).toEqual([1, 2]);
    expect(calls.data[1]).toEqual(cancelled.history.map((g) => g.calls));
    expect(calls.data[2]).toEqual([cancelled.history[0]?.calls, cancelled.progress.target_calls]);
    // Two generations: ticks 1 and 2, not 1, 1.2, 1.4…
    for (const chart of [score, calls]) expect(chart.ticks).toEqual(["1", "2"]);
    // The best config (the run's own, as the card shows it) is ringed among the dots.
    expect(parse((await page.textContent("#best-config")) ?? "")).toEqual(result.best_config);
    await expectEveryCandidateDrawn(page, await client.runCandidates(started.run_id), {
      config: result.best_config,
      score: result.best_score,
    });
    await page.screenshot({ path: join(ARTIFACTS, "dashboard-cancelled-run.png"), fullPage: true });
    expect(pageErrors).toEqual([]);
  });

  it("shows a text parameter's long value clipped, its whole text a click away, on its run's page and its system's", async () => {
    const config = parse(readFileSync(join(ROOT, "examples/society.yaml"), "utf8"));
    // Without the society, whose proposer would write prompts of its own: the run searches the seed prompts, one of
    // them long, and the long one wins.
    delete config.society;
    config.api = { ...config.api, name: "text_demo" };
    config.search_space.parameters.system_prompt.values.push(LONG_PROMPT);
    config.optimization.evolution = { population_size: 8, generations: 4 };
    expect(LONG_PROMPT.length).toBeGreaterThan(300);
    const result = await runOptimization({ configDict: config, server: { url: service.url, apiKey: service.key, pollMs: 100 } });
    if (!result.success) throw new Error(result.error);
    expect(result.best_config.system_prompt).toBe(LONG_PROMPT);
    const textRun = result.optimization_run_id;

    await page.goto(`${service.url}/#/runs/${textRun}`);
    await page.waitForSelector(".scatters canvas");

    // The best config: the prompt clipped on its row, shown as text (its markup too), whole after one click.
    const clip = page.locator("#best-params details.clip");
    expect(await clip.count()).toBe(1);
    const summary = ((await clip.locator("summary").textContent()) ?? "").trim();
    expect(summary.length).toBeLessThanOrEqual(SUMMARY_MOST);
    expect(summary.startsWith(LONG_PROMPT.slice(0, 60))).toBe(true);
    expect(await clip.locator(".full").isVisible()).toBe(false);
    await clip.locator("summary").click();
    expect(await clip.locator(".full").isVisible()).toBe(true);
    expect(await clip.locator(".full").textContent()).toBe(LONG_PROMPT);
    expect(await page.locator("#best-params b").count()).toBe(0);
    // The YAML, whole, a click away, and what Copy puts on the clipboard.
    expect(await page.isVisible("#best-config")).toBe(false);
    await page.click("details.yaml summary");
    expect(await page.isVisible("#best-config")).toBe(true);
    expect(parse((await page.textContent("#best-config")) ?? "")).toEqual(result.best_config);
    await browser.grantPermissions(["clipboard-read", "clipboard-write"], { origin: service.url });
    await page.click(`button:text-is("Copy")`);
    await page.waitForSelector("text=Copied");
    expect(parse(await page.evaluate(() => navigator.clipboard.readText()))).toEqual(result.best_config);

    // The prompt's chart: a dot per scored candidate, its categories numbered on the axis (a prompt as a label
    // would run over the next), and the key below giving each number's value in full, in the axis' order.
    const candidates = await client.runCandidates(textRun);
    await expectEveryCandidateDrawn(page, candidates, { config: result.best_config, score: result.best_score });
    const names = Object.keys(candidates[0]?.params ?? {});
    const [prompts] = await chartsOf(page, `.scatters > div:nth-child(${names.indexOf("system_prompt") + 1})`);
    const values = [...new Set(candidates.map((c) => c.params.system_prompt as string))];
    expect(values).toContain(LONG_PROMPT);
    expect(prompts?.labels[0]).toBe("system_prompt");
    expect(prompts?.ticks).toEqual(values.map((_, i) => String(i + 1)));
    expect(await page.locator(".scatters ol.key").count()).toBe(1);
    const key = page.locator(`.scatters > div:nth-child(${names.indexOf("system_prompt") + 1}) ol.key > li`);
    expect(await key.evaluateAll((items) => items.map((li) => li.querySelector(".full, .value")?.textContent))).toEqual(values);
    const keyed = key.nth(values.indexOf(LONG_PROMPT)).locator("details.clip");
    expect(((await keyed.locator("summary").textContent()) ?? "").trim().length).toBeLessThanOrEqual(SUMMARY_MOST);
    await keyed.locator("summary").click();
    expect(await keyed.locator(".full").isVisible()).toBe(true);
    await page.screenshot({ path: join(ARTIFACTS, "dashboard-text-run.png"), fullPage: true });

    // The run's best configs promoted: the arm's prompt clipped on the system page, whole after one click.
    await client.promoteRun(textRun, { system: "text_demo", top_k: 2 });
    await page.goto(`${service.url}/#/systems/text_demo`);
    await page.waitForSelector("#arms");
    const arm = page.locator("#arms details.clip").first();
    expect(((await arm.locator("summary").textContent()) ?? "").trim().length).toBeLessThanOrEqual(SUMMARY_MOST);
    expect(await arm.locator(".full").isVisible()).toBe(false);
    await arm.locator("summary").click();
    expect(await arm.locator(".full").isVisible()).toBe(true);
    expect(await arm.locator(".full").textContent()).toBe(LONG_PROMPT);
    expect(await page.locator("#arms b").count()).toBe(0);
    // The short params stay on a line of their own, as JSON.
    expect(await page.locator("#arms code.line").first().textContent()).toMatch(/^model: "mock-\w+", temperature: [\d.]+$/);
    await page.screenshot({ path: join(ARTIFACTS, "dashboard-text-system.png"), fullPage: true });

    // Both fit a phone, every long value opened.
    await page.setViewportSize({ width: 390, height: 844 });
    for (const [path, shot] of [
      [`#/runs/${textRun}`, "dashboard-phone-text-run.png"],
      ["#/systems/text_demo", "dashboard-phone-text-system.png"],
    ] as const) {
      await page.goto(`${service.url}/${path}`);
      await page.waitForSelector("main .card canvas");
      await page.locator("details").evaluateAll((all) => {
        for (const details of all) (details as HTMLDetailsElement).open = true;
      });
      expect(await page.evaluate(() => document.documentElement.scrollWidth), path).toBeLessThanOrEqual(390);
      await page.screenshot({ path: join(ARTIFACTS, shot), fullPage: true });
    }
    await page.setViewportSize({ width: 1280, height: 900 });
    expect(pageErrors).toEqual([]);
  }, 150_000);

  it("keeps a long value the user opened open while a running run's page redraws at each poll", async () => {
    const config = parse(readFileSync(join(ROOT, "examples/society.yaml"), "utf8"));
    delete config.society;
    // Long prompts only, so the best config holds one from the first generation on.
    config.api = { ...config.api, name: "text_live_demo", mock_latency_ms: 300 };
    config.search_space.parameters.system_prompt.values = [LONG_PROMPT, `${LONG_PROMPT} Be kind.`];
    // Twenty generations of 12 calls of 0.3 s, two at a time: a run that outlasts the check by far, cancelled after.
    const started = await startUntilFirstGeneration(config, 20);

    await page.goto(`${service.url}/#/runs/${started.run_id}`);
    await page.waitForSelector("#best-params details.clip");
    await page.click("#best-params details.clip summary");
    await page.click("details.yaml summary");
    // The page is drawn anew at its next poll: the new card's prompt and YAML are open as the user left them.
    await page.evaluate(() => {
      (window as Window & { drawnBefore?: Element | null }).drawnBefore = document.querySelector("#best-params");
    });
    await page.waitForFunction(() => {
      const now = document.querySelector("#best-params");
      return now !== null && now !== (window as Window & { drawnBefore?: Element | null }).drawnBefore;
    });
    expect(await page.isVisible("#best-params details.clip .full")).toBe(true);
    expect(await page.isVisible("#best-config")).toBe(true);
    expect((await client.cancelRun(started.run_id)).status).toBe("cancelled");
    expect(pageErrors).toEqual([]);
  });

  it("shows a contextual system's context: per page, each arm's predicted and observed reward, the predicted best marked, and a feature that never varies", async () => {
    await client.configureSystem(CONTEXT_SYSTEM, {
      default_arms: [
        { arm_id: "bold", params: { temperature: 0.9 } },
        { arm_id: "careful", params: { temperature: 0.2 } },
      ],
      context_features: { page: { type: "categorical", values: ["search", "chat"] }, plan: { type: "categorical", max_values: 3 } },
      selection_policy: "contextual",
    });
    type Row = { value: string; cells: Record<string, string>; best: string[] };
    /** A feature's table as the page shows it: each row's value, each arm's cell by arm, the arms marked best. */
    const tableOf = (feature: string): Promise<Row[]> =>
      page.locator(`#context section[data-feature="${feature}"] table.context tr:has(td)`).evaluateAll((rows) =>
        rows.map((row) => ({
          value: row.querySelector("td.context-value")?.textContent ?? "",
          cells: Object.fromEntries([...row.querySelectorAll("td[data-arm]")].map((td) => [td.getAttribute("data-arm"), td.textContent])),
          best: [...row.querySelectorAll("td.predicted-best")].map((td) => td.getAttribute("data-arm") ?? ""),
        })),
      );
    /** The summary's numbers of an arm at a page value. */
    const armAt = (context: ContextView, value: string, armId: string) => {
      const arm = context.features
        .find((f) => f.name === "page")
        ?.values.find((v) => v.value === value)
        ?.arms.find((a) => a.arm_id === armId);
      if (!arm) throw new Error(`no ${armId} at page ${value} in the summary`);
      return arm;
    };

    // Nothing yet: the declared pages, empty, and the plan, which no decision has had, says so.
    await page.goto(`${service.url}/#/systems/${CONTEXT_SYSTEM}`);
    await page.waitForSelector("#context table.context");
    expect(await page.textContent("#context-model")).toContain("Nothing observed yet");
    expect(await tableOf("page")).toEqual([
      { value: "search", cells: { bold: "– · – (n 0)", careful: "– · – (n 0)" }, best: [] },
      { value: "chat", cells: { bold: "– · – (n 0)", careful: "– · – (n 0)" }, best: [] },
    ]);
    expect(await page.textContent('#context section[data-feature="plan"]')).toContain("No rewarded decision in the last 30 days had it.");

    const rewarded = 2 * CONTEXT_USERS;
    for (let u = 0; u < CONTEXT_USERS; u++) {
      for (const pageName of ["search", "chat"]) {
        const userId = `context_user_${u}`;
        const selection = await client.select(CONTEXT_SYSTEM, { userId, context: { page: pageName, plan: PLAN } });
        const reward = PAGE_REWARDS[pageName]?.[selection.arm_id] as number;
        await client.update(CONTEXT_SYSTEM, { userId, decisionId: selection.decision_id, reward });
      }
    }
    // The context's cells are added as the rewards reach D1 with the log's batches: wait for all of them.
    await expect
      .poll(async () => (await client.systemSummary(CONTEXT_SYSTEM)).context?.rewarded, { timeout: 90_000, interval: 500 })
      .toBe(rewarded);

    // Before the cron's first fit: what was observed (each page's reward of the arm, exactly), nothing marked, and
    // the note that predictions come with the next refresh.
    const observed = (await client.systemSummary(CONTEXT_SYSTEM)).context;
    if (!observed) throw new Error("the contextual system's summary has no context");
    await page.reload();
    await page.waitForSelector("#context td[data-arm]");
    expect(await page.textContent("#context-model")).toContain("appear after the next refresh of the context model");
    expect(await page.textContent("#context-model")).toContain("every 15 minutes");
    const unfitted = await tableOf("page");
    expect(unfitted.map((r) => r.value)).toEqual(["search", "chat"]);
    for (const row of unfitted) {
      expect(row.best).toEqual([]);
      for (const [armId, text] of Object.entries(row.cells)) {
        expect(text).toBe(`– · ${PAGE_REWARDS[row.value]?.[armId]?.toFixed(2)} (n ${armAt(observed, row.value, armId).rewarded})`);
      }
    }

    // The cron fits the model (npm start serves GET /__scheduled to fire it).
    const fired = await fetch(`${service.url}/__scheduled`);
    expect(fired.status).toBe(200);
    await fired.text();
    await expect
      .poll(async () => (await client.systemSummary(CONTEXT_SYSTEM)).context?.model_computed_at, { timeout: 90_000, interval: 500 })
      .not.toBeNull();
    await page.reload();
    await page.waitForSelector("#context td.predicted-best");
    const context = (await client.systemSummary(CONTEXT_SYSTEM)).context;
    if (!context) throw new Error("the contextual system's summary has no context");
    expect(await page.textContent("#context-model")).toContain(`${rewarded} rewarded decisions in the last 30 days`);
    expect(await page.textContent('#context section[data-feature="page"] h3')).toBe("page (categorical)");

    // Bold is marked on search, careful on chat; each cell is the arm's prediction, then its observed reward (the
    // page's for that arm, exactly) and how many rewarded decisions it comes from, as the summary has them.
    const rows = await tableOf("page");
    expect(rows.map((r) => [r.value, r.best])).toEqual([
      ["search", ["bold"]],
      ["chat", ["careful"]],
    ]);
    for (const row of rows) {
      expect(Object.keys(row.cells)).toEqual(["bold", "careful"]);
      for (const [armId, text] of Object.entries(row.cells)) {
        const arm = armAt(context, row.value, armId);
        expect(arm.predicted).not.toBeNull();
        const mark = row.best.includes(armId) ? " ★" : "";
        expect(text).toBe(`${arm.predicted?.toFixed(2)} · ${PAGE_REWARDS[row.value]?.[armId]?.toFixed(2)} (n ${arm.rewarded})${mark}`);
      }
    }
    expect(rows.flatMap((r) => Object.values(r.cells)).reduce((n, text) => n + Number(text.match(/\(n (\d+)\)/)?.[1]), 0)).toBe(rewarded);

    // The plan never varied: the page says so, its value (markup) shown as text.
    const note = page.locator('#context section[data-feature="plan"] .never-varies');
    expect(await note.isVisible()).toBe(true);
    expect(await note.textContent()).toBe(
      `Never varies: every rewarded decision in the window had plan = ${PLAN}: it cannot change any choice.`,
    );
    expect((await tableOf("plan")).map((r) => r.value)).toEqual([PLAN]);
    expect(await page.locator("#context b").count()).toBe(0);
    await page.screenshot({ path: join(ARTIFACTS, "dashboard-context.png"), fullPage: true });
    expect(pageErrors).toEqual([]);
  }, 240_000);

  it("fits a 390 px wide phone, signed out and in, its API reference and guides too, and has a favicon", async () => {
    // A new tab: its session storage is empty, so it starts signed out.
    const phone = await browser.newPage();
    phone.on("pageerror", (error) => pageErrors.push(error.message));
    const refused: string[] = [];
    phone.on("response", (response) => {
      if (response.status() >= 400) refused.push(`${response.status()} ${response.url()}`);
    });
    await phone.setViewportSize({ width: 390, height: 844 });
    const pageWidth = () => phone.evaluate(() => document.documentElement.scrollWidth);

    await phone.goto(`${service.url}/`);
    await phone.waitForSelector("input[name=key]");
    expect(await phone.isVisible("#sign-out")).toBe(false);
    expect(await pageWidth()).toBeLessThanOrEqual(390);
    await phone.fill("input[name=key]", service.key);
    await phone.click("button[type=submit]");
    await phone.waitForSelector(`a[href="#/runs/${runId}"]`);
    expect(await pageWidth()).toBeLessThanOrEqual(390);
    await phone.screenshot({ path: join(ARTIFACTS, "dashboard-phone-runs.png"), fullPage: true });

    await phone.goto(`${service.url}/#/systems`);
    await phone.waitForSelector('a[href="#/systems/dashboard_demo"]');
    expect(await pageWidth()).toBeLessThanOrEqual(390);

    await phone.goto(`${service.url}/#/systems/dashboard_demo`);
    await phone.waitForSelector("#reward-rate-chart canvas");
    expect(await pageWidth()).toBeLessThanOrEqual(390);
    await phone.screenshot({ path: join(ARTIFACTS, "dashboard-phone-system.png"), fullPage: true });

    // The context's tables scroll inside their own boxes.
    await phone.goto(`${service.url}/#/systems/${CONTEXT_SYSTEM}`);
    await phone.waitForSelector("#context td.predicted-best");
    expect(await pageWidth()).toBeLessThanOrEqual(390);
    await phone.screenshot({ path: join(ARTIFACTS, "dashboard-phone-context.png"), fullPage: true });

    await phone.goto(`${service.url}/#/runs/${runId}`);
    await phone.waitForSelector("#calls-chart canvas");
    expect(await phone.locator(".scatters canvas").count()).toBe(4);
    expect(await pageWidth()).toBeLessThanOrEqual(390);
    await phone.screenshot({ path: join(ARTIFACTS, "dashboard-phone-run.png"), fullPage: true });

    // The API reference and the guides it links fit too: wide tables and code scroll inside themselves.
    for (const path of ["/docs", "/guide/", "/guide/configuration.html", "/guide/runtime.html", "/guide/deploying.html"]) {
      await phone.goto(`${service.url}${path}`);
      await phone.waitForSelector("h1");
      expect(await pageWidth(), path).toBeLessThanOrEqual(390);
    }

    // The icon every page links to (and every browser asks for at /favicon.ico) is served.
    expect(await phone.getAttribute("link[rel=icon]", "href")).toBe("/favicon.ico");
    const icon = await phone.request.get(`${service.url}/favicon.ico`);
    expect(icon.status()).toBe(200);
    expect(icon.headers()["content-type"]).toMatch(/^image\//);
    expect(refused).toEqual([]);
    expect(pageErrors).toEqual([]);
    await phone.close();
  });
});
