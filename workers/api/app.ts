import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import { VERSION } from "../../src/version.js";
import type { Env } from "../env";
import { requireApiKey } from "./auth";
import { docsPage } from "./docs";
import { ApiError, errorResponse, onError, validationHook } from "./errors";
import { describeApi, OPENAPI_DOCUMENT } from "./openapi";
import { evaluateRoutes } from "./routes/evaluate";
import { runRoutes } from "./routes/runs";
import { runtimeRoutes } from "./routes/runtime";
import { systemRoutes } from "./routes/systems";

/**
 * Bodies above these are refused with 413 before they are parsed: runtime calls are small; a run's config carries
 * its test cases, and its coordinator keeps it in one SQLite row (at most 2 MB).
 */
export const MAX_BODY_BYTES = { runtime: 256 * 1024, runs: 1024 * 1024 } as const;

const limit = (maxSize: number) =>
  bodyLimit({
    maxSize,
    onError: () => {
      throw new ApiError(413, "body_too_large", `request bodies here are limited to ${maxSize / 1024} KiB`);
    },
  });

export const app = new OpenAPIHono<{ Bindings: Env }>({ defaultHook: validationHook });

app.onError(onError);
app.notFound((c) => errorResponse(c, 404, "not_found", `no route ${c.req.method} ${new URL(c.req.url).pathname}`));

app.get("/healthz", (c) => c.json({ ok: true, service: "convergence", version: VERSION }));

app.use("/v1/*", requireApiKey);
app.use("/v1/systems/*", limit(MAX_BODY_BYTES.runtime));
app.use("/v1/runs", limit(MAX_BODY_BYTES.runs));
app.use("/v1/runs/*", limit(MAX_BODY_BYTES.runtime));

/** Authenticated and does nothing else: the baseline of the runtime benchmark. */
app.openapi(
  createRoute({
    method: "get",
    path: "/v1/ping",
    summary: "Check the API key (does nothing else)",
    responses: { 200: { description: "The key is good", content: { "application/json": { schema: z.object({ ok: z.boolean() }) } } } },
  }),
  (c) => c.json({ ok: true }, 200),
);

systemRoutes(app);
runtimeRoutes(app);
evaluateRoutes(app);
runRoutes(app);
describeApi(app);
app.get("/docs", (c) => c.html(docsPage(app.getOpenAPIDocument(OPENAPI_DOCUMENT))));
