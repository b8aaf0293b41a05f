import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ATTACK_SECRET, attacks } from "../helpers/attacks";
import { call } from "./helpers";

// The deployment holds a secret worth stealing; RUN_SECRET_NAMES is unset, so no run may name it.
const deployment = { [ATTACK_SECRET.name]: ATTACK_SECRET.value };

async function written(): Promise<{ runs: number; systems: number; decisions: number }> {
  const count = async (table: string) => (await env.DB.prepare(`SELECT COUNT(*) AS n FROM ${table}`).first<{ n: number }>())?.n ?? 0;
  return { runs: await count("runs"), systems: await count("systems"), decisions: await count("decisions") };
}

describe("a hostile key holder", () => {
  it.each(attacks("http://convergence.test").map((a) => [a.name, a] as const))("cannot %s", async (_name, attack) => {
    const before = await written();
    const [response, health] = await Promise.all([
      call(attack.method, attack.path, attack.body, attack.headers, deployment),
      call("GET", "/healthz"),
    ]);
    expect(health.status).toBe(200);
    const text = await response.text();
    expect(response.status, text.slice(0, 300)).toBeGreaterThanOrEqual(400);
    expect(response.status, text.slice(0, 300)).toBeLessThan(500);
    const error = (JSON.parse(text) as { error: { code: string; message: string } }).error;
    expect(error.code).toMatch(/^[a-z_]+$/);
    expect(error.message.length).toBeGreaterThan(10);
    expect(text).not.toContain(ATTACK_SECRET.value);
    expect(await written()).toEqual(before);
  });
});
