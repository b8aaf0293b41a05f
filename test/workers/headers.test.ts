import { describe, expect, it } from "vitest";
import { DOCS_PAGE_HEADERS } from "../../workers/api/docs";
// @ts-expect-error: vite's ?raw import (the text of the file), which the workers pool resolves at build time
import dashboardHeaders from "../../workers/dashboard/public/_headers?raw";
import { call } from "./helpers";

interface OpenApi {
  paths: Record<string, Record<string, unknown>>;
}

/** The headers of the `/*` rule of a Cloudflare `_headers` file. */
function headersOfEveryPath(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  let inRule = false;
  for (const line of file.split("\n")) {
    if (!/^\s/.test(line)) inRule = line.trim() === "/*";
    else if (inRule && line.includes(":")) {
      const at = line.indexOf(":");
      out[line.slice(0, at).trim().toLowerCase()] = line.slice(at + 1).trim();
    }
  }
  return out;
}

const lower = (headers: Record<string, string>) => Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));

describe("/docs", () => {
  it("answers with the dashboard's CSP, nosniff and referrer policy", async () => {
    const dashboard = headersOfEveryPath(dashboardHeaders as string);
    expect(dashboard).toEqual(lower(DOCS_PAGE_HEADERS));
    const response = await call("GET", "/docs", undefined, { authorization: "" });
    expect(response.status).toBe(200);
    for (const [name, value] of Object.entries(dashboard)) expect(response.headers.get(name), name).toBe(value);
  });

  it("needs nothing that policy blocks: no script, nothing loaded, styles only inline", async () => {
    const page = await (await call("GET", "/docs", undefined, { authorization: "" })).text();
    expect(page).not.toMatch(/<script|<link|<img|<iframe|\ssrc=|\son[a-z]+=|style="|javascript:/i);
    expect(page).toMatch(/<style>/);
    // Every link is a navigation to this origin or within the page.
    const links = [...page.matchAll(/href="([^"]*)"/g)].map((m) => m[1] as string);
    expect(links.length).toBeGreaterThan(10);
    for (const link of links) expect(link).toMatch(/^(\/|#)/);
  });
});

describe("methods", () => {
  it("answers 405 with Allow for every method a documented path does not serve", async () => {
    const doc = (await (await call("GET", "/openapi.json")).json()) as OpenApi;
    let checked = 0;
    for (const [template, operations] of Object.entries(doc.paths)) {
      const path = template.replace(/\{[^}]+\}/g, "x1");
      const served = Object.keys(operations).map((m) => m.toUpperCase());
      const allow = [...served, ...(served.includes("GET") ? ["HEAD"] : [])].sort().join(", ");
      for (const method of ["GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"].filter((m) => !served.includes(m))) {
        const response = await call(method, path);
        expect(response.status, `${method} ${path}`).toBe(405);
        expect(response.headers.get("allow"), `${method} ${path}`).toBe(allow);
        const body = (await response.json()) as { error: { code: string; message: string } };
        expect(body.error.code).toBe("method_not_allowed");
        expect(body.error.message).toContain(allow);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(60);
  });

  it("answers HEAD wherever GET is, without a body, and 405 where it is not", async () => {
    const head = await call("HEAD", "/v1/systems");
    expect(head.status).toBe(200);
    expect(await head.text()).toBe("");
    const get = await call("GET", "/v1/systems");
    expect(head.headers.get("content-type")).toBe(get.headers.get("content-type"));
    const notServed = await call("HEAD", "/v1/runs/r1/cancel");
    expect(notServed.status).toBe(405);
    expect(notServed.headers.get("allow")).toBe("POST");
    expect(await notServed.text()).toBe("");
  });

  it("still answers 404 for a path nothing serves, and 401 before 405 without a key", async () => {
    for (const path of ["/v1/nothing", "/v1/systems/a/b/c", "/v1/runs/", "/nothing"]) {
      const response = await call("DELETE", path);
      expect(response.status, path).toBe(404);
      expect(response.headers.get("allow")).toBeNull();
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe("not_found");
    }
    expect((await call("DELETE", "/v1/systems/a", undefined, { authorization: "" })).status).toBe(401);
    const open = await call("POST", "/healthz", undefined, { authorization: "" });
    expect(open.status).toBe(405);
    expect(open.headers.get("allow")).toBe("GET, HEAD");
  });
});
