// The Convergence dashboard: a page of the worker that reads the /v1 API with the key the user signs in with
// (kept in this browser session, never in a URL). Pages by location hash: #/runs, #/runs/{id}, #/systems,
// #/systems/{name}. Charts are uPlot (served by the worker from /vendor, no CDN).
/* global uPlot */

const KEY = "convergence.api_key";
const POLL_MS = 1500;
/** The system page's charts over time: the last 7 days, hourly. */
const TIMELINE_HOURS = 168;
const main = document.getElementById("main");
let timer = null;
let charts = [];
/** Each navigation's number: a page that finishes loading after the user went elsewhere is not shown. */
let navigation = 0;

class Stale extends Error {}

/** An element, its attributes and children; text is always text (never parsed as HTML). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) if (child !== null && child !== undefined && child !== false) el.append(child);
  return el;
}

const fmt = (x, digits = 4) => (x === null || x === undefined ? "–" : Number(x).toFixed(digits));
const when = (iso) => (iso ? iso.replace("T", " ").slice(0, 19) : "–");
const badge = (status) => h("span", { class: `badge ${status}` }, status);

class SignedOut extends Error {}
/** A runtime key (select and update only): the dashboard reads admin routes. */
class NeedsAdmin extends Error {}
const NEEDS_ADMIN = "That is a runtime key: it can only select, update and read decisions. The dashboard needs an admin key.";

async function api(path, init = {}, key = sessionStorage.getItem(KEY)) {
  if (!key) throw new SignedOut();
  const response = await fetch(path, { ...init, headers: { authorization: `Bearer ${key}`, ...(init.headers ?? {}) } });
  if (response.status === 401) {
    if (sessionStorage.getItem(KEY) === key) sessionStorage.removeItem(KEY);
    throw new SignedOut();
  }
  const body = await response.json().catch(() => null);
  if (response.status === 403 && body?.error?.code === "forbidden") {
    if (sessionStorage.getItem(KEY) === key) sessionStorage.removeItem(KEY);
    throw new NeedsAdmin(NEEDS_ADMIN);
  }
  if (!response.ok) throw new Error(body?.error?.message ?? `HTTP ${response.status}`);
  return body;
}

