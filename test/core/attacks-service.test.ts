/**
 * The attacks of test/helpers/attacks.ts against the local service (`npm start`), timed from outside as a client
 * sees them: each refused with a 4xx in the error format within 2 s, /healthz answering within 1 s meanwhile, and
 * nothing written.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalService, startLocalService } from "../../bench/service.js";
import { ATTACK_SECRET, attacks } from "../helpers/attacks.js";

let service: LocalService;

beforeAll(async () => {
  // A secret worth stealing; RUN_SECRET_NAMES is unset, so no run may name it.
  service = await startLocalService({ vars: [`${ATTACK_SECRET.name}:${ATTACK_SECRET.value}`] });
}, 90_000);

afterAll(async () => {
  await service?.stop();
});

async function timed(path: string, init: RequestInit = {}): Promise<{ response: Response; text: string; ms: number }> {
  const started = performance.now();
  const response = await fetch(`${service.url}${path}`, init);
  const text = await response.text();
  return { response, text, ms: performance.now() - started };
}

async function written(): Promise<string> {
  const headers = { authorization: `Bearer ${service.key}` };
  const runs = await (await fetch(`${service.url}/v1/runs?limit=200`, { headers })).json();
  const systems = await (await fetch(`${service.url}/v1/systems`, { headers })).json();
  return JSON.stringify({ runs, systems });
}

describe("a hostile key holder, against npm start", () => {
  it("is refused every attack with a 4xx within 2 s, while /healthz answers within 1 s, and nothing is written", async () => {
    const before = await written();
    const figures: string[] = [];
    for (const attack of attacks(service.url)) {
      const attempt = timed(attack.path, {
        method: attack.method,
        headers: { authorization: `Bearer ${service.key}`, ...attack.headers },
        body: attack.body,
      });
      const health = await timed("/healthz");
      const { response, text, ms } = await attempt;
      figures.push(`${attack.name}: ${response.status} in ${ms.toFixed(0)} ms, /healthz ${health.ms.toFixed(0)} ms`);
      expect(health.response.status, attack.name).toBe(200);
      expect(health.ms, attack.name).toBeLessThan(1000);
      expect(response.status, `${attack.name}: ${text.slice(0, 300)}`).toBeGreaterThanOrEqual(400);
      expect(response.status, attack.name).toBeLessThan(500);
      expect(ms, attack.name).toBeLessThan(2000);
      const error = (JSON.parse(text) as { error: { code: string; message: string } }).error;
      expect(error.code, attack.name).toMatch(/^[a-z_]+$/);
      expect(text).not.toContain(ATTACK_SECRET.value);
    }
    console.log(figures.join("\n"));
    expect(await written()).toBe(before);
  }, 120_000);
});
