/**
 * `convergence runtime evaluate` as a user runs it (bin/convergence.js), against a loopback stand-in for the
 * service: what it sends, what it prints, and how it refuses bad usage and bad policy files.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PolicyEvaluation } from "../../src/bandit/offline.js";
import { runCli } from "../helpers/cli.js";
import { json, type Recorded, startServer } from "../helpers/server.js";
import { tempDir } from "../helpers/temp.js";

const cli = runCli;

const ANSWER: PolicyEvaluation = {
  system: "shop",
  agent_type: null,
  window: { oldest: "2026-11-01T00:00:00.000Z", newest: "2026-11-02T00:00:00.000Z" },
  policy: { type: "static", weights: { high: 1 } },
  confidence: 0.95,
  decisions: 120,
  n: 100,
  skipped: {
    no_reward: 0,
    no_probability: 0,
    zero_probability: 0,
    no_snapshot: 20,
    arm_not_in_snapshot: 0,
    policy_has_no_arm: 0,
    no_matching_rule: 0,
  },
  ips: { value: 0.61, standard_error: 0.05, interval: { lower: 0.512, upper: 0.708 } },
  snips: { value: 0.6, standard_error: 0.04, interval: { lower: 0.5216, upper: 0.6784 } },
  dr: { value: 0.605, standard_error: 0.03, interval: { lower: 0.5462, upper: 0.6638 } },
  outcome_model:
    "each arm's mean reward (no context features), per agent type; each half of the decisions predicted from the other half's rewards",
  logging_policy: { value: 0.55, standard_error: 0.05, interval: { lower: 0.452, upper: 0.648 } },
  effective_sample_size: 41.2,
  max_weight: 4.5,
  warnings: [],
};

let service: Awaited<ReturnType<typeof startServer>>;
const dir = tempDir("cli-evaluate");
const file = (name: string, text: string) => {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
};

beforeAll(async () => {
  service = await startServer((request: Recorded, response) => {
    if (request.url === "/v1/systems/shop/evaluate") json(response, 200, ANSWER);
    else json(response, 404, { error: { code: "unknown_system", message: "no system named 'nowhere'" } });
  });
});

afterAll(async () => {
  await service.close();
});

describe("convergence runtime evaluate", () => {
  it("sends the policy file's policy and prints the estimates", async () => {
    const policy = file("always-high.yaml", "type: static\nweights:\n  high: 1\n");
    const run = await cli(["runtime", "evaluate", "--system", "shop", "--policy", policy, "--limit", "500", "--server", service.url]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const request = service.requests.at(-1) as Recorded;
    expect(request.method).toBe("POST");
    expect(request.headers.authorization).toBe("Bearer cli-key");
    expect(JSON.parse(request.body)).toEqual({ policy: { type: "static", weights: { high: 1 } }, limit: 500 });
    expect(run.stdout).toContain("system shop, all agent types: 100 of 120 rewarded decisions used");
    expect(run.stdout).toContain("skipped 20 without the arms' snapshot");
    expect(run.stdout).toMatch(/IPS\s+0\.6100\s+0\.5120 to 0\.7080/);
    expect(run.stdout).toMatch(/SNIPS\s+0\.6000\s+0\.5216 to 0\.6784/);
    expect(run.stdout).toMatch(/DR\s+0\.6050\s+0\.5462 to 0\.6638/);
    expect(run.stdout).toContain("DR's outcome model: each arm's mean reward (no context features)");
    expect(run.stdout).toMatch(/logging policy\s+0\.5500/);
    expect(run.stdout).toContain("effective sample size 41.2, largest weight 4.500");

    const asJson = await cli([
      "runtime",
      "evaluate",
      "shop",
      "--policy",
      file("greedy.json", '{"type": "greedy"}'),
      "--json",
      "--server",
      service.url,
    ]);
    expect(asJson.code).toBe(0);
    expect(JSON.parse(asJson.stdout)).toEqual(ANSWER);
    expect(JSON.parse((service.requests.at(-1) as Recorded).body)).toEqual({ policy: { type: "greedy" } });

    // SYSTEM POLICY_FILE, positionally: a rule on the context.
    const rule = file("rule.yaml", "type: rule\nrules:\n  - when: {page: search}\n    arm: high\notherwise: low\n");
    const positional = await cli(["runtime", "evaluate", "shop", rule, "--server", service.url]);
    expect(positional.stderr).toBe("");
    expect(positional.code).toBe(0);
    expect(JSON.parse((service.requests.at(-1) as Recorded).body)).toEqual({
      policy: { type: "rule", rules: [{ when: { page: "search" }, arm: "high" }], otherwise: "low" },
    });
  });

  it("refuses a bad policy file with exit 2 and the field's name, without calling the service", async () => {
    const before = service.requests.length;
    const cases: [string, string, RegExp][] = [
      ["zero.yaml", "type: static\nweights: {a: 0}\n", /invalid policy\n {2}weights: at least one arm needs a weight above 0/],
      ["floor.yaml", "type: thompson\ntraffic_floor: 2\n", /traffic_floor: Too big: expected number to be <=1/],
      ["typo.yaml", "type: thompsen\n", /type: expected 'static', 'greedy', 'thompson', 'rule' or 'contextual'/],
      ["rule.yaml", "type: rule\nrules:\n  - when: page\n    arm: a\n", /rules\[0\]\.when: Invalid input: expected record/],
      ["broken.json", '{"type": ', /broken\.json is not valid JSON/],
      ["broken.yaml", "type: [static\n", /broken\.yaml is not valid YAML at line \d+/],
    ];
    for (const [name, text, message] of cases) {
      const run = await cli(["runtime", "evaluate", "--system", "shop", "--policy", file(name, text), "--server", service.url]);
      expect(run.code, name).toBe(2);
      expect(run.stderr).toMatch(message);
      expect(run.stderr).not.toMatch(/\n\s+at /);
    }
    expect(service.requests.length).toBe(before);
  });

  it("refuses bad usage with exit 2, and reports the service's refusal", async () => {
    const policy = file("ok.yaml", "type: greedy\n");
    const usage: [string[], RegExp][] = [
      [["--policy", policy], /runtime evaluate needs --system S/],
      [["--system", "shop"], /runtime evaluate needs --policy FILE/],
      [["--system", "shop", "--policy", join(dir, "missing.yaml")], /policy file not found: .*missing\.yaml/],
      [["--system", "shop", "--policy", policy, "--limit", "lots"], /--limit must be a whole number, got 'lots'/],
      [["--system", "shop", "--policy", policy, "--limit", "60000"], /--limit 60000: Too big: expected number to be <=20000/],
      [["other", "--system", "shop", "--policy", policy], /two systems: 'other' and --system 'shop'/],
      [["shop", policy, "--policy", join(dir, "other.yaml")], /two policy files: '.*ok\.yaml' and --policy '.*other\.yaml'/],
    ];
    for (const [args, message] of usage) {
      const run = await cli(["runtime", "evaluate", ...args, "--server", service.url]);
      expect(run.code, args.join(" ")).toBe(2);
      expect(run.stderr).toMatch(message);
    }
    const unknown = await cli(["runtime", "evaluate", "--system", "nowhere", "--policy", policy, "--server", service.url]);
    expect(unknown).toMatchObject({ code: 2, stdout: "" });
    expect(unknown.stderr).toBe("convergence: no system named 'nowhere'\n");
  });
});