/** Every item of a listing (`field` of each page), following next_cursor page by page. */
async function everyItem(path, field) {
  const items = [];
  let cursor = null;
  do {
    const page = await api(`${path}?limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    items.push(...page[field]);
    cursor = page.next_cursor;
  } while (cursor);
  return items;
}

function clear() {
  clearTimeout(timer);
  timer = null;
  for (const chart of charts) chart.destroy();
  charts = [];
}

function show(...nodes) {
  main.replaceChildren(...nodes.filter((n) => n !== null && n !== undefined && n !== false));
}

/** The data of a page, unless the user has gone to another page meanwhile. */
async function load(promise) {
  const current = navigation;
  const value = await promise;
  if (current !== navigation) throw new Stale();
  return value;
}

function signIn(message) {
  clear();
  document.getElementById("nav").hidden = true;
  const input = h("input", { type: "password", name: "key", autocomplete: "off", placeholder: "API key", required: true });
  const error = h("p", { class: "error" }, message ?? "");
  const form = h(
    "form",
    {
      class: "sign-in",
      onsubmit: async (event) => {
        event.preventDefault();
        const key = input.value.trim();
        try {
          // Kept only once the service accepts it for an admin route (a runtime key is refused with a reason).
          await api("/v1/runs?limit=1", {}, key);
          sessionStorage.setItem(KEY, key);
          route();
        } catch (e) {
          error.textContent =
            e instanceof SignedOut
              ? "That key was refused."
              : e instanceof NeedsAdmin
                ? e.message
                : `The service could not check the key: ${e.message}`;
        }
      },
    },
    h("h1", {}, "Sign in"),
    h(
      "p",
      { class: "muted" },
      "With an admin key of the service (CONVERGENCE_API_KEY, or one made with `convergence keys create --scope admin`; `npm start` prints the local one). It stays in this browser tab.",
    ),
    input,
    h("button", { type: "submit" }, "Sign in"),
    error,
  );
  show(form);
  input.focus();
}

// ---------- charts ----------

/** The widest a chart may be in `target`, which is on the page already: a chart wider than its card would scroll. */
const roomIn = (target, most) => Math.max(160, Math.min(most, target.clientWidth));

/** Tick steps of an axis of whole numbers (generations): uPlot would otherwise put ticks at 1.2, 1.4… */
const WHOLE_STEPS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000];

/**
 * A chart over generations (x: 1, 2, …), each point drawn so that a run of one or two generations still shows.
 * The uPlot instance is kept on the element (`chart`), for the console and the browser test.
 */
function generationChart(target, title, series, data) {
  const opts = {
    title,
    width: roomIn(target, 560),
    height: 240,
    scales: { x: { time: false } },
    axes: [{ label: "generation", incrs: WHOLE_STEPS }, {}],
    series: [{ label: "generation" }, ...series.map((s) => ({ width: 2, points: { show: true, size: 5, fill: s.stroke }, ...s }))],
  };
  const chart = new uPlot(opts, data, target);
  target.chart = chart;
  charts.push(chart);
}

const COLORS = ["#2f5fa7", "#a46a1f", "#2f7d4f", "#a7322f"];
/** The i-th series' color: the four above, then hues spread around the wheel. */
const color = (i) => COLORS[i] ?? `hsl(${(i * 137) % 360} 55% 42%)`;

/**
 * A chart over UTC hours (x: the hours as epoch seconds), one series per arm (by id, as the arms table), y from 0
 * to 1 shown as `yValue` says. null values are gaps. Each point is drawn, so a lone hour between gaps still shows.
 * The uPlot instance is kept on the element (`chart`), for the console and the browser test.
 */
function hourChart(target, title, yLabel, yValue, arms, x, ys, width) {
  const opts = {
    title,
    width,
    height: 240,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
    scales: { y: { auto: false, range: [0, 1] } },
    axes: [{ label: "hour (UTC)" }, { label: yLabel, values: (_, ticks) => ticks.map(yValue) }],
    series: [
      { label: "hour (UTC)" },
      ...arms.map((arm, i) => ({
        label: arm.arm_id,
        stroke: color(i),
        width: 2,
        points: { show: true, size: 4, fill: color(i) },
        value: (_, v) => (v === null ? "–" : yValue(v)),
      })),
    ],
  };
  const chart = new uPlot(opts, [x, ...ys], target);
  target.chart = chart;
  charts.push(chart);
}

/** Each arm's share of its hour's selections (null in an hour without any) and its mean reward (null unrewarded). */
function timeSeries(timeline) {
  const totals = timeline.hours.map((_, i) => timeline.arms.reduce((n, arm) => n + arm.selections[i], 0));
  return {
    x: timeline.hours.map((hour) => Date.parse(hour) / 1000),
    share: timeline.arms.map((arm) => arm.selections.map((n, i) => (totals[i] > 0 ? n / totals[i] : null))),
    rate: timeline.arms.map((arm) => arm.reward_sum.map((sum, i) => (arm.rewarded[i] > 0 ? sum / arm.rewarded[i] : null))),
  };
}

/** A parameter's value as the page shows it: a string as it is, anything else as its JSON. */
const asText = (value) => (typeof value === "string" ? value : JSON.stringify(value));

/** The longest a value is shown whole; a text parameter's value (a system prompt) may be 8 KiB. */
const CLIP = 80;

/**
 * The <details> the user opened on this page, by place: a running run's page is drawn anew at every poll, and a
 * prompt the user is reading should not fold itself away. Forgotten on leaving the page.
 */
const opened = new Set();
let openedOn = null;

/** `details`, open if the user left the one at `place` open when the page was last drawn. */
function keptOpen(details, place) {
  details.open = opened.has(place);
  details.addEventListener("toggle", () => (details.open ? opened.add(place) : opened.delete(place)));
  return details;
}

/**
 * `text`, whole when short; else its first CLIP characters, the whole text a click away (a <details>: no script,
 * and the text is a text node, never parsed as HTML). The preview folds newlines into spaces so that it stays one
 * line or two; opened, the text shows its own lines. Cut by code point, so an emoji is never split in half.
 * `place` names where on the page it is, so that it stays open across redraws.
 */
function clipped(text, place) {
  const chars = [...text];
  if (chars.length <= CLIP) return h("span", { class: "value" }, text);
  const preview = [...text.replace(/\s+/g, " ")].slice(0, CLIP).join("");
  return keptOpen(
    h(
      "details",
      { class: "clip" },
      h("summary", {}, h("span", { class: "preview" }, `${preview}…`), h("span", { class: "size" }, ` ${chars.length} characters`)),
      h("div", { class: "full" }, text),
    ),
    `${place}\n${text}`,
  );
}

/** The longest category label an axis shows; longer ones (or too many to fit) are numbered, with a key below. */
const LABEL = 24;

/** How wide `text` is in uPlot's axis font (its default), to tell whether category labels fit side by side. */
const labelWidth = (() => {
  const context = document.createElement("canvas").getContext("2d");
  context.font = '12px system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", sans-serif';
  return (text) => context.measureText(text).width;
})();

/**
 * The x axis of categories: their own labels when all are short and fit side by side, else numbers (1, 2, … in
 * the order of `categories`, every k-th when even numbers would crowd), which the key below the chart spells out.
 * A prompt as a label would run over its neighbours, and a run whose proposer writes prompts has many.
 */
function categoryAxis(name, categories, plotWidth) {
  const labels = categories.map((json) => asText(JSON.parse(json)));
  const room = plotWidth / Math.max(1, categories.length);
  // A label needs its width and a gap to the next.
  const gap = 8;
  if (labels.every((label) => label.length <= LABEL && labelWidth(label) + gap <= room)) {
    return { numbered: false, axis: { label: name, splits: () => categories.map((_, i) => i), values: () => labels } };
  }
  const every = Math.ceil((labelWidth(String(categories.length)) + gap) / room);
  return {
    numbered: true,
    axis: {
      label: `${name} (see the key below)`,
      splits: () => categories.map((_, i) => i),
      values: () => categories.map((_, i) => (i % every === 0 ? String(i + 1) : "")),
    },
  };
}

/**
 * The key to a numbered axis: each value in full (a long one clipped, a click away), how many candidates had it
 * and the highest score among those scored on every test case, and which one the best config has. `points` are
 * the chart's: each candidate (`c`) and its category's index (`x`).
 */
function categoryKey(name, categories, points, best) {
  const count = categories.map(() => 0);
  const top = categories.map(() => null);
  for (const { x, c } of points) {
    count[x] += 1;
    if (c.complete && (top[x] === null || c.score > top[x])) top[x] = c.score;
  }
  const bestAt = points.find((p) => p.c === best)?.x;
  return h(
    "ol",
    { class: "key" },
    categories.map((json, i) => {
      const facts = [`${count[i]} candidate${count[i] === 1 ? "" : "s"}`, `top score ${fmt(top[i])}`];
      if (i === bestAt) facts.push("the best config's value");
      return h("li", {}, clipped(asText(JSON.parse(json)), `key:${name}`), h("div", { class: "muted" }, facts.join(" · ")));
    }),
  );
}

/**
 * Each point's x: its value, and where several points share a value, spread evenly over a narrow band around it
 * (in the order they came), so that every candidate is a dot of its own. uPlot draws a series along x in order and
 * assumes no x repeats: given 37 candidates at the largest value it drew one. `values` are sorted; the answer
 * increases strictly. The band reaches `widest` either side, and at most a third of the way to the next value, so
 * a dot stays nearest its own value.
 */
function spread(values, widest) {
  const xs = [];
  for (let start = 0; start < values.length; ) {
    const value = values[start];
    let end = start;
    while (end < values.length && values[end] === value) end += 1;
    const gaps = [value - (values[start - 1] ?? Number.NEGATIVE_INFINITY), (values[end] ?? Number.POSITIVE_INFINITY) - value];
    const half = Math.min(widest, ...gaps.map((gap) => gap / 3));
    const count = end - start;
    for (let j = 0; j < count; j++) xs.push(count === 1 ? value : value + half * ((2 * j) / (count - 1) - 1));
    start = end;
  }
  return xs;
}

/**
 * One chart per parameter: each scored candidate's value against its score (categorical values by index), the
 * best config ringed. The uPlot instance is kept on the element (`chart`), for the console and the browser test.
 */
function scatter(target, name, candidates, best) {
  const values = candidates.map((c) => c.params[name]);
  const numeric = values.every((v) => typeof v === "number");
  // Each candidate's value as JSON, once: a prompt may be 8 KiB, and the page is drawn anew at every poll.
  const keys = numeric ? [] : values.map((v) => JSON.stringify(v));
  const categories = [...new Set(keys)];
  const index = new Map(categories.map((json, i) => [json, i]));
  const points = candidates
    .map((c, order) => ({ x: numeric ? c.params[name] : index.get(keys[order]), c, order }))
    .sort((a, b) => a.x - b.x || a.order - b.order);
  const low = points[0]?.x ?? 0;
  const high = points.at(-1)?.x ?? 0;
  // A value every candidate shares still gets an axis wide enough to spread its dots over.
  const span = high - low || Math.abs(low) || 1;
  // Numbers barely move (3% of the axis); categories have room up to a third of the way to the next.
  const xs = spread(
    points.map((p) => p.x),
    numeric ? 0.03 * span : 0.3,
  );
  // A margin either side, so that no dot is cut in half at the edge.
  const range = numeric ? [low - 0.06 * span, high + 0.06 * span] : [-0.5, categories.length - 0.5];
  const dots = (color) => ({ stroke: color, fill: color, paths: () => null, points: { show: true, size: 7, fill: color } });
  const width = roomIn(target, 560);
  // The plot is the chart less the score axis (uPlot's default 50 px) and a margin.
  const x = numeric ? { numbered: false, axis: { label: name } } : categoryAxis(name, categories, width - 60);
  const opts = {
    title: name,
    width,
    height: 200,
    scales: { x: { time: false, range } },
    axes: [x.axis, { label: "score" }],
    series: [
      { label: name },
      { label: "scored on every test case", ...dots(COLORS[0]) },
      { label: "partly scored", ...dots("#b7bdc7") },
      { label: "best config", stroke: COLORS[3], paths: () => null, points: { show: true, size: 13, width: 2, fill: "transparent" } },
    ],
    legend: { show: false },
  };
  const data = [
    xs,
    points.map((p) => (p.c.complete ? p.c.score : null)),
    points.map((p) => (p.c.complete ? null : p.c.score)),
    points.map((p) => (p.c === best ? p.c.score : null)),
  ];
  const chart = new uPlot(opts, data, target);
  target.chart = chart;
  charts.push(chart);
  if (x.numbered) target.append(categoryKey(name, categories, points, best));
}

// ---------- pages ----------

async function runsPage() {
  const { runs } = await load(api("/v1/runs?limit=100"));
  const rows = runs.map((r) =>
    h(
      "tr",
      {},
      h("td", {}, h("a", { href: `#/runs/${encodeURIComponent(r.run_id)}` }, r.run_id)),
      h("td", {}, badge(r.status)),
      h("td", { class: "num" }, fmt(r.best_score)),
      h("td", { class: "num" }, String(r.target_calls)),
      h("td", {}, r.algorithm),
      h("td", {}, r.system ? h("a", { href: `#/systems/${encodeURIComponent(r.system)}` }, r.system) : "–"),
      h("td", {}, when(r.created_at)),
    ),
  );
  show(
    h("h1", {}, "Runs"),
    runs.length === 0
      ? h("p", { class: "muted" }, "No runs yet: `npx convergence optimize examples/quickstart.yaml --server URL`, or POST /v1/runs.")
      : h(
          "div",
          { class: "card" },
          h(
            "table",
            {},
            h(
              "tr",
              {},
              ["run", "status", "best score", "target calls", "algorithm", "system", "started"].map((t) =>
                h("th", { class: t === "best score" || t === "target calls" ? "num" : null }, t),
              ),
            ),
            rows,
          ),
        ),
  );
  if (runs.some((r) => r.status === "running" || r.status === "queued")) timer = setTimeout(route, POLL_MS * 2);
}

