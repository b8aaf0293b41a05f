import { OpenAPIHono } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import { VERSION } from "../../src/version.js";
import type { Env } from "../env";
import { requireApiKey } from "./auth";
import { ApiError, errorResponse, onError, validationHook } from "./errors";
import { runtimeRoutes } from "./routes/runtime";

/** Bodies above this are refused with 413 before they are parsed. */
export const MAX_BODY_BYTES = 256 * 1024;

export const app = new OpenAPIHono<{ Bindings: Env }>({ defaultHook: validationHook });

app.onError(onError);
app.notFound((c) => errorResponse(c, 404, "not_found", `no route ${c.req.method} ${new URL(c.req.url).pathname}`));

app.get("/healthz", (c) => c.json({ ok: true, service: "convergence", version: VERSION }));

app.use("/v1/*", requireApiKey);
app.use(
  "/v1/*",
  bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: () => {
      throw new ApiError(413, "body_too_large", `request bodies are limited to ${MAX_BODY_BYTES / 1024} KiB`);
    },
  }),
);

/** Authenticated and does nothing else: the baseline of the runtime benchmark. */
app.get("/v1/ping", (c) => c.json({ ok: true }));

runtimeRoutes(app);
