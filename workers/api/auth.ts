import type { MiddlewareHandler } from "hono";
import type { Env } from "../env";
import { ApiError } from "./errors";

/** Compare in time independent of where the strings differ. */
function sameKey(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

/** Bearer auth on /v1: keys from the CONVERGENCE_API_KEY secret; a worker without a key refuses every call. */
export const requireApiKey: MiddlewareHandler<{ Bindings: Env }> = async (c, next) => {
  const keys = (c.env.CONVERGENCE_API_KEY ?? "")
    .split(",")
    .map((k) => k.trim())
    .filter(Boolean);
  if (keys.length === 0) {
    throw new ApiError(401, "no_api_key_configured", "this deployment has no API key: set the CONVERGENCE_API_KEY secret");
  }
  const header = c.req.header("authorization") ?? "";
  const match = header.match(/^Bearer\s+(.+)$/i);
  if (!match) throw new ApiError(401, "unauthorized", "send the API key as 'Authorization: Bearer <key>'");
  const presented = (match[1] as string).trim();
  if (!keys.some((key) => sameKey(key, presented))) throw new ApiError(401, "unauthorized", "the API key is not valid");
  await next();
};
