/**
 * npm run bench:runtime
 *
 * Starts the local service (wrangler dev, loopback only) and drives it with autocannon: requests/s and p50/p99
 * latency for select and for an authenticated no-op route, alternating in rounds so a change in the machine's
 * load hits both, with the ratio select / no-op per round and its median; then update. Then in-process selects
 * per second (10 arms, MemoryRuntimeStorage).
 *
 * It runs twice: with the local service's state (SQLite files of D1 and the Durable Objects) in memory (/dev/shm),
 * which measures the service's own work, and on disk, where every decision's commit also pays for this machine's
 * disk. In production that storage is Cloudflare's, so neither disk figure says anything about it.
 * Figures from a local workerd on a shared machine: compare them with each other, not with production.
 */
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import autocannon from "autocannon";
import { median } from "../src/optimize/stats.js";
import { MemoryRuntimeStorage } from "../src/runtime/memory-storage.js";
import { configureRuntime, runtimeSelect } from "../src/sdk/runtime.js";
import { startLocalService } from "./service.js";

const CONNECTIONS = 10;
const DURATION_S = 5;
const ROUNDS = 3;
const USERS = 100;
const ARMS = Array.from({ length: 10 }, (_, i) => ({ arm_id: `arm_${i}`, params: { threshold: i / 10, limit: 5 + i } }));

interface Row {
  route: string;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
}

async function cannon(route: string, options: autocannon.Options): Promise<Row> {
  const result = await autocannon({ connections: CONNECTIONS, ...(options.amount ? {} : { duration: DURATION_S }), ...options });
  return {
    route,
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors,
    non2xx: result.non2xx,
  };
}

function line(round: string, r: Row): void {
  const cells = [
    r.rps.toFixed(0).padStart(6),
    String(r.p50).padStart(6),
    String(r.p99).padStart(6),
    String(r.errors).padStart(6),
    String(r.non2xx).padStart(7),
  ];
  console.log(`${round.padEnd(6)} ${r.route.padEnd(24)} ${cells.join("  ")}`);
}

async function pass(stateDir: string, label: string): Promise<void> {
  const service = await startLocalService({ stateDir });
  const headers = { authorization: `Bearer ${service.key}`, "content-type": "application/json" };
  try {
    const put = await fetch(`${service.url}/v1/systems/bench`, { method: "PUT", headers, body: JSON.stringify({ default_arms: ARMS }) });
    if (!put.ok) throw new Error(`configure: ${put.status} ${await put.text()}`);
    // Warm every user's object once, so the runs measure steady state, not first use.
    await Promise.all(
      Array.from({ length: USERS }, (_, u) =>
        fetch(`${service.url}/v1/systems/bench/select`, { method: "POST", headers, body: JSON.stringify({ user_id: `user_${u}` }) }).then(
          (r) => r.text(),
        ),
      ),
    );

    let n = 0;
    const decisions: { user: string; id: string }[] = [];
    const rounds: { noop: Row; select: Row }[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const noop = await cannon("GET /v1/ping (no-op)", { url: `${service.url}/v1/ping`, headers });
      const select = await cannon("POST select", {
        url: `${service.url}/v1/systems/bench/select`,
        method: "POST",
        headers,
        requests: [
          {
            setupRequest: (request, context) => {
              const user = `user_${n++ % USERS}`;
              (context as { user?: string }).user = user;
              return { ...request, body: JSON.stringify({ user_id: user }) };
            },
            onResponse: (status, body, context) => {
              const user = (context as { user?: string }).user as string;
              if (status === 200) decisions.push({ id: (JSON.parse(body) as { decision_id: string }).decision_id, user });
            },
          },
        ],
      });
      rounds.push({ noop, select });
    }
    let m = 0;
    const update = await cannon("POST update", {
      url: `${service.url}/v1/systems/bench/update`,
      method: "POST",
      headers,
      amount: Math.min(decisions.length, 10_000),
      requests: [
        {
          setupRequest: (request) => {
            const d = decisions[m++ % decisions.length] as { user: string; id: string };
            return { ...request, body: JSON.stringify({ user_id: d.user, decision_id: d.id, reward: m % 2 }) };
          },
        },
      ],
    });

    console.log(
      `\nLocal service, state ${label} (${stateDir}); wrangler dev --log-level warn, ${CONNECTIONS} connections, ${USERS} users, ${ARMS.length} arms\n`,
    );
    console.log("round  route                     req/s  p50 ms  p99 ms  errors  non-2xx");
    rounds.forEach((r, i) => {
      line(String(i + 1), r.noop);
      line(String(i + 1), r.select);
    });
    line("", update);
    const ratios = rounds.map((r) => r.select.rps / r.noop.rps);
    console.log(
      `\nselect / no-op throughput by round: ${ratios.map((x) => `${(x * 100).toFixed(0)}%`).join(", ")}; median ${(median(ratios) * 100).toFixed(0)}%`,
    );
  } finally {
    await service.stop();
  }
}

async function inProcess(): Promise<void> {
  await configureRuntime("bench", { config: { default_arms: ARMS }, storage: new MemoryRuntimeStorage() });
  const started = performance.now();
  let selects = 0;
  while (performance.now() - started < 3000) {
    await runtimeSelect("bench", { userId: `user_${selects % USERS}` });
    selects++;
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(`\nIn-process: ${(selects / seconds).toFixed(0)} selects/s (10 arms, MemoryRuntimeStorage, one caller)`);
}

if (existsSync("/dev/shm")) await pass("/dev/shm", "in memory");
await pass(tmpdir(), "on disk");
await inProcess();
