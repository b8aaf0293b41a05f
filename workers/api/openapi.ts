/**
 * GET /openapi.json: the API description, generated from the same zod schemas that validate the requests and
 * type the answers (each route group's, merged as app.ts mounts it). The routes without a key are described here.
 */
import type { OpenAPIHono } from "@hono/zod-openapi";
import { z } from "@hono/zod-openapi";
import { JsonSchema } from "../../src/json.js";
import { VERSION } from "../../src/version.js";
import type { Env } from "../env";
import { publicErrorResponses } from "./errors";

const OPENAPI_PATH = "/openapi.json";

export const OPENAPI_DOCUMENT = {
  openapi: "3.0.3",
  info: {
    title: "Convergence",
    version: VERSION,
    description:
      "Optimization runs that tune an API's parameters, and a Thompson-sampling runtime loop that keeps tuning them per user. Every /v1 route needs Authorization: Bearer <key>. Errors are {error: {code, message, details}}. A method a path does not serve (OPTIONS included: there is no CORS preflight) answers 405 method_not_allowed with an Allow header; HEAD works wherever GET does.",
  },
  security: [{ apiKey: [] }],
};

export function describeApi(app: OpenAPIHono<{ Bindings: Env }>): void {
  // JSON values are recursive: named once, every use refers to the one definition (and generation terminates).
  // Naming the shared instance marks the instance itself (see zod-to-openapi's handling of z.json()).
  (JsonSchema as unknown as { openapi(name: string): unknown }).openapi("Json");
  app.openAPIRegistry.registerComponent("securitySchemes", "apiKey", {
    type: "http",
    scheme: "bearer",
    description: "A key of the Worker secret CONVERGENCE_API_KEY",
  });
  // The routes without a key: declared with plain app.get (app.doc serves the document), described here.
  app.openAPIRegistry.registerPath({
    method: "get",
    path: "/healthz",
    summary: "Liveness: the service's name and version (no key)",
    security: [],
    responses: {
      200: {
        description: "Up",
        content: { "application/json": { schema: z.object({ ok: z.boolean(), service: z.string(), version: z.string() }) } },
      },
      ...publicErrorResponses,
    },
  });
  app.openAPIRegistry.registerPath({
    method: "get",
    path: OPENAPI_PATH,
    summary: "This description, OpenAPI 3.0 (no key)",
    security: [],
    responses: {
      200: { description: "The OpenAPI document", content: { "application/json": { schema: z.looseObject({ openapi: z.string() }) } } },
      ...publicErrorResponses,
    },
  });
  app.openAPIRegistry.registerPath({
    method: "get",
    path: "/docs",
    summary: "This description as a web page (no key)",
    security: [],
    responses: { 200: { description: "The page", content: { "text/html": { schema: z.string() } } }, ...publicErrorResponses },
  });
  app.doc(OPENAPI_PATH, OPENAPI_DOCUMENT);
}
