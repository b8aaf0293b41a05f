import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { type ConfigIssue, fromZodIssues } from "../../src/config/issues.js";

/** DESIGN.md's error format: {"error": {"code", "message", "details"}}. */
export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.string(),
      message: z.string(),
      details: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
    }),
  })
  .openapi("Error");

export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly details?: ConfigIssue[],
  ) {
    super(message);
  }
}

export function errorResponse(c: Context, status: ContentfulStatusCode, code: string, message: string, details?: ConfigIssue[]): Response {
  return c.json({ error: { code, message, ...(details && details.length > 0 ? { details } : {}) } }, status);
}

/** A JSON response of a route, for the API description. */
export const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { "application/json": { schema } } });

/** Responses every route may give, for the API description. */
export const errorResponses = Object.fromEntries(
  [
    [400, "Malformed or invalid request"],
    [401, "Missing or wrong API key"],
    [404, "Unknown system, decision or route"],
    [409, "Not in a state that allows this"],
    [413, "Body too large"],
  ].map(([status, description]) => [
    status,
    { description: description as string, content: { "application/json": { schema: ErrorSchema } } },
  ]),
);

/** zod-openapi's hook: a request that fails its schema answers 400 with every problem and its path. */
export function validationHook(
  result: { success: boolean; error?: { issues: z.core.$ZodIssue[] }; target?: string },
  c: Context,
): Response | undefined {
  if (result.success || !result.error) return undefined;
  const where = result.target === "json" ? "" : (result.target ?? "");
  const details = fromZodIssues(result.error.issues, where === "param" ? "" : where);
  const summary = details.map((d) => (d.path ? `${d.path}: ${d.message}` : d.message)).join("; ");
  return errorResponse(c, 400, "invalid_request", summary, details);
}

/** Every error leaves as the error format: never a stack trace, never an HTML page. */
export function onError(error: Error, c: Context): Response {
  if (error instanceof ApiError) return errorResponse(c, error.status, error.code, error.message, error.details);
  if (error instanceof HTTPException) {
    const status = error.status as ContentfulStatusCode;
    if (status === 413) return errorResponse(c, 413, "body_too_large", error.message || "request body is too large");
    if (status === 400 && /json/i.test(error.message)) return errorResponse(c, 400, "malformed_json", "the request body is not valid JSON");
    return errorResponse(c, status, status === 401 ? "unauthorized" : "bad_request", error.message || "bad request");
  }
  console.error("unhandled error", error);
  return errorResponse(c, 500, "internal_error", "the service failed to handle this request");
}