const RESERVED = /^(true|false|null|yes|no|on|off|y|n|~|[-+]?(\.inf|\.nan))$/i;

/** A key or string as YAML: plain when nothing can misread it (YAML 1.1 and 1.2 parsers alike), else quoted. */
function yamlString(text) {
  return /^[A-Za-z_](?:[\w.\-/]*[\w/])?$/.test(text) && !RESERVED.test(text) ? text : JSON.stringify(text);
}

function yamlValue(value) {
  if (typeof value === "string") return yamlString(value);
  if (typeof value === "number" && Number.isFinite(value)) {
    // PyYAML (YAML 1.1) reads 1e-7 as a string: give an exponent's mantissa a dot.
    const text = String(value);
    return /e/i.test(text) && !/\./.test(text) ? text.replace(/e/i, ".0e") : text;
  }
  // true/false/null, and lists or objects as JSON: JSON is valid YAML.
  return JSON.stringify(value);
}

/** A config as YAML that parses back to the same values, ready for a config file or a runtime arm. */
function yaml(config) {
  return Object.entries(config)
    .map(([k, v]) => `${yamlString(k)}: ${yamlValue(v)}`)
    .join("\n");
}

/**
 * The best config: its YAML, ready to copy. Where a value is long (a system prompt), a line of YAML would run on
 * for kilobytes: then each parameter on a row of its own, long values clipped, and the YAML (whole, as Copy copies
 * it) a click away.
 */
