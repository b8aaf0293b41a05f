/**
 * npm run bench:attacks
 *
 * The attacks of test/helpers/attacks.ts against the local service (wrangler dev, loopback only), timed from
 * outside as a client sees them: how long each takes to be refused, and how long /healthz takes when it is sent
 * while the attack is in flight (another user's request, waiting on the same worker). Medians of a few
 * repetitions; figures from a local workerd on a shared machine.
 */
import { median } from "../src/optimize/stats.js";
import { ATTACK_SECRET, attacks } from "../test/helpers/attacks.js";
import { startLocalService } from "./service.js";
import { table } from "./table.js";

const REPETITIONS = 5;

async function timed(url: string, init: RequestInit = {}): Promise<{ status: number; ms: number }> {
  const started = performance.now();
  const response = await fetch(url, init);
  await response.arrayBuffer();
  return { status: response.status, ms: performance.now() - started };
}

const service = await startLocalService({ vars: [`${ATTACK_SECRET.name}:${ATTACK_SECRET.value}`] });
try {
  const rows: (string | number)[][] = [["attack", "status", "refused in (ms)", "/healthz meanwhile (ms)"]];
  for (const attack of attacks(service.url)) {
    const refused: number[] = [];
    const health: number[] = [];
    let status = 0;
    for (let i = 0; i < REPETITIONS; i++) {
      const init = { method: attack.method, headers: { authorization: `Bearer ${service.key}`, ...attack.headers }, body: attack.body };
      const attempt = timed(`${service.url}${attack.path}`, init);
      health.push((await timed(`${service.url}/healthz`)).ms);
      const result = await attempt;
      status = result.status;
      refused.push(result.ms);
    }
    rows.push([attack.name, status, median(refused).toFixed(0), median(health).toFixed(0)]);
  }
  console.log(`\nAttacks on the local service, medians of ${REPETITIONS}\n`);
  console.log(table(rows));
} finally {
  await service.stop();
}
