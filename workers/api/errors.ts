import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { type ConfigIssue, ConfigIssueSchema, describeIssues, fromZodIssues } from "../../src/config/issues.js";
import { StoredConfigInvalid } from "../db/systems";

/** DESIGN.md's error format: {"error": {"code", "message", "details"}}. */
const ErrorSchema = z
  .object({
    error: z.object({
      code: z.string(),
      message: z.string(),
      details: z.array(ConfigIssueSchema).optional(),
    }),
  })
  .openapi("Error");

export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly details?: ConfigIssue[],
    /** Response headers the error needs, like Retry-After on a 429. */
    readonly headers?: Record<string, string>,
  ) {
    super(message);
  }
}

function errorResponse(c: Context, status: ContentfulStatusCode, code: string, message: string, details?: ConfigIssue[]): Response {
  return c.json({ error: { code, message, ...(details && details.length > 0 ? { details } : {}) } }, status);
}

/**
 * A request its schema refuses, or that fails a check only the handler can make: 400 `invalid_request`, the
 * message every problem with its path, `details` each of them.
 */
export const invalidRequest = (details: ConfigIssue[]): ApiError => new ApiError(400, "invalid_request", describeIssues(details), details);

/** A JSON response of a route, for the API description. */
export const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { "application/json": { schema } } });

const failure = (description: string) => ({ description, content: { "application/json": { schema: ErrorSchema } } });

/**
 * The errors every /v1 route may answer, for the API description: each route lists them after its successes, so
 * that every status a route can answer is documented (test/workers/api-fuzz.test.ts checks it). 405 is the answer
 * of a path to a method it does not serve, so it belongs to no operation: OPENAPI_DOCUMENT's description names it.
 */
export const errorResponses = {
  400: failure(
    "Malformed or invalid request: unreadable JSON or YAML, JSON nested too deep, a missing field, a wrong type or a value out of range (`details` names the path of each)",
  ),
  401: failure("Missing or wrong API key"),
  403: failure(
    "Not allowed: a runtime key calling an admin route or another system, a decision of another user, or a run's own call starting runs",
  ),
  404: failure("Unknown system, run, decision, key or route"),
  409: failure("Not in a state that allows this"),
  413: failure("Body too large"),
  415: failure(
    "The body's content-type is none of those the route reads (application/json; POST /v1/runs and POST /v1/validate also application/yaml)",
  ),
  429: {
    ...failure("Too many requests for this key"),
    headers: z.object({
      "Retry-After": z.string().regex(/^\d+$/).openapi({ description: "Seconds to wait before calling again", example: "60" }),
    }),
  },
  500: failure("Internal error: the service failed to handle the request (never expected; the body holds no stack trace)"),
};

/** What the routes without a key (/healthz, /openapi.json, /docs) may answer besides their success. */
export const publicErrorResponses = { 500: errorResponses[500] };

/** A Hono route pattern (`/v1/systems/:system/select`, `:id{[0-9]+}`, `*`) as a RegExp of the paths it matches. */
function patternOf(path: string): RegExp {
  const segments = path.split("/").map((segment) => {
    if (segment === "*") return ".*";
    const param = /^:[\w-]+(?:\{(.+)\})?\??$/.exec(segment);
    if (param) return param[1] ? `(?:${param[1]})` : "[^/]+";
    return segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  });
  return new RegExp(`^${segments.join("/")}$`);
}

const patterns = new Map<string, RegExp>();

/**
 * The methods the app serves `path` with, from its registered routes (middleware, method ALL, is no route), with
 * HEAD wherever GET is (Hono answers HEAD from the GET route, without the body).
 */
function allowedMethods(routes: readonly { method: string; path: string }[], path: string): string[] {
  const methods = new Set<string>();
  for (const route of routes) {
    if (route.method === "ALL") continue;
    const pattern = patterns.get(route.path) ?? patternOf(route.path);
    patterns.set(route.path, pattern);
    if (pattern.test(path)) methods.add(route.method);
  }
  if (methods.has("GET")) methods.add("HEAD");
  return [...methods].sort();
}

/**
 * The app's notFound: 405 with Allow when the path is served with other methods (OPTIONS included: there is no
 * CORS preflight to answer), else 404. Both in the error format.
 */
export function notFoundOrNotAllowed(routes: () => readonly { method: string; path: string }[]) {
  return (c: Context): Response => {
    const path = c.req.path;
    const allow = allowedMethods(routes(), path);
    if (allow.length === 0) return errorResponse(c, 404, "not_found", `no route ${c.req.method} ${path}`);
    c.header("Allow", allow.join(", "));
    return errorResponse(c, 405, "method_not_allowed", `${c.req.method} is not allowed on ${path}: it answers ${allow.join(", ")}`);
  };
}

/** Where a part of the request puts its problems' paths: a body's and a path parameter's as they are, `query.x`. */
const prefixOf = (target: string | undefined) => (target === undefined || target === "json" || target === "param" ? "" : target);

/** zod-openapi's hook: a request that fails its schema answers 400 with every problem and its path. */
export function validationHook(
  result: { success: boolean; error?: { issues: z.core.$ZodIssue[] }; target?: string },
  c: Context,
): Response | undefined {
  if (result.success || !result.error) return undefined;
  return onError(invalidRequest(fromZodIssues(result.error.issues, prefixOf(result.target))), c);
}

/**
 * A part of the request as its schema reads it, for a route declared by hand: refused as validationHook refuses
 * it for a createRoute route.
 */
export function validRequestPart<T extends z.ZodType>(schema: T, value: unknown, target: "param" | "query"): z.output<T> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw invalidRequest(fromZodIssues(parsed.error.issues, prefixOf(target)));
  return parsed.data;
}

/** Every error leaves as the error format: never a stack trace, never an HTML page. */
export function onError(error: Error, c: Context): Response {
  if (error instanceof ApiError) {
    const response = errorResponse(c, error.status, error.code, error.message, error.details);
    for (const [name, value] of Object.entries(error.headers ?? {})) response.headers.set(name, value);
    return response;
  }
  if (error instanceof StoredConfigInvalid) return errorResponse(c, 409, "stored_config_invalid", error.message);
  if (error instanceof HTTPException) {
    const status = error.status as ContentfulStatusCode;
    if (status === 413) return errorResponse(c, 413, "body_too_large", error.message || "request body is too large");
    if (status === 415) return errorResponse(c, 415, "unsupported_media_type", "send the body as application/json");
    if (status === 400 && /json/i.test(error.message)) return errorResponse(c, 400, "malformed_json", "the request body is not valid JSON");
    return errorResponse(c, status, status === 401 ? "unauthorized" : "bad_request", error.message || "bad request");
  }
  console.error("unhandled error", error);
  return errorResponse(c, 500, "internal_error", "the service failed to handle this request");
}
