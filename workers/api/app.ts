import { Hono } from "hono";
import { VERSION } from "../../src/version.js";
import type { Env } from "../env";

export const app = new Hono<{ Bindings: Env }>();

app.get("/healthz", (c) => c.json({ ok: true, service: "convergence", version: VERSION }));
