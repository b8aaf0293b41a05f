/** The API description validates as OpenAPI 3 (with a validator package, in Node, on the worker's own app). */
import { validate } from "@readme/openapi-parser";
import { describe, expect, it } from "vitest";

// The worker's app imports with the Workers toolchain's resolution, which this project's typecheck does not use:
// imported by a path the typechecker does not follow. It runs in Node as it is (no cloudflare:* import).
const APP = "../../workers/api/app.ts";
const { app } = (await import(APP)) as { app: { request(path: string): Promise<Response> } };

describe("/openapi.json", () => {
  it("is a valid OpenAPI 3 document that names its security scheme and the run and system schemas", async () => {
    const response = await app.request("/openapi.json");
    const doc = (await response.json()) as { components: { schemas: Record<string, unknown>; securitySchemes: object } };
    const result = await validate(structuredClone(doc) as never);
    expect(result).toMatchObject({ valid: true, specification: "OpenAPI" });
    expect(Object.keys(doc.components.schemas)).toEqual(expect.arrayContaining(["Run", "System", "SystemSummary", "Json", "Error"]));
    expect(doc.components.securitySchemes).toEqual({ apiKey: expect.objectContaining({ type: "http", scheme: "bearer" }) });
  });
});
