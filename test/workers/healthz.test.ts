import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { VERSION } from "../../src/version.js";

describe("GET /healthz", () => {
  it("answers with the service name and version", async () => {
    const response = await SELF.fetch("http://example.com/healthz");
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ ok: true, service: "convergence", version: VERSION });
  });

  it("answers 404 for an unknown route", async () => {
    const response = await SELF.fetch("http://example.com/nope");
    expect(response.status).toBe(404);
  });
});