function bestConfig(params) {
  const text = yaml(params);
  if (Object.values(params).every((v) => [...yamlValue(v)].length <= CLIP)) return h("pre", { id: "best-config" }, text);
  return h(
    "div",
    {},
    h(
      "table",
      { id: "best-params", class: "params" },
      Object.entries(params).map(([k, v]) =>
        h("tr", {}, h("th", {}, k), h("td", {}, clipped(typeof v === "string" ? v : yamlValue(v), `best:${k}`))),
      ),
    ),
    keptOpen(h("details", { class: "yaml" }, h("summary", {}, "YAML"), h("pre", { id: "best-config" }, text)), "yaml"),
  );
}

/**
 * Each generation's target calls and their running total, from the run's history (which adds up to the run's
 * calls), and while the run goes on its generation under way, which the history has yet to close.
 */
function callsPerGeneration(run) {
  const generations = [];
  const each = [];
  const total = [];
  let sum = 0;
  for (const g of run.history) {
    sum += g.calls;
    generations.push(g.generation + 1);
    each.push(g.calls);
    total.push(sum);
  }
  const p = run.progress;
  if ((run.status === "running" || run.status === "queued") && p.generation > run.history.length && p.target_calls >= sum) {
    generations.push(p.generation);
    each.push(p.target_calls - sum);
    total.push(p.target_calls);
  }
  return { generations, each, total };
}

