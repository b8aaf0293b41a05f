import { describe, expect, it } from "vitest";
import { app } from "../../workers/api/app";
import { call } from "./helpers";

describe("the API description", () => {
  it("lists every /v1 route the app serves, with its method, at /openapi.json, without a key", async () => {
    const response = await call("GET", "/openapi.json", undefined, { authorization: "" });
    expect(response.status).toBe(200);
    const doc = (await response.json()) as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(doc.openapi).toBe("3.0.3");
    const served = app.routes
      .filter((r) => r.path.startsWith("/v1/") && r.method !== "ALL")
      .map((r) => `${r.method.toLowerCase()} ${r.path.replace(/:(\w+)/g, "{$1}")}`);
    const described = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`));
    expect(served.length).toBeGreaterThan(12);
    expect(new Set(described)).toEqual(new Set(served));
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
