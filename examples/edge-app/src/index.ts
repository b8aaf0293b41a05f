/**
 * An edge app that tunes itself with Convergence. Each `GET /` asks Convergence which params to use for this user
 * (select) and answers with them; `POST /feedback` later reports how that went (update), in the background. When
 * Convergence is slow or down the app answers anyway, with the params it shipped with, and has nothing to report.
 *
 *   GET /            -> {system, arm_id, decision_id, params, fallback}
 *   POST /feedback   {decision_id, reward} -> 202 {reported}
 *
 * The user is the `x-user-id` header, else the `uid` cookie, which GET / sets when there is neither.
 * It imports only the platform-neutral `convergence` entry: no Node APIs, no nodejs_compat.
 */
import { createClient } from "convergence";

interface Env {
  /** The service binding to Convergence (wrangler.toml, [[services]]). */
  CONVERGENCE?: Fetcher;
  /** Instead of the binding: Convergence's public URL. */
  CONVERGENCE_URL?: string;
  /** A runtime key of SYSTEM: a secret (`wrangler secret put`), locally in .dev.vars. */
  CONVERGENCE_API_KEY?: string;
  SYSTEM: string;
  SELECT_TIMEOUT_MS: string;
}

/** What the app does without Convergence: the params it shipped with (the "balanced" arm of system.json). */
const SHIPPED_PARAMS = { style: "balanced", passages: 5, temperature: 0.4 };

const MAX_FEEDBACK_BYTES = 4096;
const MAX_USER_ID_LENGTH = 256;
const UID_COOKIE = /(?:^|;\s*)uid=([0-9a-f-]{36})(?:;|$)/;

/** The client, through the binding unless a URL is set. With neither, every select falls back and logs why. */
function convergence(env: Env) {
  const binding = env.CONVERGENCE;
  return createClient({
    ...(env.CONVERGENCE_URL || !binding
      ? { baseUrl: env.CONVERGENCE_URL ?? "http://convergence.invalid" }
      : { fetch: binding.fetch.bind(binding) }),
    ...(env.CONVERGENCE_API_KEY ? { apiKey: env.CONVERGENCE_API_KEY } : {}),
    timeoutMs: /^[1-9]\d{0,5}$/.test(env.SELECT_TIMEOUT_MS) ? Number(env.SELECT_TIMEOUT_MS) : 250,
    fallback: SHIPPED_PARAMS,
  });
}

const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
  Response.json(body, { status, headers: { "cache-control": "no-store", ...headers } });
const refuse = (status: number, code: string, message: string) => json({ error: { code, message } }, status);

/** This request's user: the header, else the cookie; `cookie` is the Set-Cookie for a new one. */
function userOf(request: Request, mayCreate: boolean): { id: string; cookie?: string } | Response {
  const header = request.headers.get("x-user-id");
  if (header !== null) {
    if (header.length === 0 || header.length > MAX_USER_ID_LENGTH)
      return refuse(400, "invalid_user", `x-user-id must have 1 to ${MAX_USER_ID_LENGTH} characters`);
    return { id: header };
  }
  const cookie = request.headers.get("cookie")?.match(UID_COOKIE)?.[1];
  if (cookie) return { id: cookie };
  if (!mayCreate) return refuse(400, "no_user", "send the x-user-id header, or the uid cookie GET / set");
  const id = crypto.randomUUID();
  const secure = new URL(request.url).protocol === "https:" ? "; Secure" : "";
  return { id, cookie: `uid=${id}; Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax${secure}` };
}

async function page(request: Request, env: Env): Promise<Response> {
  const user = userOf(request, true);
  if (user instanceof Response) return user;
  const selection = await convergence(env).select(env.SYSTEM, { userId: user.id });
  if (selection.fallback) console.warn(`convergence select fell back: ${selection.error.message}`);
  const { arm_id, decision_id, params, fallback } = selection;
  return json({ system: env.SYSTEM, arm_id, decision_id, params, fallback }, 200, user.cookie ? { "set-cookie": user.cookie } : {});
}

/** The body as text, or null once it passes `limit` bytes (read no further). */
async function boundedText(request: Request, limit: number): Promise<string | null> {
  if (Number(request.headers.get("content-length") ?? 0) > limit) return null;
  if (!request.body) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new TextDecoder().decode(bytes);
}

async function feedback(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
  const user = userOf(request, false);
  if (user instanceof Response) return user;
  if (!request.headers.get("content-type")?.startsWith("application/json"))
    return refuse(415, "unsupported_media_type", "send the feedback as application/json");
  const text = await boundedText(request, MAX_FEEDBACK_BYTES);
  if (text === null) return refuse(413, "too_large", `feedback is at most ${MAX_FEEDBACK_BYTES} bytes`);
  let body: { decision_id?: unknown; reward?: unknown };
  try {
    body = JSON.parse(text);
  } catch {
    return refuse(400, "invalid_json", "the body is not JSON");
  }
  const { decision_id, reward } = body ?? {};
  if (typeof reward !== "number" || !(reward >= 0 && reward <= 1))
    return refuse(400, "invalid_reward", "reward must be a number from 0 to 1");
  // A fallback answer carried no decision: there is nothing to reward, and nothing went wrong.
  if (decision_id === null) return json({ reported: false, reason: "the answer was a fallback: no decision to reward" }, 202);
  if (typeof decision_id !== "string" || decision_id.length === 0 || decision_id.length > 200)
    return refuse(400, "invalid_decision", "decision_id must be the decision_id GET / answered (or null)");
  // The answer does not wait for Convergence; the runtime keeps the Worker alive until the update is done.
  ctx.waitUntil(
    convergence(env)
      .update(env.SYSTEM, { userId: user.id, decisionId: decision_id, reward })
      .then((result) => {
        if (!result.success) console.warn(`convergence refused the reward of ${decision_id}: ${result.error}`);
      })
      .catch((error: Error) => console.warn(`convergence update failed: ${error.message}`)),
  );
  return json({ reported: true }, 202);
}

export default {
  async fetch(request, env, ctx) {
    const { pathname } = new URL(request.url);
    if (pathname === "/" && request.method === "GET") return page(request, env);
    if (pathname === "/feedback" && request.method === "POST") return feedback(request, env, ctx);
    if (pathname === "/healthz" && request.method === "GET") return new Response("ok");
    if (pathname === "/" || pathname === "/feedback" || pathname === "/healthz")
      return refuse(405, "method_not_allowed", `${request.method} is not allowed on ${pathname}`);
    return refuse(404, "not_found", `no route ${pathname}: GET / or POST /feedback`);
  },
} satisfies ExportedHandler<Env>;