async function runPage(runId) {
  const id = encodeURIComponent(runId);
  const [run, { candidates }] = await load(Promise.all([api(`/v1/runs/${id}`), api(`/v1/runs/${id}/candidates`)]));
  // The run's own best (the first of equals, as the optimizer counts; a cancelled run has one too), else the best
  // complete candidate so far.
  const complete = candidates.filter((c) => c.complete);
  const resultBest = run.result?.best_config ? JSON.stringify(run.result.best_config) : null;
  const best =
    complete.find((c) => resultBest !== null && JSON.stringify(c.params) === resultBest) ??
    complete.reduce((a, c) => (a === null || c.score > a.score ? c : a), null);
  const perCase = best ? (await load(api(`/v1/runs/${id}/evaluations?candidate=${best.candidate}&limit=1000`))).evaluations : [];
  const p = run.progress;
  const result = run.result;

  const scoreChart = h("div", { id: "score-chart" });
  const callsChart = h("div", { id: "calls-chart" });
  const scatters = h("div", { class: "scatters" });
  const copy = h(
    "button",
    {
      type: "button",
      onclick: async (event) => {
        try {
          await navigator.clipboard.writeText(yaml(best.params));
          event.target.textContent = "Copied";
        } catch {
          // No clipboard here (plain http on another host): select the text for the user to copy, shown first if
          // it was folded away.
          const yamlText = document.getElementById("best-config");
          const folded = yamlText.closest("details");
          if (folded) folded.open = true;
          getSelection().selectAllChildren(yamlText);
          event.target.textContent = "Selected: copy it";
        }
      },
    },
    "Copy",
  );
  const metrics = [...new Set(perCase.flatMap((e) => Object.keys(e.metrics)))];
  show(
    h("div", { class: "head" }, h("h1", {}, run.run_id), badge(run.status)),
    h(
      "div",
      { class: "facts" },
      h("span", {}, "generation ", h("b", {}, `${Math.min(p.generation, p.generations)} / ${p.generations}`)),
      h("span", {}, "target calls ", h("b", {}, `${p.target_calls} / ${p.max_calls}`)),
      h("span", {}, "in flight ", h("b", {}, String(p.in_flight))),
      h("span", {}, "best score ", h("b", { id: "best-score" }, fmt(p.best_score))),
      h("span", { class: "muted" }, `${run.api_name} · ${run.algorithm} · seed ${run.seed} · started ${when(run.created_at)}`),
    ),
    result && !result.success ? h("p", { class: "error" }, result.error) : null,
    h(
      "div",
      { class: "cards" },
      h("div", { class: "card" }, scoreChart),
      h("div", { class: "card" }, callsChart),
      h(
        "div",
        { class: "card" },
        h("div", { class: "head" }, h("h2", {}, "Best config"), best ? copy : null),
        best ? bestConfig(best.params) : h("p", { class: "muted" }, "No config has been scored on every test case yet."),
        best
          ? h("p", { class: "muted" }, `score ${fmt(best.score)} · candidate ${best.candidate} · generation ${best.generation + 1}`)
          : null,
      ),
      h(
        "div",
        { class: "card" },
        h("h2", {}, "Best config per test case"),
        perCase.length === 0
          ? h("p", { class: "muted" }, "–")
          : h(
              "table",
              { id: "per-case" },
              h(
                "tr",
                {},
                h("th", {}, "test case"),
                h("th", { class: "num" }, "score"),
                metrics.map((m) => h("th", { class: "num" }, m)),
                h("th", {}, ""),
              ),
              perCase.map((e) =>
                h(
                  "tr",
                  {},
                  h("td", {}, e.test_case_id),
                  h("td", { class: "num" }, fmt(e.score)),
                  metrics.map((m) => h("td", { class: "num" }, fmt(e.metrics[m], 3))),
                  h("td", { class: "error" }, e.error ?? ""),
                ),
              ),
            ),
      ),
      h(
        "div",
        { class: "card wide" },
        h("h2", {}, "Parameters against score"),
        h(
          "p",
          { class: "muted" },
          "A dot per scored candidate (grey: not scored on every test case, raced out or cut short by the run's end, its score an estimate), the best config ringed. Candidates that share a value are spread a little sideways.",
        ),
        scatters,
      ),
    ),
  );
  const generations = run.history.map((g) => g.generation + 1);
  generationChart(
    scoreChart,
    "Score per generation",
    [
      { label: "best", stroke: COLORS[0] },
      { label: "mean", stroke: COLORS[1] },
    ],
    [generations, run.history.map((g) => g.best), run.history.map((g) => g.mean)],
  );
  const calls = callsPerGeneration(run);
  generationChart(
    callsChart,
    "Target calls per generation",
    [
      { label: "in the generation", stroke: COLORS[2] },
      { label: "running total", stroke: COLORS[0] },
    ],
    [calls.generations, calls.each, calls.total],
  );
  const names = candidates.length > 0 ? Object.keys(candidates[0].params) : [];
  for (const name of names) {
    const box = h("div", {});
    scatters.append(box);
    scatter(box, name, candidates, best);
  }
  if (run.status === "running" || run.status === "queued") timer = setTimeout(route, POLL_MS);
}

