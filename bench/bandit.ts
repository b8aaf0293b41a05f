/**
 * npm run bench:bandit [-- replications]
 *
 * Simulated regret of the runtime as an app runs it in process (a RuntimeManager over MemoryRuntimeStorage: its
 * posteriors, pooled priors and selection, each select logging its probability) beside textbook Beta-Bernoulli
 * Thompson sampling, in one run:
 *
 * 1. Bernoulli instances, T = 10,000: cumulative (pseudo-)regret, the Lai-Robbins lower bound, and the share of
 *    replications whose most-pulled arm over the last 1,000 steps is not the best ("locked"); the seed's
 *    stability option on K = 3 for comparison.
 * 2. Fractional rewards Beta(10 μ, 10 (1 − μ)), μ = 0.6 / 0.55 / 0.5.
 * 3. Many users: 1,000 users x 20 interactions, 5 arms with shared means plus per-user offsets N(0, 0.03), and a
 *    heterogeneous variant (half of the users have the means in reverse order): mean regret per user with
 *    independent per-user Thompson sampling, the runtime without pooling, with pooled priors of fixed size 10
 *    and 100, with the project's pooling (strength estimated from the population, src/bandit/pooling.ts), and
 *    one runtime user shared by all users. Users arrive one after another; the runtime refreshes the population
 *    itself every 50 updates, as in process.
 * 4. Context: 10,000 users, 100,000 interactions in random order, 5 arms, 3 features (page, device, query
 *    length) sent with every select. Where context matters the best arm depends on the page; where it is
 *    irrelevant the same arm is best everywhere. Total regret of textbook Thompson sampling, the default
 *    (context-free) runtime, and the runtime with selection_policy: contextual.
 *
 * The runtime costs about 0.1 ms (K = 3) to 0.3 ms (K = 10) per select and update, most of it the exact
 * selection probability every decision is logged with, so it runs fewer replications than the textbook policy
 * (REPLICATIONS, or the argument; ± is a standard error). Figures of a Python simulation of the same scenarios
 * (issue 8) are printed as constants beside them.
 */
import { betaSample, type Uniform } from "../src/bandit/beta.js";
import { RuntimeManager } from "../src/runtime/manager.js";
import { MemoryRuntimeStorage } from "../src/runtime/memory-storage.js";
import { type RuntimeConfigInput, RuntimeConfigSchema } from "../src/runtime/schema.js";
import { Rng } from "../src/search/rng.js";
import { table } from "./table.js";

const T = 10_000;
const TEXTBOOK_REPLICATIONS = 200;
/** The runtime's replications of parts 1 and 2; part 3 runs a quarter of them (each is 20,000 steps of 1,000 users). */
const REPLICATIONS = Number(process.argv[2] ?? 20);
const LAST = 1_000;

const uniformOf = Rng.uniform;

interface Policy {
  /** The arm `user` gets now, in this request's context. */
  choose(user: string, context?: Record<string, string | number>): Promise<number> | number;
  /** The reward of the arm `user` got last. */
  learn(user: string, reward: number): Promise<void> | void;
}

/** Textbook Beta-Bernoulli Thompson sampling per user: Beta(1 + Σr, 1 + Σ(1 − r)), the argmax of one draw per arm. */
function textbook(k: number, random: Uniform): Policy {
  const users = new Map<string, { alpha: number[]; beta: number[]; last: number }>();
  const of = (user: string) => {
    let state = users.get(user);
    if (!state) {
      state = { alpha: new Array<number>(k).fill(1), beta: new Array<number>(k).fill(1), last: 0 };
      users.set(user, state);
    }
    return state;
  };
  return {
    choose(user) {
      const state = of(user);
      let best = 0;
      let bestValue = -1;
      for (let a = 0; a < k; a++) {
        const v = betaSample(state.alpha[a] as number, state.beta[a] as number, random);
        if (v > bestValue) {
          bestValue = v;
          best = a;
        }
      }
      state.last = best;
      return best;
    },
    learn(user, reward) {
      const state = of(user);
      state.alpha[state.last] = (state.alpha[state.last] as number) + reward;
      state.beta[state.last] = (state.beta[state.last] as number) + 1 - reward;
    },
  };
}

