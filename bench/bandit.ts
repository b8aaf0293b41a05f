/**
 * npm run bench:bandit
 *
 * Simulated regret of the runtime policy (the project's default: Thompson sampling over src/bandit/posterior.ts'
 * posteriors, chosen by src/bandit/thompson.ts) beside textbook Beta-Bernoulli Thompson sampling, in one run:
 *
 * 1. Bernoulli instances, T = 10,000, 200 replications: cumulative (pseudo-)regret, the Lai-Robbins lower
 *    bound, and the share of replications whose most-pulled arm over the last 1,000 steps is not the best
 *    ("locked"); the seed's stability option on K = 3 for comparison.
 * 2. Fractional rewards Beta(10 μ, 10 (1 − μ)), μ = 0.6 / 0.55 / 0.5.
 * 3. Many users: 1,000 users x 20 interactions, 5 arms with shared means plus per-user offsets N(0, 0.03), and a
 *    heterogeneous variant (half of the users have the means in reverse order), 100 replications: mean regret
 *    per user with independent per-user Thompson sampling, pooled priors of fixed size 10 and 100, the
 *    project's pooling (strength estimated from the population, src/bandit/pooling.ts), and one bandit shared by
 *    all users. Users arrive one after another; the population statistics are refreshed every 10 users, as the
 *    service's cron refreshes them from the decision log.
 *
 * Figures of a Python simulation of the same scenarios (issue 8) are printed as constants beside them.
 */
import { betaSample, type Uniform } from "../src/bandit/beta.js";
import { type ArmPopulation, addUser, type PriorStrength, pooledPrior } from "../src/bandit/pooling.js";
import { type ArmLearning, NO_DRIFT, NO_LEARNING, posteriorOf, recordReward, UNIFORM_PRIOR } from "../src/bandit/posterior.js";
import { chooseArm, type SelectableArm, type SelectionOptions } from "../src/bandit/thompson.js";
import { RuntimeConfigSchema, SelectionStrategySchema } from "../src/runtime/schema.js";
import { Rng } from "../src/search/rng.js";
import { table } from "./table.js";

const T = 10_000;
const REPLICATIONS = 200;
const LAST = 1_000;

const uniformOf = Rng.uniform;

/** The runtime's selection options for a config with no selection settings: what a system gets by default. */
function defaultOptions(random: Uniform): SelectionOptions {
  const config = RuntimeConfigSchema.parse({});
  return {
    strategy: config.selection_strategy,
    trafficFloor: config.traffic_floor,
    topTwo: config.selection_policy === "top_two" ? config.top_two_beta : null,
    leaderVarianceFloor: config.leader_variance_floor,
    random,
  };
}

interface Policy {
  choose(random: Uniform): number;
  learn(arm: number, reward: number): void;
}

/** Textbook Beta-Bernoulli Thompson sampling: Beta(1 + Σr, 1 + Σ(1 − r)), the argmax of one draw per arm. */
function textbook(k: number): Policy {
  const alpha = new Array<number>(k).fill(1);
  const beta = new Array<number>(k).fill(1);
  return {
    choose(random) {
      let best = 0;
      let bestValue = -1;
      for (let a = 0; a < k; a++) {
        const v = betaSample(alpha[a] as number, beta[a] as number, random);
        if (v > bestValue) {
          bestValue = v;
          best = a;
        }
      }
      return best;
    },
    learn(arm, reward) {
      alpha[arm] = (alpha[arm] as number) + reward;
      beta[arm] = (beta[arm] as number) + 1 - reward;
    },
  };
}

/** The project's policy, as the runtime runs it: learning, posterior, then the selection rule. */
function project(
  k: number,
  options: (random: Uniform) => SelectionOptions,
  priors?: () => { alpha: number; beta: number }[],
): Policy & {
  learning: ArmLearning[];
} {
  const learning: ArmLearning[] = Array.from({ length: k }, () => ({ ...NO_LEARNING }));
  let step = 0;
  return {
    learning,
    choose(random) {
      const prior = priors?.();
      const arms: SelectableArm[] = learning.map((l, a) => {
        const { alpha, beta } = posteriorOf(l, prior?.[a] ?? UNIFORM_PRIOR);
        return { arm_id: String(a), alpha, beta, total_pulls: l.n, mean_estimate: l.n > 0 ? alpha / (alpha + beta) : null };
      });
      return chooseArm(arms, options(random)).index;
    },
    learn(arm, reward) {
      learning[arm] = recordReward(learning[arm] as ArmLearning, reward, step, NO_DRIFT);
      step += 1;
    },
  };
}

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
function play(policy: Policy, means: readonly number[], seed: number, reward: (arm: number, random: Uniform) => number): Outcome {
  const decide = uniformOf(seed);
  const environment = uniformOf(seed + 1_000_003);
  const best = Math.max(...means);
  const lastPulls = new Array<number>(means.length).fill(0);
  let regret = 0;
  for (let t = 0; t < T; t++) {
    const arm = policy.choose(decide);
    regret += best - (means[arm] as number);
    if (t >= T - LAST) lastPulls[arm] = (lastPulls[arm] as number) + 1;
    policy.learn(arm, reward(arm, environment));
  }
  const mostPulled = lastPulls.indexOf(Math.max(...lastPulls));
  return { regret, locked: means[mostPulled] !== best };
}