async function systemsPage() {
  const systems = await load(everyItem("/v1/systems", "systems"));
  show(
    h("h1", {}, "Systems"),
    systems.length === 0
      ? h("p", { class: "muted" }, "No systems yet: PUT /v1/systems/{name}, or promote a run's best configs.")
      : h(
          "div",
          { class: "card" },
          h(
            "table",
            {},
            h(
              "tr",
              {},
              ["system", "agent type", "arms", "version", "changed"].map((t) => h("th", {}, t)),
            ),
            systems.map((s) =>
              h(
                "tr",
                {},
                h("td", {}, h("a", { href: `#/systems/${encodeURIComponent(s.system)}` }, s.system)),
                h("td", {}, s.agent_type),
                h("td", {}, String(s.arms)),
                h("td", {}, String(s.version)),
                h("td", {}, when(s.updated_at)),
              ),
            ),
          ),
        ),
  );
}

function interval(arm) {
  const { lower, upper } = arm.confidence_interval;
  const span = h("span", {});
  span.style.left = `${lower * 100}%`;
  span.style.right = `${(1 - upper) * 100}%`;
  const mean = h("i", {});
  mean.style.left = `${arm.mean * 100}%`;
  return h("div", { class: "bar", title: `95% interval ${fmt(lower, 3)} to ${fmt(upper, 3)}` }, span, mean);
}

/**
 * An arm's params: the short ones on a line, `name: JSON` joined by commas, as they would be written; each long one
 * (a promoted system prompt) on a line of its own, clipped, its whole text a click away.
 */
function armParams(armId, params) {
  const lines = [];
  let short = [];
  const flush = () => {
    if (short.length > 0) lines.push(h("code", { class: "line" }, short.join(", ")));
    short = [];
  };
  for (const [k, v] of Object.entries(params)) {
    const json = JSON.stringify(v);
    if ([...json].length <= CLIP) {
      short.push(`${k}: ${json}`);
      continue;
    }
    flush();
    lines.push(h("div", { class: "param" }, h("code", {}, `${k}:`), " ", clipped(asText(v), `arm:${armId}:${k}`)));
  }
  flush();
  return lines;
}

/** How often the cron refits the context model (wrangler.toml's trigger): a new system's predictions wait for it. */
const CONTEXT_REFRESH_MINUTES = 15;

/** The digits a context table shows a reward with. */
const REWARD_DIGITS = 2;

/**
 * The arms of a row with its highest predicted reward, compared as the table shows them: arms whose predictions
 * read the same are all marked (a feature that never varies predicts the same for every arm, give or take a
 * rounding the star should not pretend is a difference). None before the model predicts.
 */