/** The runtime itself, with these settings: arm a is `arm_{a}`, every select a decision that the update rewards. */
function runtime(k: number, settings: RuntimeConfigInput, random: Uniform): Policy {
  const ids = Array.from({ length: k }, (_, a) => `arm_${a}`);
  const config = RuntimeConfigSchema.parse({ ...settings, default_arms: ids.map((arm_id) => ({ arm_id })) });
  const manager = new RuntimeManager("bench", config, new MemoryRuntimeStorage(), { random });
  const decisions = new Map<string, string>();
  return {
    async choose(user, context) {
      const selection = await manager.select({ user_id: user, ...(context ? { context } : {}) });
      decisions.set(user, selection.decision_id as string);
      return ids.indexOf(selection.arm_id);
    },
    async learn(user, reward) {
      await manager.update({ user_id: user, decision_id: decisions.get(user) as string, reward });
    },
  };
}

/** A policy for one replication, drawing its choices from `random`. */
type PolicyOf = (k: number, random: Uniform) => Policy;

const DEFAULT: RuntimeConfigInput = {};
/** The seed's stability option, without this project's leader variance floor. */
const SEED_STABILITY: RuntimeConfigInput = { selection_strategy: {}, leader_variance_floor: false };
const withSettings =
  (settings: RuntimeConfigInput): PolicyOf =>
  (k, random) =>
    runtime(k, settings, random);

const klBernoulli = (p: number, q: number) => p * Math.log(p / q) + (1 - p) * Math.log((1 - p) / (1 - q));

function laiRobbins(means: readonly number[], horizon: number): number {
  const best = Math.max(...means);
  return means.reduce((sum, m) => (m < best ? sum + ((best - m) / klBernoulli(m, best)) * Math.log(horizon) : sum), 0);
}

interface Outcome {
  regret: number;
  locked: boolean;
}

/** One replication: the policy against arms whose rewards `reward(arm, u)` draws from one uniform per step. */
async function play(
  policyOf: PolicyOf,
  means: readonly number[],
  seed: number,
  reward: (arm: number, random: Uniform) => number,
): Promise<Outcome> {
  const policy = policyOf(means.length, uniformOf(seed));
  const environment = uniformOf(seed + 1_000_003);
  const best = Math.max(...means);
  const lastPulls = new Array<number>(means.length).fill(0);
  let regret = 0;
  for (let t = 0; t < T; t++) {
    const arm = await policy.choose("user");
    regret += best - (means[arm] as number);
    if (t >= T - LAST) lastPulls[arm] = (lastPulls[arm] as number) + 1;
    await policy.learn("user", reward(arm, environment));
  }
  const mostPulled = lastPulls.indexOf(Math.max(...lastPulls));
  return { regret, locked: means[mostPulled] !== best };
}

interface Summary {
  regret: number;
  /** The standard error of the mean regret. */
  se: number;
  locked: number;
}

async function replicate(replications: number, seedOf: (i: number) => number, run: (seed: number) => Promise<Outcome>): Promise<Summary> {
  const outcomes: Outcome[] = [];
  for (let i = 0; i < replications; i++) outcomes.push(await run(seedOf(i)));
  const n = outcomes.length;
  const regret = outcomes.reduce((a, o) => a + o.regret, 0) / n;
  const variance = outcomes.reduce((a, o) => a + (o.regret - regret) ** 2, 0) / Math.max(1, n - 1);
  return { regret, se: Math.sqrt(variance / n), locked: outcomes.filter((o) => o.locked).length / n };
}

const bernoulli = (means: readonly number[]) => (arm: number, random: Uniform) => (random() < (means[arm] as number) ? 1 : 0);

/** Beta(10 μ, 10 (1 − μ)) rewards, by inversion-free gamma draws from the same environment stream. */
const betaRewards = (means: readonly number[]) => (arm: number, random: Uniform) =>
  betaSample(10 * (means[arm] as number), 10 * (1 - (means[arm] as number)), random);

