import { createExecutionContext, runDurableObjectAlarm, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { vi } from "vitest";
import type { RuntimeConfigInput } from "../../src/runtime/schema.js";
import { Rng } from "../../src/search/rng.js";
import { DEFAULT_LOG_DATABASE } from "../../workers/db/log-database";
import worker from "../../workers/index";
import { logShardName } from "../../workers/objects/log-shards";

export const KEY = "test-key-1";

/**
 * Run `body` with Math.random replaced by a seeded generator (src/search/rng.ts), restored after. The worker and its
 * Durable Objects run in the tests' isolate, so their draws (Thompson samples, decision ids) come from it too: a test
 * of what the bandit learns then sees the same draws on every run. Returns the body's result and how many draws the
 * worker took (a test can check the seed reached it).
 */
export async function withSeededRandom<T>(seed: number, body: () => Promise<T>): Promise<{ result: T; draws: number }> {
  const random = vi.spyOn(Math, "random").mockImplementation(Rng.uniform(seed));
  try {
    const result = await body();
    return { result, draws: random.mock.calls.length };
  } finally {
    random.mockRestore();
  }
}

/**
 * Make each fetch to `host` fail as workerd fails a connection nothing accepts, without connecting; every other URL
 * is fetched as usual. The code under test catches a real failed connection, yet workerd (which the pool runs with
 * --verbose) still prints each one as an "uncaught exception" with stacks, and a green run reads as a broken one
 * (issue 16, item 20). The worker, its Durable Objects and its queue consumer run in the tests' isolate, so their
 * calls reach this too. Undo it with mockRestore().
 */
export function refuseConnections(host: string) {
  const real = globalThis.fetch;
  return vi
    .spyOn(globalThis, "fetch")
    .mockImplementation((input, init) =>
      new URL(input instanceof Request ? input.url : String(input)).host === host
        ? Promise.reject(new Error("Network connection lost."))
        : real(input, init),
    );
}

/**
 * Call the worker's fetch handler as a client would, with the API key unless told otherwise. The handler is called
 * directly rather than through SELF.fetch, whose per-request cost grows with every request in a test file
 * (cloudflare/workers-sdk#15446): hundreds of requests per test would take minutes.
 */
export async function call(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
  /** Bindings or vars replaced for this call (a spy queue, a tight rate limiter, a secret). */
  overrides: Record<string, unknown> = {},
): Promise<Response> {
  const init: RequestInit = { method, headers: { authorization: `Bearer ${KEY}`, ...headers } };
  if (body !== undefined) {
    init.body = typeof body === "string" ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)["content-type"] ??= "application/json";
  }
  const ctx = createExecutionContext();
  const response = await worker.fetch(new Request(`http://convergence.test${path}`, init), { ...env, ...overrides } as typeof env, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

export async function callJson<T = Record<string, unknown>>(
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const response = await call(method, path, body);
  return { status: response.status, body: (await response.json()) as T };
}

export async function putSystem(name: string, config: RuntimeConfigInput): Promise<void> {
  const response = await call("PUT", `/v1/systems/${name}`, config);
  if (response.status !== 200) throw new Error(`PUT ${name}: ${response.status} ${await response.text()}`);
}

export const THREE_ARMS: RuntimeConfigInput = {
  default_arms: [
    { arm_id: "low", name: "Low", params: { rate: 0.3 } },
    { arm_id: "mid", name: "Mid", params: { rate: 0.5 } },
    { arm_id: "high", name: "High", params: { rate: 0.7 } },
  ],
};

/** The ArmsObject of one (system, agent type, user). */
export const armsStubOf = (system: string, user: string, agentType = "default") =>
  env.ARMS.getByName(JSON.stringify([system, agentType, user]));

/** The decision log shard a user's decisions go through. */
export const shardStubOf = (system: string, user: string, database = DEFAULT_LOG_DATABASE) =>
  env.LOG_SHARDS.getByName(logShardName(database, system, user));

/**
 * Move what users' objects hold to D1 as the alarms would, without waiting for them: each user's object hands its
 * outbox to its shard, then each shard writes to D1.
 */
export async function flushLog(
  system: string,
  users: readonly string[],
  agentType = "default",
  database = DEFAULT_LOG_DATABASE,
): Promise<void> {
  for (const user of users) await runDurableObjectAlarm(armsStubOf(system, user, agentType));
  const shards = new Map(users.map((user) => [logShardName(database, system, user), user]));
  for (const user of shards.values()) await runDurableObjectAlarm(shardStubOf(system, user, database));
}
