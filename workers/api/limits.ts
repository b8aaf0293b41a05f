/**
 * What every request body may be, checked before any route reads it: its size (413) and how deeply its JSON
 * nests (400). Both hold on every /v1 route, so no route can forget them.
 */
import type { MiddlewareHandler } from "hono";
import { bodyLimit as honoBodyLimit } from "hono/body-limit";
import { formatBytes } from "../../src/config/parse.js";
import { jsonDepth, MAX_JSON_DEPTH } from "../../src/json.js";
import { ApiError } from "./errors";

/**
 * Bodies above these are refused with 413 before they are parsed: runtime calls are small; a run's config carries
 * its test cases, and its coordinator keeps it in one SQLite row (at most 2 MB).
 */
export const MAX_BODY_BYTES = { runtime: 256 * 1024, runs: 1024 * 1024 } as const;

const limit = (maxSize: number) =>
  honoBodyLimit({
    maxSize,
    onError: () => {
      throw new ApiError(413, "body_too_large", `this request's body is limited to ${formatBytes(maxSize)}`);
    },
  });

const limits = { runtime: limit(MAX_BODY_BYTES.runtime), runs: limit(MAX_BODY_BYTES.runs) };

/**
 * Every /v1 request's body is bounded, whether or not a route takes one (a body sent to a path that answers 404
 * or 405 is read no further than the limit either): 1 MiB for a run's config (started or validated), 256 KiB for
 * everything else.
 */
export const bodyLimit: MiddlewareHandler = (c, next) =>
  (c.req.method === "POST" && (c.req.path === "/v1/runs" || c.req.path === "/v1/validate") ? limits.runs : limits.runtime)(c, next);

const WITH_BODY = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/**
 * JSON nested deeper than MAX_JSON_DEPTH is refused before it is parsed: the validators and the code after them
 * recurse per level, and a few KB of brackets would otherwise end in a stack overflow. The body is read once;
 * Hono keeps its bytes, and the route's own c.req.json() or valid("json") decodes those.
 */
export const jsonDepthLimit: MiddlewareHandler = async (c, next) => {
  if (WITH_BODY.has(c.req.method) && /json/i.test(c.req.header("content-type") ?? "")) {
    // Decoded by hand: workerd warns on .text() of a body whose type it does not know as text (application/jsonx,
    // or a list of types), which a client may send; the route answers those itself.
    const text = new TextDecoder().decode(await c.req.arrayBuffer());
    if (jsonDepth(text, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
      throw new ApiError(400, "too_deep", `the request body nests lists and objects more than ${MAX_JSON_DEPTH} levels deep`);
    }
  }
  await next();
};