const withSe = (s: Summary) => `${s.regret.toFixed(1)} ± ${s.se.toFixed(1)}`;
const percent = (x: number) => `${(x * 100).toFixed(1)}%`;

async function bernoulliInstances(): Promise<void> {
  const seedOf = (i: number) => 7919 * (i + 1);
  const instances = [
    { name: "K = 10, best 0.5, others 0.4", means: [0.5, ...new Array(9).fill(0.4)], reward: "bernoulli", python: "175" },
    { name: "K = 10, best 0.5, others 0.48", means: [0.5, ...new Array(9).fill(0.48)], reward: "bernoulli", python: "153" },
    { name: "K = 3, 0.2 / 0.25 / 0.3", means: [0.2, 0.25, 0.3], reward: "bernoulli", python: "41" },
    { name: "fractional Beta(10μ, 10(1-μ)), 0.6 / 0.55 / 0.5", means: [0.6, 0.55, 0.5], reward: "beta", python: "45" },
  ];
  const rows: (string | number)[][] = [
    ["instance", "Lai-Robbins", "textbook TS", "runtime (default)", "ratio", "locked (textbook / runtime)", "Python textbook TS"],
  ];
  for (const { name, means, reward: kind, python } of instances) {
    const reward = kind === "beta" ? betaRewards(means) : bernoulli(means);
    const base = await replicate(TEXTBOOK_REPLICATIONS, seedOf, (seed) => play(textbook, means, seed, reward));
    const ours = await replicate(REPLICATIONS, seedOf, (seed) => play(withSettings(DEFAULT), means, seed, reward));
    rows.push([
      name,
      kind === "beta" ? "" : laiRobbins(means, T).toFixed(1),
      withSe(base),
      withSe(ours),
      (ours.regret / base.regret).toFixed(3),
      `${percent(base.locked)} / ${percent(ours.locked)}`,
      python,
    ]);
  }
  // The seed's stability option, for comparison (issue 8: it locks onto a wrong arm in 25% of K = 3 runs).
  const means = [0.2, 0.25, 0.3];
  const seedRule = await replicate(REPLICATIONS, seedOf, (seed) => play(withSettings(SEED_STABILITY), means, seed, bernoulli(means)));
  rows.push([
    "K = 3, the runtime with the seed's stability option",
    laiRobbins(means, T).toFixed(1),
    "",
    withSe(seedRule),
    "",
    `locked ${percent(seedRule.locked)}`,
    "143 (25% locked)",
  ]);
  console.log(
    `Cumulative regret at T = ${T.toLocaleString("en")}, mean of ${TEXTBOOK_REPLICATIONS} replications (textbook) and ${REPLICATIONS} (runtime)`,
  );
  console.log("(locked: the most-pulled arm of the last 1,000 steps is not the best; ratio: runtime / textbook)\n");
  console.log(table(rows));
}

const USERS = 1_000;
const INTERACTIONS = 20;
const SHARED_MEANS = [0.3, 0.35, 0.4, 0.45, 0.55];

/** Mean regret per user of one replication; `shared`: every user is the runtime's one user. */
async function manyUsers(policyOf: PolicyOf, shared: boolean, heterogeneous: boolean, seed: number): Promise<number> {
  const k = SHARED_MEANS.length;
  const people = Rng.fromSeed(seed);
  const policy = policyOf(k, uniformOf(seed + 17));
  const environment = uniformOf(seed + 31);
  let total = 0;
  for (let u = 0; u < USERS; u++) {
    const user = shared ? "everyone" : `user_${u}`;
    const order = heterogeneous && u % 2 === 1 ? [...SHARED_MEANS].reverse() : SHARED_MEANS;
    const means = order.map((m) => Math.min(1, Math.max(0, m + 0.03 * people.normal())));
    const best = Math.max(...means);
    for (let t = 0; t < INTERACTIONS; t++) {
      const arm = await policy.choose(user);
      total += best - (means[arm] as number);
      await policy.learn(user, environment() < (means[arm] as number) ? 1 : 0);
    }
  }
  return total / USERS;
}