function predictedBest(arms) {
  const shown = arms.flatMap((a) => (a.predicted === null ? [] : [{ id: a.arm_id, reads: Number(fmt(a.predicted, REWARD_DIGITS)) }]));
  const highest = Math.max(...shown.map((a) => a.reads));
  return new Set(shown.filter((a) => a.reads === highest).map((a) => a.id));
}

/** One arm at one value: "predicted · observed (n rewarded)", marked when the model predicts it best there. */
function contextCell(arm, best) {
  return h(
    "td",
    {
      class: best ? "num predicted-best" : "num",
      "data-arm": arm.arm_id,
      title: best ? "the highest predicted reward for this value" : null,
    },
    `${fmt(arm.predicted, REWARD_DIGITS)} · ${fmt(arm.observed, REWARD_DIGITS)} `,
    h("span", { class: "muted" }, `(n ${arm.rewarded})`),
    best ? h("span", { class: "mark", role: "img", "aria-label": "highest predicted" }, " ★") : null,
  );
}

/**
 * A feature's table: a row per value (a numeric feature's per bucket), a column per arm in the arms table's order
 * (the summary's arms and the context's are the same system's, so every row has each).
 * The table scrolls inside its own box, so that a system of many arms still fits a phone.
 */
function contextFeature(feature, armIds) {
  const kind = feature.type === "numeric" ? "numeric, in buckets" : "categorical";
  return h(
    "section",
    { class: "context-feature", "data-feature": feature.name },
    h("h3", {}, feature.name, " ", h("span", { class: "muted" }, `(${kind})`)),
    feature.never_varies ? h("p", { class: "note never-varies" }, `Never varies: ${feature.never_varies}.`) : null,
    feature.values.length === 0
      ? h("p", { class: "muted" }, "No rewarded decision in the last 30 days had it.")
      : h(
          "div",
          { class: "scroll" },
          h(
            "table",
            { class: "context" },
            h(
              "tr",
              {},
              h("th", {}, feature.name),
              h("th", { class: "num" }, "n"),
              armIds.map((id) => h("th", { class: "num" }, id)),
            ),
            feature.values.map((row) => {
              const best = predictedBest(row.arms);
              return h(
                "tr",
                {},
                h("td", { class: "context-value" }, row.value),
                h("td", { class: "num" }, String(row.rewarded)),
                armIds.map((id) =>
                  contextCell(
                    row.arms.find((a) => a.arm_id === id),
                    best.has(id),
                  ),
                ),
              );
            }),
          ),
        ),
  );
}

/**
 * The Context card of a system with context_features: per feature value, each arm's predicted and observed reward,
 * so a team sees which arm wins where ("bold" on search pages, "careful" on chat).
 */
function contextCard(context, armIds) {
  return h(
    "div",
    { class: "card wide", id: "context" },
    h("h2", {}, "Context"),
    h(
      "p",
      { class: "muted" },
      "Per value of each context feature (a number by bucket), each arm's reward: predicted · observed (n). Predicted is the context model's, the other features at their average; observed is the mean reward of the arm's rewarded decisions with that value over the last 30 days, n how many there were. ★ marks the arm with the highest predicted reward for the value (each of those that read the same).",
    ),
    context.model_computed_at === null
      ? h(
          "p",
          { class: "note", id: "context-model" },
          context.rewarded > 0
            ? `No predictions yet: they appear after the next refresh of the context model, which the cron runs every ${CONTEXT_REFRESH_MINUTES} minutes.`
            : `Nothing observed yet: the numbers fill in as decisions made with a context get their rewards, and predictions appear after the first refresh of the context model that has some (the cron runs it every ${CONTEXT_REFRESH_MINUTES} minutes).`,
        )
      : h(
          "p",
          { class: "muted", id: "context-model" },
          `Model fitted ${when(context.model_computed_at)} · agent type ${context.agent_type} · ${context.rewarded} rewarded decisions in the last 30 days.`,
        ),
    context.features.map((feature) => contextFeature(feature, armIds)),
  );
}

