/**
 * The attacks of test/helpers/attacks.ts against the local service (`npm start`): each refused with a 4xx in the
 * error format while /healthz still answers, and nothing written. How fast: `npm run bench:attacks` (no timed
 * assertions here: the machines are shared).
 */
import { describe, expect, it } from "vitest";
import { ATTACK_SECRET, attacks } from "../helpers/attacks.js";
import { localServiceForFile } from "../helpers/local-service.js";

// A secret worth stealing; RUN_SECRET_NAMES is unset, so no run may name it.
const service = localServiceForFile({ vars: [`${ATTACK_SECRET.name}:${ATTACK_SECRET.value}`] });

async function send(path: string, init: RequestInit = {}): Promise<{ response: Response; text: string }> {
  const response = await fetch(`${service().url}${path}`, init);
  return { response, text: await response.text() };
}

async function written(): Promise<string> {
  const headers = { authorization: `Bearer ${service().key}` };
  const runs = await (await fetch(`${service().url}/v1/runs?limit=200`, { headers })).json();
  const systems = await (await fetch(`${service().url}/v1/systems`, { headers })).json();
  return JSON.stringify({ runs, systems });
}

describe("a hostile key holder, against npm start", () => {
  it("is refused every attack with a 4xx while /healthz answers, and nothing is written", async () => {
    const before = await written();
    for (const attack of attacks(service().url)) {
      const attempt = send(attack.path, {
        method: attack.method,
        headers: { authorization: `Bearer ${service().key}`, ...attack.headers },
        body: attack.body,
      });
      const health = await send("/healthz");
      const { response, text } = await attempt;
      expect(health.response.status, attack.name).toBe(200);
      expect(response.status, `${attack.name}: ${text.slice(0, 300)}`).toBeGreaterThanOrEqual(400);
      expect(response.status, attack.name).toBeLessThan(500);
      const error = (JSON.parse(text) as { error: { code: string; message: string } }).error;
      expect(error.code, attack.name).toMatch(/^[a-z_]+$/);
      expect(text).not.toContain(ATTACK_SECRET.value);
    }
    expect(await written()).toBe(before);
  }, 120_000);
});
