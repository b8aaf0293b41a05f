import { describe, expect, it } from "vitest";
import { app } from "../../workers/api/app";
import { call } from "./helpers";

describe("the API description", () => {
  it("lists every route the app serves, with its method, at /openapi.json, without a key", async () => {
    const response = await call("GET", "/openapi.json", undefined, { authorization: "" });
    expect(response.status).toBe(200);
    const doc = (await response.json()) as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(doc.openapi).toBe("3.0.3");
    const served = app.routes
      .filter((r) => r.method !== "ALL")
      .map((r) => `${r.method.toLowerCase()} ${r.path.replace(/:(\w+)/g, "{$1}")}`);
    const described = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`));
    expect(served.length).toBeGreaterThan(15);
    expect(described).toEqual(expect.arrayContaining(["get /healthz", "get /openapi.json", "get /docs"]));
    expect(new Set(described)).toEqual(new Set(served));
  });

  it("documents the errors every /v1 route can answer, 429 with its Retry-After, and none on the public routes but 500", async () => {
    const doc = (await (await call("GET", "/openapi.json")).json()) as {
      paths: Record<string, Record<string, { security?: unknown[]; responses: Record<string, { headers?: Record<string, unknown> }> }>>;
    };
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const statuses = Object.keys(op.responses);
        const errors = statuses.filter((s) => Number(s) >= 400);
        if (path.startsWith("/v1/")) {
          expect(errors, `${method} ${path}`).toEqual(expect.arrayContaining(["400", "401", "403", "404", "413", "429", "500"]));
          expect(op.responses["429"]?.headers, `${method} ${path}`).toHaveProperty("Retry-After");
        } else {
          expect(op.security, path).toEqual([]);
          expect(errors, path).toEqual(["500"]);
        }
        expect(
          statuses.some((s) => s.startsWith("2")),
          `${method} ${path}`,
        ).toBe(true);
      }
    }
    expect(Object.keys(doc.paths["/v1/runs"]?.post?.responses ?? {})).toContain("415");
  });

  it("renders the description as a page at /docs", async () => {
    const response = await call("GET", "/docs", undefined, { authorization: "" });
    expect(response.headers.get("content-type")).toMatch(/text\/html/);
    const page = await response.text();
    expect(page).toContain("<code>/v1/runs/{run_id}/promote</code>");
    expect(page).toContain('id="schema-SystemSummary"');
    expect(page).not.toMatch(/https?:\/\/(?!127\.0\.0\.1)[^"]*\.js/);
  });
});