async function manyUsersTable(): Promise<void> {
  const replications = Math.max(2, Math.round(REPLICATIONS / 4));
  const seedOf = (i: number) => 104_729 * (i + 1);
  const mean = async (policyOf: PolicyOf, shared: boolean, heterogeneous: boolean) => {
    const values: number[] = [];
    for (let i = 0; i < replications; i++) values.push(await manyUsers(policyOf, shared, heterogeneous, seedOf(i)));
    const m = values.reduce((a, b) => a + b, 0) / values.length;
    const se = Math.sqrt(values.reduce((a, v) => a + (v - m) ** 2, 0) / (values.length - 1) / values.length);
    return { mean: m, se, text: `${m.toFixed(3)} ± ${se.toFixed(3)}` };
  };
  const variants: { name: string; policy: PolicyOf; shared?: boolean; python: string }[] = [
    { name: "independent per-user TS (textbook)", policy: textbook, python: "2.46" },
    { name: "runtime without pooling", policy: withSettings({ pooling: { enabled: false } }), python: "" },
    { name: "runtime, pooled prior of fixed size 10", policy: withSettings({ pooling: { prior_strength: 10 } }), python: "1.35" },
    { name: "runtime, pooled prior of fixed size 100", policy: withSettings({ pooling: { prior_strength: 100 } }), python: "0.23" },
    { name: "runtime, pooling auto (the default)", policy: withSettings(DEFAULT), python: "" },
    { name: "one runtime user shared by all users", policy: withSettings({ pooling: { enabled: false } }), shared: true, python: "0.067" },
  ];
  const rows: (string | number)[][] = [["sharing", "shared means", "heterogeneous (half reversed)", "Python (shared means)"]];
  const results: { name: string; same: Awaited<ReturnType<typeof mean>>; mixed: Awaited<ReturnType<typeof mean>>; python: string }[] = [];
  for (const v of variants) {
    const same = await mean(v.policy, v.shared ?? false, false);
    const mixed = await mean(v.policy, v.shared ?? false, true);
    results.push({ name: v.name, same, mixed, python: v.python });
  }
  for (const r of results) rows.push([r.name, r.same.text, r.mixed.text, r.python]);
  const independent = (results[0] as (typeof results)[0]).mixed.mean;
  const auto = (results[4] as (typeof results)[0]).mixed.mean;
  console.log(
    `\nMany users: ${USERS.toLocaleString("en")} users x ${INTERACTIONS} interactions, 5 arms (${SHARED_MEANS.join(" / ")}) + N(0, 0.03) per user,`,
  );
  console.log(`mean regret per user over ${replications} replications; the runtime refreshes the population every 50 updates\n`);
  console.log(table(rows));
  console.log(
    `\npooling auto vs independent textbook TS, heterogeneous: ${((auto / independent - 1) * 100).toFixed(1)}% (${auto.toFixed(3)} vs ${independent.toFixed(3)})`,
  );
}

const CONTEXT_USERS = 10_000;
const CONTEXT_INTERACTIONS = 100_000;
const PAGES = ["search", "chat", "home"] as const;
/** Mean reward of each arm on each page where context matters: a different arm is best on each page. */
const BY_PAGE: Record<(typeof PAGES)[number], number[]> = {
  search: [0.6, 0.4, 0.45, 0.35, 0.5],
  chat: [0.35, 0.62, 0.45, 0.4, 0.5],
  home: [0.4, 0.45, 0.5, 0.58, 0.48],
};
/** Where context is irrelevant: the same means on every page. */
const EVERYWHERE = [0.45, 0.5, 0.47, 0.44, 0.55];
const CONTEXT_FEATURES = {
  page: { type: "categorical", values: [...PAGES] },
  // No declared values: the model keeps the most frequent ones.
  device: { type: "categorical" },
  query_length: { type: "numeric", min: 0, max: 200 },
} as const;

