import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call } from "./helpers";

const yaml = { "content-type": "application/yaml" };
const json = { "content-type": "application/json" };
async function probe(name: string, method: string, path: string, body: string, headers: Record<string, string>) {
  const count = async (t: string) => (await env.DB.prepare(`SELECT COUNT(*) AS n FROM ${t}`).first<{ n: number }>())?.n ?? 0;
  const before = await count("runs");
  const s = Date.now();
  const r = await call(method, path, body, headers);
  const text = await r.text();
  const after = await count("runs");
  console.log(`PROBE ${name}: bytes=${body.length} status=${r.status} ms=${Date.now() - s} runs+${after - before} body=${text.slice(0, 260)}`);
  return r.status;
}
const head = `api: {name: probe, mock_mode: true}
search_space: {parameters: {t: {type: float, min: 0, max: 1}}}
evaluation: {test_cases: {inline: [{id: a, input: {prompt: hi}}]}, metrics: {quality: {type: llm_judge, weight: 1}}}
optimization: {seed: 1, algorithm: random, evolution: {population_size: 2, generations: 1}}
`;
describe("review probes", () => {
  it("yaml deep flow maps", async () => {
    await probe("yaml {a: x65536", "POST", "/v1/runs", "{a: ".repeat(65536), yaml);
    await probe("yaml {a: x262000", "POST", "/v1/runs", "{a: ".repeat(262000), yaml);
  }, 120_000);
  it("yaml deep flow seq", async () => {
    await probe("yaml [ x1000000", "POST", "/v1/runs", "[".repeat(1_000_000), yaml);
  }, 120_000);
  it("unbounded body on ping / unknown path", async () => {
    const big = `{"a":"${"x".repeat(8 * 1024 * 1024)}"}`;
    await probe("POST /v1/ping 8MiB json", "POST", "/v1/ping", big, json);
    await probe("POST /v1/nope 8MiB json", "POST", "/v1/nope", big, json);
    await probe("DELETE /v1/runs/abc 8MiB json", "DELETE", "/v1/runs/abc", big, json);
    await probe("POST /v1/keys 300KiB", "POST", "/v1/keys", `{"scope":"admin","name":"${"x".repeat(300 * 1024)}"}`, json);
  }, 120_000);
  it("yaml expansions past the stored row", async () => {
    const emoji = "😀".repeat(5000); // measured 10002, UTF-8 20000 bytes
    await probe("emoji aliases", "POST", "/v1/runs", `${head}s: &s "${emoji}"\npad: [${Array(99).fill("*s").join(", ")}]\n`, yaml);
    const ctl = "\\x01".repeat(10000); // measured 10002, JSON 60002
    await probe("ctl aliases", "POST", "/v1/runs", `${head}s: &s "${ctl}"\npad: [${Array(99).fill("*s").join(", ")}]\n`, yaml);
    const b64 = btoa(String.fromCharCode(...new Uint8Array(3000))).repeat(160); // 480000 zero bytes
    await probe("binary", "POST", "/v1/runs", `${head}society: !!binary ${b64}\n`, yaml);
  }, 120_000);
});
