import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import { PingSchema } from "../../src/keys/schema.js";
import { VERSION } from "../../src/version.js";
import type { Env } from "../env";
import { requireApiKey } from "./auth";
import { DOCS_PAGE_HEADERS, docsPage } from "./docs";
import { errorResponses, json, notFoundOrNotAllowed, onError, validationHook } from "./errors";
import { bodyLimit, jsonDepthLimit } from "./limits";
import { describeApi, OPENAPI_DOCUMENT } from "./openapi";
import { evaluateApp } from "./routes/evaluate";
import { exportApp } from "./routes/export";
import { keysApp } from "./routes/keys";
import { logApp } from "./routes/log";
import { runsApp } from "./routes/runs";
import { runtimeApp } from "./routes/runtime";
import { systemsApp } from "./routes/systems";
import { usersApp } from "./routes/users";

export const app = new OpenAPIHono<{ Bindings: Env }>({ defaultHook: validationHook });

app.onError(onError);
app.notFound(notFoundOrNotAllowed(() => app.routes));

app.get("/healthz", (c) => c.json({ ok: true, service: "convergence", version: VERSION }));

app.use("/v1/*", requireApiKey);
app.use("/v1/*", bodyLimit);
app.use("/v1/*", jsonDepthLimit);

/** Authenticated and does nothing else: the baseline of the runtime benchmark. */
app.openapi(
  createRoute({
    method: "get",
    path: "/v1/ping",
    summary: "Check the API key (does nothing else)",
    responses: {
      200: json(PingSchema, "The key is good"),
      ...errorResponses,
    },
  }),
  (c) => c.json({ ok: true }, 200),
);

// Each group declares its routes with their schemas; mounting merges them into this app and its description.
app.route("/", systemsApp).route("/", runtimeApp).route("/", evaluateApp).route("/", exportApp).route("/", runsApp).route("/", keysApp);
app.route("/", usersApp).route("/", logApp);
describeApi(app);
app.get("/docs", (c) => c.html(docsPage(app.getOpenAPIDocument(OPENAPI_DOCUMENT)), 200, DOCS_PAGE_HEADERS));