function summarize(outcomes: Outcome[]) {
  return {
    regret: outcomes.reduce((a, o) => a + o.regret, 0) / outcomes.length,
    locked: outcomes.filter((o) => o.locked).length / outcomes.length,
  };
}

const bernoulli = (means: readonly number[]) => (arm: number, random: Uniform) => (random() < (means[arm] as number) ? 1 : 0);

/** Beta(10 μ, 10 (1 − μ)) rewards, by inversion-free gamma draws from the same environment stream. */
const betaRewards = (means: readonly number[]) => (arm: number, random: Uniform) =>
  betaSample(10 * (means[arm] as number), 10 * (1 - (means[arm] as number)), random);

function bernoulliInstances(): void {
  const seeds = Array.from({ length: REPLICATIONS }, (_, i) => 7919 * (i + 1));
  const instances = [
    { name: "K = 10, best 0.5, others 0.4", means: [0.5, ...new Array(9).fill(0.4)], python: 175 },
    { name: "K = 10, best 0.5, others 0.48", means: [0.5, ...new Array(9).fill(0.48)], python: 153 },
    { name: "K = 3, 0.2 / 0.25 / 0.3", means: [0.2, 0.25, 0.3], python: 41 },
  ];
  const rows: (string | number)[][] = [
    ["instance", "Lai-Robbins", "textbook TS", "default policy", "ratio", "locked (textbook / default)", "Python textbook TS"],
  ];
  for (const { name, means, python } of instances) {
    const reward = bernoulli(means);
    const base = summarize(seeds.map((seed) => play(textbook(means.length), means, seed, reward)));
    const ours = summarize(seeds.map((seed) => play(project(means.length, defaultOptions), means, seed, reward)));
    rows.push([
      name,
      laiRobbins(means, T).toFixed(1),
      base.regret.toFixed(1),
      ours.regret.toFixed(1),
      (ours.regret / base.regret).toFixed(3),
      `${(base.locked * 100).toFixed(1)}% / ${(ours.locked * 100).toFixed(1)}%`,
      python,
    ]);
  }
  // The seed's stability option, for comparison (issue 8: it locks onto a wrong arm in 25% of K = 3 runs).
  const means = [0.2, 0.25, 0.3];
  const stability = SelectionStrategySchema.parse({});
  const seedRule = summarize(
    seeds.map((seed) =>
      play(
        project(3, (random) => ({ strategy: stability, trafficFloor: 0, random })),
        means,
        seed,
        bernoulli(means),
      ),
    ),
  );
  rows.push([
    "K = 3 with the seed's stability option",
    laiRobbins(means, T).toFixed(1),
    "",
    seedRule.regret.toFixed(1),
    "",
    `locked ${(seedRule.locked * 100).toFixed(1)}%`,
    "143 (25% locked)",
  ]);

  const fractional = [0.6, 0.55, 0.5];
  const reward = betaRewards(fractional);
  const base = summarize(seeds.map((seed) => play(textbook(3), fractional, seed, reward)));
  const ours = summarize(seeds.map((seed) => play(project(3, defaultOptions), fractional, seed, reward)));
  rows.push([
    "fractional Beta(10μ, 10(1-μ)), 0.6 / 0.55 / 0.5",
    "",
    base.regret.toFixed(1),
    ours.regret.toFixed(1),
    (ours.regret / base.regret).toFixed(3),
    `${(base.locked * 100).toFixed(1)}% / ${(ours.locked * 100).toFixed(1)}%`,
    45,
  ]);
  console.log(`Cumulative regret at T = ${T.toLocaleString("en")}, mean of ${REPLICATIONS} replications`);
  console.log("(locked: the most-pulled arm of the last 1,000 steps is not the best; ratio: default / textbook)\n");
  console.log(table(rows));
}

