/**
 * createClient's listings against the local service (`npm start`): awaited, a page; iterated, every item, page by
 * page, reading no page more than the loop uses.
 */
import { describe, expect, it } from "vitest";
import { ConvergenceApiError, createClient } from "../../src/index.js";
import { localServiceForFile } from "../helpers/local-service.js";

const service = localServiceForFile();

/** A client whose calls are counted, by path. */
function countingClient() {
  const paths: string[] = [];
  const client = createClient({
    baseUrl: service().url,
    apiKey: service().key,
    fetch: (input, init) => {
      paths.push(new URL(String(input)).pathname + new URL(String(input)).search);
      return fetch(input, init);
    },
  });
  return { client, paths };
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

describe("createClient's listings", () => {
  it("iterates every system, key and run page by page, each once, in the service's order", async () => {
    const { client, paths } = countingClient();
    const names = Array.from({ length: 7 }, (_, i) => `iterated_${i}`);
    for (const name of names) await client.configureSystem(name, { default_arms: [{ arm_id: "a" }] });
    const made = [];
    for (let i = 0; i < 5; i++) made.push((await client.createKey({ scope: "runtime", name: `iterated ${i}` })).id);

    const first = await client.listSystems({ limit: 3 });
    expect(first.systems).toHaveLength(3);
    expect(first.next_cursor).toEqual(expect.any(String));
    const second = await client.listSystems({ limit: 3, cursor: first.next_cursor });
    expect(second.systems.map((s) => s.system)).not.toContain(first.systems[0]?.system);

    const whole = (await client.listSystems({ limit: 500 })).systems.map((s) => s.system);
    paths.length = 0;
    const iterated = (await collect(client.listSystems({ limit: 3 }))).map((s) => s.system);
    expect(iterated).toEqual(whole);
    // Most recently changed first: the last one configured leads.
    expect(iterated.slice(0, 7)).toEqual([...names].reverse());
    expect(paths).toHaveLength(Math.ceil(whole.length / 3));
    expect(paths[1]).toMatch(/^\/v1\/systems\?limit=3&cursor=/);

    const keys = await collect(client.listKeys({ limit: 2 }));
    expect(new Set(keys.map((k) => k.id))).toEqual(new Set(made));
    // Newest first; keys made in the same millisecond by id.
    const newestFirst = (a: (typeof keys)[number], b: (typeof keys)[number]) =>
      b.created_at.localeCompare(a.created_at) || b.id.localeCompare(a.id);
    expect(keys).toEqual([...keys].sort(newestFirst));
    expect(await collect(client.listRuns({ limit: 2 }))).toEqual([]);
  });

  it("reads no page past where the loop stops, and starts from a cursor when given one", async () => {
    const { client, paths } = countingClient();
    for (let i = 0; i < 6; i++) await client.configureSystem(`stopped_${i}`, {});
    paths.length = 0;
    const seen: string[] = [];
    for await (const system of client.listSystems({ limit: 2 })) {
      seen.push(system.system);
      if (seen.length === 3) break;
    }
    expect(paths).toHaveLength(2);

    const first = await client.listSystems({ limit: 2 });
    const rest = await collect(client.listSystems({ limit: 2, cursor: first.next_cursor }));
    expect([...first.systems, ...rest].slice(0, 3).map((s) => s.system)).toEqual(seen);
  });

  it("throws the service's refusal of a cursor that is not one, awaited or iterated", async () => {
    const client = createClient({ baseUrl: service().url, apiKey: service().key });
    const refused = await client.listRuns({ cursor: "not-a-cursor" }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ConvergenceApiError);
    expect(refused).toMatchObject({ status: 400, code: "invalid_request", details: [{ path: "query.cursor" }] });
    await expect(collect(client.listDecisions("nowhere_at_all"))).rejects.toMatchObject({ status: 404, code: "unknown_system" });
  });
});
