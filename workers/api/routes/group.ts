/**
 * A group of routes, an OpenAPIHono sub-app that app.ts mounts: its routes, their schemas and their description
 * travel together, and a request its schemas refuse answers as every other 400 does.
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import type { Context, TypedResponse } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { JSONParsed } from "hono/utils/types";
import type { JsonText } from "../../../src/json.js";
import type { Env } from "../../env";
import { validationHook } from "../errors";

export const routeGroup = () => new OpenAPIHono<{ Bindings: Env }>({ defaultHook: validationHook });

/**
 * An answer a Durable Object already wrote as JSON text, sent as it is (not parsed and serialized again), typed
 * as the JSON it holds: a route whose schema says otherwise does not compile.
 */
export function jsonText<T, S extends ContentfulStatusCode>(c: Context, text: JsonText<T>, status: S) {
  return c.newResponse(text, status, { "content-type": "application/json" }) as Response & TypedResponse<JSONParsed<T>, S, "json">;
}