/** Total regret of one replication: users in random order, each request with its page, device and query length. */
async function contextRun(policyOf: PolicyOf, contextMatters: boolean, seed: number): Promise<number> {
  const k = EVERYWHERE.length;
  const draws = Rng.fromSeed(seed);
  const policy = policyOf(k, uniformOf(seed + 17));
  const environment = uniformOf(seed + 31);
  // Each user's own offsets per arm, and device (fixed per user).
  const offsets = Array.from({ length: CONTEXT_USERS }, () => Array.from({ length: k }, () => 0.03 * draws.normal()));
  const devices = Array.from({ length: CONTEXT_USERS }, () => (draws.next() < 0.6 ? "mobile" : "desktop"));
  let regret = 0;
  for (let t = 0; t < CONTEXT_INTERACTIONS; t++) {
    const u = draws.int(CONTEXT_USERS);
    const page = PAGES[draws.int(PAGES.length)] as (typeof PAGES)[number];
    const queryLength = draws.int(200);
    const device = devices[u] as string;
    const base = contextMatters ? BY_PAGE[page] : EVERYWHERE;
    // Mobile users reward every arm a little less, long queries a little more: neither changes the best arm.
    const shift = (device === "mobile" ? -0.03 : 0) + 0.0002 * queryLength;
    const means = base.map((m, a) => Math.min(1, Math.max(0, m + shift + ((offsets[u] as number[])[a] as number))));
    const best = Math.max(...means);
    const arm = await policy.choose(`user_${u}`, { page, device, query_length: queryLength });
    regret += best - (means[arm] as number);
    await policy.learn(`user_${u}`, environment() < (means[arm] as number) ? 1 : 0);
  }
  return regret;
}

async function contextTable(): Promise<void> {
  const replications = Math.max(2, Math.round(REPLICATIONS / 5));
  const seedOf = (i: number) => 15_485_863 * (i + 1);
  const policies: { name: string; policy: PolicyOf }[] = [
    { name: "textbook TS (per user, no context)", policy: textbook },
    { name: "runtime, default (context-free)", policy: withSettings(DEFAULT) },
    {
      name: "runtime, selection_policy: contextual",
      policy: withSettings({ context_features: CONTEXT_FEATURES, selection_policy: "contextual" } as unknown as RuntimeConfigInput),
    },
  ];
  const summaries: { name: string; matters: Summary; irrelevant: Summary }[] = [];
  for (const { name, policy } of policies) {
    const run = (matters: boolean) =>
      replicate(replications, seedOf, async (seed) => ({ regret: await contextRun(policy, matters, seed), locked: false }));
    summaries.push({ name, matters: await run(true), irrelevant: await run(false) });
  }
  const rows: (string | number)[][] = [["policy", "context matters", "context irrelevant"]];
  for (const s of summaries) rows.push([s.name, withSe(s.matters), withSe(s.irrelevant)]);
  console.log(
    `\nContext: ${CONTEXT_USERS.toLocaleString("en")} users, ${CONTEXT_INTERACTIONS.toLocaleString("en")} interactions in random order, 5 arms, features page / device / query_length;`,
  );
  console.log(
    `total regret, mean of ${replications} replications; the runtime refreshes its population and context model every 50 updates\n`,
  );
  console.log(table(rows));
  const [, free, contextual] = summaries as [unknown, (typeof summaries)[0], (typeof summaries)[0]];
  const change = (a: Summary, b: Summary) => `${((a.regret / b.regret - 1) * 100).toFixed(1)}%`;
  console.log(
    `\ncontextual vs the context-free default: ${change(contextual.matters, free.matters)} regret where context matters, ${change(contextual.irrelevant, free.irrelevant)} where it is irrelevant`,
  );
}

const started = performance.now();
/** BANDIT_ONLY=instances|users|context runs one part. */
const only = process.env.BANDIT_ONLY;
if (!only || only === "instances") await bernoulliInstances();
if (!only || only === "users") await manyUsersTable();
if (!only || only === "context") await contextTable();
console.log(`\n${((performance.now() - started) / 1000).toFixed(1)} s`);
