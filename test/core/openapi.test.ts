/** The API description validates as OpenAPI 3 (with a validator package, in Node, on the worker's own app). */
import { validate } from "@readme/openapi-parser";
import { describe, expect, expectTypeOf, it } from "vitest";
import type { z } from "zod";
import type { RunViewSchema } from "../../src/run/schema.js";
import type {
  DecisionListSchema,
  DecisionSchema,
  SystemListItemSchema,
  SystemListSchema,
  SystemRecordSchema,
} from "../../src/runtime/schema.js";
import type { ConvergenceClient } from "../../src/sdk/client.js";

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
    expect(Object.keys(doc.components.schemas)).toEqual(
      expect.arrayContaining(["Run", "RunConfig", "System", "SystemSummary", "Json", "Error"]),
    );
    expect(doc.components.securitySchemes).toEqual({ apiKey: expect.objectContaining({ type: "http", scheme: "bearer" }) });
  });

  type Schema = {
    $ref?: string;
    type?: string;
    format?: string;
    properties?: Record<string, Schema>;
    items?: Schema;
    oneOf?: Schema[];
    enum?: unknown[];
  };
  const documented = async () => {
    const doc = (await (await app.request("/openapi.json")).json()) as {
      paths: Record<
        string,
        Record<
          string,
          {
            requestBody?: { content: Record<string, { schema: Schema }> };
            responses: Record<string, { content?: Record<string, { schema: Schema }> }>;
          }
        >
      >;
      components: { schemas: Record<string, Schema> };
    };
    const resolve = (schema: Schema | undefined): Schema => {
      const ref = schema?.$ref?.replace("#/components/schemas/", "");
      return ref ? (doc.components.schemas[ref] as Schema) : (schema ?? {});
    };
    const answer = (path: string, method: string) =>
      resolve(doc.paths[path]?.[method]?.responses["200"]?.content?.["application/json"]?.schema);
    return { doc, resolve, answer };
  };
  const fields = (schema: Schema | undefined) => Object.keys(schema?.properties ?? {});

  it("describes the run config POST /v1/runs takes: its sections and their fields, from the config's own schema", async () => {
    const { doc, resolve } = await documented();
    const config = resolve(doc.paths["/v1/runs"]?.post?.requestBody?.content["application/json"]?.schema);
    expect(fields(config)).toEqual(expect.arrayContaining(["api", "search_space", "evaluation", "optimization"]));
    const { api, search_space, evaluation, optimization } = config.properties as Record<string, Schema>;
    expect(fields(api)).toEqual(expect.arrayContaining(["name", "endpoint", "auth", "request", "response", "mock_mode"]));
    expect(fields(search_space)).toContain("parameters");
    expect(fields(evaluation)).toEqual(expect.arrayContaining(["test_cases", "metrics", "judge", "custom_evaluator"]));
    expect(fields(optimization)).toEqual(expect.arrayContaining(["algorithm", "seed", "evolution", "execution"]));
    expect(fields(optimization?.properties?.evolution)).toEqual(expect.arrayContaining(["population_size", "generations"]));
    expect(fields(optimization?.properties?.execution)).toEqual(
      expect.arrayContaining(["max_target_calls", "max_cost_usd", "early_stopping"]),
    );
  });

  it("describes a run's result, on success and on failure, with its totals and history", async () => {
    const { answer } = await documented();
    const result = answer("/v1/runs/{run_id}", "get").properties?.result;
    const [success, failure] = (result?.oneOf ?? []).filter((s) => s.properties?.success);
    expect(success?.properties?.success?.enum).toEqual([true]);
    expect(fields(success)).toEqual(
      expect.arrayContaining([
        "best_config",
        "best_score",
        "best_metrics",
        "optimization_run_id",
        "timestamp",
        "stop_reason",
        "history",
        "cost_usd",
      ]),
    );
    expect(success?.properties?.timestamp?.format).toBe("date-time");
    expect(fields(success?.properties?.history?.items)).toEqual(expect.arrayContaining(["generation", "best", "mean", "calls"]));
    expect(failure?.properties?.success?.enum).toEqual([false]);
    expect(fields(failure)).toEqual(expect.arrayContaining(["error", "errors", "configs_generated", "optimization_run_id"]));
  });

  it("describes a system's config, as PUT takes it and GET answers it", async () => {
    const { doc, resolve, answer } = await documented();
    const settings = [
      "default_arms",
      "selection_strategy",
      "selection_policy",
      "traffic_floor",
      "pooling",
      "reoptimize",
      "reward_evaluator",
    ];
    const put = resolve(doc.paths["/v1/systems/{system}"]?.put?.requestBody?.content["application/json"]?.schema);
    expect(fields(put)).toEqual(expect.arrayContaining(settings));
    const config = answer("/v1/systems/{system}", "get").properties?.config;
    expect(fields(config)).toEqual(expect.arrayContaining(settings));
    expect(fields(config?.properties?.default_arms?.items)).toEqual(expect.arrayContaining(["arm_id", "name", "params", "source"]));
  });

  it("answers every time in ISO 8601: a decision's, a run's, a key's", async () => {
    const { answer, resolve } = await documented();
    const decision = answer("/v1/systems/{system}/decisions/{decision_id}", "get");
    expect(decision.properties?.created_at?.format).toBe("date-time");
    expect(decision.properties?.rewarded_at?.format).toBe("date-time");
    expect(answer("/v1/runs/{run_id}", "get").properties?.created_at?.format).toBe("date-time");
    expect(resolve(answer("/v1/keys", "get").properties?.keys?.items).properties?.created_at?.format).toBe("date-time");
  });

  it("types createClient's answers by the same schemas (checked when the tests are typechecked)", () => {
    type Answer<M extends keyof ConvergenceClient> = ConvergenceClient[M] extends (...args: never[]) => Promise<infer T> ? T : never;
    expectTypeOf<Answer<"getDecision">>().toEqualTypeOf<z.output<typeof DecisionSchema>>();
    expectTypeOf<Answer<"getDecision">["created_at"]>().toEqualTypeOf<string>();
    expectTypeOf<Answer<"getSystem">>().toEqualTypeOf<z.output<typeof SystemRecordSchema>>();
    expectTypeOf<Answer<"getSystem">["config"]["selection_policy"]>().toEqualTypeOf<"thompson" | "top_two" | "contextual">();
    expectTypeOf<Answer<"listSystems">>().toEqualTypeOf<z.output<typeof SystemListSchema>>();
    expectTypeOf<Answer<"listSystems">["systems"][number]>().toEqualTypeOf<z.output<typeof SystemListItemSchema>>();
    expectTypeOf<Answer<"listDecisions">>().toEqualTypeOf<z.output<typeof DecisionListSchema>>();
    expectTypeOf<NonNullable<Answer<"getRun">["result"]>>().toExtend<z.output<typeof RunViewSchema>["result"]>();
  });
});