/** How users share what they learn in the many-users scenario. */
type Sharing = { kind: "textbook" } | { kind: "independent" } | { kind: "pooled"; strength: PriorStrength } | { kind: "shared" };

const USERS = 1_000;
const INTERACTIONS = 20;
const SHARED_MEANS = [0.3, 0.35, 0.4, 0.45, 0.55];
const REFRESH_EVERY_USERS = 10;

/** Mean regret per user of one replication. */
function manyUsers(sharing: Sharing, heterogeneous: boolean, seed: number): number {
  const k = SHARED_MEANS.length;
  const people = Rng.fromSeed(seed);
  const decide = uniformOf(seed + 17);
  const environment = uniformOf(seed + 31);
  // Every finished user's rewards, per arm; what the priors see is a copy taken at each refresh.
  const accumulated: (ArmPopulation | undefined)[] = new Array(k).fill(undefined);
  let population: (ArmPopulation | undefined)[] = [...accumulated];
  const shared = sharing.kind === "shared" ? project(k, defaultOptions) : null;
  let total = 0;
  for (let u = 0; u < USERS; u++) {
    if (sharing.kind === "pooled" && u % REFRESH_EVERY_USERS === 0) {
      population = [...accumulated];
    }
    const order = heterogeneous && u % 2 === 1 ? [...SHARED_MEANS].reverse() : SHARED_MEANS;
    const means = order.map((m) => Math.min(1, Math.max(0, m + 0.03 * people.normal())));
    const best = Math.max(...means);
    const priors =
      sharing.kind === "pooled"
        ? (() => {
            const fixed = population.map((p) => pooledPrior(p, sharing.strength));
            return () => fixed;
          })()
        : undefined;
    const own = sharing.kind === "textbook" ? null : project(k, defaultOptions, priors);
    const policy = shared ?? own ?? textbook(k);
    for (let t = 0; t < INTERACTIONS; t++) {
      const arm = policy.choose(decide);
      total += best - (means[arm] as number);
      policy.learn(arm, environment() < (means[arm] as number) ? 1 : 0);
    }
    if (!shared && own) {
      own.learning.forEach((learning, a) => {
        accumulated[a] = addUser(accumulated[a], learning);
      });
    }
  }
  return total / USERS;
}

function manyUsersTable(): void {
  const replications = 100;
  const seeds = Array.from({ length: replications }, (_, i) => 104_729 * (i + 1));
  const mean = (sharing: Sharing, heterogeneous: boolean) =>
    seeds.reduce((a, seed) => a + manyUsers(sharing, heterogeneous, seed), 0) / replications;
  const variants: { name: string; sharing: Sharing; python: string }[] = [
    { name: "independent per-user TS (textbook)", sharing: { kind: "textbook" }, python: "2.46" },
    { name: "independent, default policy without pooling", sharing: { kind: "independent" }, python: "" },
    { name: "pooled prior, fixed size 10", sharing: { kind: "pooled", strength: 10 }, python: "1.35" },
    { name: "pooled prior, fixed size 100", sharing: { kind: "pooled", strength: 100 }, python: "0.23" },
    { name: "pooling: auto (the project's default)", sharing: { kind: "pooled", strength: "auto" }, python: "" },
    { name: "one bandit shared by all users", sharing: { kind: "shared" }, python: "0.067" },
  ];
  const rows: (string | number)[][] = [["sharing", "shared means", "heterogeneous (half reversed)", "Python (shared means)"]];
  const results = variants.map((v) => ({ ...v, same: mean(v.sharing, false), mixed: mean(v.sharing, true) }));
  for (const r of results) rows.push([r.name, r.same.toFixed(3), r.mixed.toFixed(3), r.python]);
  const independent = results[0] as (typeof results)[0];
  const auto = results[4] as (typeof results)[0];
  console.log(
    `\nMany users: ${USERS.toLocaleString("en")} users x ${INTERACTIONS} interactions, 5 arms (${SHARED_MEANS.join(" / ")}) + N(0, 0.03) per user,`,
  );
  console.log(`mean regret per user over ${replications} replications; population refreshed every ${REFRESH_EVERY_USERS} users\n`);
  console.log(table(rows));
  console.log(
    `\npooling auto vs independent textbook TS, heterogeneous: ${((auto.mixed / independent.mixed - 1) * 100).toFixed(1)}% (${auto.mixed.toFixed(3)} vs ${independent.mixed.toFixed(3)})`,
  );
}

const started = performance.now();
bernoulliInstances();
manyUsersTable();
console.log(`\n${((performance.now() - started) / 1000).toFixed(1)} s`);