async function systemPage(name) {
  const path = `/v1/systems/${encodeURIComponent(name)}`;
  const [s, timeline] = await load(Promise.all([api(`${path}/summary`), api(`${path}/timeline?hours=${TIMELINE_HOURS}`)]));
  const shareChart = h("div", { id: "share-chart" });
  const rateChart = h("div", { id: "reward-rate-chart" });
  show(
    h("div", { class: "head" }, h("h1", {}, s.system), h("span", { class: "muted" }, `agent type ${s.agent_type} · version ${s.version}`)),
    h(
      "div",
      { class: "cards" },
      h(
        "div",
        { class: "card wide" },
        h("h2", {}, "Arms, across all users"),
        h(
          "table",
          { id: "arms" },
          h(
            "tr",
            {},
            h("th", {}, "arm"),
            h("th", {}, "params"),
            h("th", { class: "num" }, "pulls"),
            h("th", { class: "num" }, "mean"),
            h("th", {}, "95% interval"),
            h("th", { class: "num" }, "P(best)"),
            h("th", {}, "from run"),
          ),
          s.arms.map((a) =>
            h(
              "tr",
              {},
              h("td", {}, a.arm_id),
              h("td", {}, armParams(a.arm_id, a.params)),
              h("td", { class: "num" }, String(a.pulls)),
              h("td", { class: "num" }, fmt(a.mean, 3)),
              h("td", {}, interval(a)),
              h("td", { class: "num" }, `${(a.probability_best * 100).toFixed(1)}%`),
              h("td", {}, a.source ? h("a", { href: `#/runs/${encodeURIComponent(a.source.run_id)}` }, a.source.run_id) : "–"),
            ),
          ),
        ),
      ),
      s.context
        ? contextCard(
            s.context,
            s.arms.map((a) => a.arm_id),
          )
        : null,
      h(
        "div",
        { class: "card wide", id: "over-time" },
        h("h2", {}, "Over time"),
        h(
          "p",
          { class: "muted" },
          "Hourly over the last 7 days (UTC), every user and agent type. Left: each arm's share of that hour's selections, so a promotion or a shift of traffic shows when it happened. Right: each arm's mean reward over the selections made that hour that got one; a gap is an hour where it got none.",
        ),
        h("div", { class: "time-charts" }, shareChart, rateChart),
      ),
      h(
        "div",
        { class: "card" },
        h("h2", {}, "Recent decisions"),
        s.recent_decisions.length === 0
          ? h("p", { class: "muted" }, "None logged yet (the log reaches D1 a few seconds after each decision).")
          : h(
              "table",
              { id: "decisions" },
              h(
                "tr",
                {},
                ["when", "user", "arm", "P(chosen)", "reward"].map((t) => h("th", {}, t)),
              ),
              s.recent_decisions.map((d) =>
                h(
                  "tr",
                  {},
                  h("td", {}, when(d.created_at)),
                  h("td", {}, d.user_id),
                  h("td", {}, d.arm_id),
                  h("td", {}, fmt(d.selection_probability, 3)),
                  h("td", {}, fmt(d.reward, 2)),
                ),
              ),
            ),
      ),
      h(
        "div",
        { class: "card" },
        h("h2", {}, "Its runs (scheduled, and those its arms came from)"),
        s.run_ids.length === 0
          ? h("p", { class: "muted" }, "–")
          : h(
              "ul",
              {},
              s.run_ids.map((id) => h("li", {}, h("a", { href: `#/runs/${encodeURIComponent(id)}` }, id))),
            ),
      ),
    ),
  );
  // Side by side when the card has room for two (the gap between them left out), else one above the other.
  const room = shareChart.parentElement.clientWidth;
  const width = room >= 2 * 320 + 12 ? Math.min(560, Math.floor((room - 12) / 2)) : roomIn(shareChart.parentElement, 560);
  const series = timeSeries(timeline);
  const percent = (v) => `${Math.round(v * 100)}%`;
  hourChart(shareChart, "Share of selections", "share", percent, timeline.arms, series.x, series.share, width);
  hourChart(rateChart, "Reward rate", "mean reward", (v) => v.toFixed(2), timeline.arms, series.x, series.rate, width);
}

async function route() {
  navigation += 1;
  if (location.hash !== openedOn) {
    opened.clear();
    openedOn = location.hash;
  }
  clear();
  if (!sessionStorage.getItem(KEY)) return signIn();
  document.getElementById("nav").hidden = false;
  const [, page, id] = location.hash.match(/^#\/(\w+)(?:\/(.+))?$/) ?? [];
  try {
    if (page === "runs" && id) await runPage(decodeURIComponent(id));
    else if (page === "systems" && id) await systemPage(decodeURIComponent(id));
    else if (page === "systems") await systemsPage();
    else await runsPage();
  } catch (error) {
    if (error instanceof Stale) return;
    if (error instanceof SignedOut) return signIn("Your key was refused: sign in again.");
    if (error instanceof NeedsAdmin) return signIn(error.message);
    show(h("p", { class: "error" }, error.message));
  }
}

document.getElementById("sign-out").addEventListener("click", () => {
  sessionStorage.removeItem(KEY);
  signIn();
});
window.addEventListener("hashchange", route);
route();
