/**
 * A local provider double: an HTTP server on 127.0.0.1 that speaks the OpenAI chat-completions and embeddings
 * shapes, for end-to-end tests of real judge, embedding and target calls.
 *   POST /v1/chat/completions  a judge request (its system prompt grades answers) gets {"score", "reason"} by a
 *                              fixed rule (10 x the share of the task's words the answer repeats); any other
 *                              request is a target call, whose answer repeats more of the prompt the closer
 *                              `temperature` is to 0.3.
 *   POST /v1/embeddings        64-dimension hashed bag-of-words vectors, so cosine tracks shared words.
 * Failures can be injected on target calls: every `failEvery`-th one fails as a 500, a 429 with Retry-After, or no
 * reply until the client gives up (its timeout, however long it takes), in turn. Requests are counted by kind, and judge prompts recorded.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { json, startServer } from "./server.js";

export interface ProviderOptions {
  /** Fail one target call in this many (0: never). */
  failEvery?: number;
  /** The key the double requires, when set. */
  key?: string;
  latencyMs?: number;
}

export interface ProviderDouble {
  url: string;
  counts: { target: number; judge: number; embeddings: number; failures: { status500: number; status429: number; slow: number } };
  judgePrompts: string[];
  requests: { path: string; headers: IncomingMessage["headers"]; body: string }[];
  close(): Promise<void>;
}

const words = (text: string) => text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];

function hashWord(word: string): number {
  let h = 2166136261;
  for (let i = 0; i < word.length; i++) h = Math.imul(h ^ word.charCodeAt(i), 16777619) >>> 0;
  return h % 64;
}

function embed(text: string): number[] {
  const v = new Array<number>(64).fill(0);
  for (const w of words(text)) v[hashWord(w)] = (v[hashWord(w)] as number) + 1;
  return v;
}

function chat(content: string, model: string, prompt: number, completion: number) {
  return {
    id: "chatcmpl-double",
    object: "chat.completion",
    model,
    choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
    usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion },
  };
}

export async function startProvider(options: ProviderOptions = {}): Promise<ProviderDouble> {
  const counts = { target: 0, judge: 0, embeddings: 0, failures: { status500: 0, status429: 0, slow: 0 } };
  const judgePrompts: string[] = [];
  const requests: ProviderDouble["requests"] = [];
  const server = await startServer(async (req, res: ServerResponse) => {
    requests.push({ path: req.url, headers: req.headers, body: req.body });
    if (options.latencyMs) await new Promise((resolve) => setTimeout(resolve, options.latencyMs));
    if (options.key && req.headers.authorization !== `Bearer ${options.key}`)
      return json(res, 401, { error: { message: "invalid api key" } });
    const body = JSON.parse(req.body || "{}");
    if (req.url.startsWith("/v1/embeddings")) {
      counts.embeddings += 1;
      const inputs: string[] = Array.isArray(body.input) ? body.input : [body.input];
      return json(res, 200, {
        object: "list",
        data: inputs.map((text, index) => ({ object: "embedding", index, embedding: embed(String(text)) })),
        model: body.model,
        usage: { prompt_tokens: inputs.join(" ").length / 4, total_tokens: inputs.join(" ").length / 4 },
      });
    }
    const messages: { role: string; content: string }[] = body.messages ?? [];
    const system = messages.find((m) => m.role === "system")?.content ?? "";
    if (system.includes("You grade")) {
      counts.judge += 1;
      const user = messages.find((m) => m.role === "user")?.content ?? "";
      judgePrompts.push(user);
      const task = words(user.split("## Requirements")[0] ?? "");
      const answer = new Set(words(user.split("## Answer to grade")[1] ?? ""));
      const score = task.length === 0 ? 5 : Math.round((10 * task.filter((w) => answer.has(w)).length) / task.length);
      return json(res, 200, chat(JSON.stringify({ score, reason: `repeats ${score * 10}% of the task` }), body.model, 200, 20));
    }
    counts.target += 1;
    if (options.failEvery && counts.target % options.failEvery === 0) {
      const mode = (counts.target / options.failEvery) % 3;
      if (mode === 0) {
        counts.failures.status500 += 1;
        return json(res, 500, { error: { message: "internal error" } });
      }
      if (mode === 1) {
        counts.failures.status429 += 1;
        return json(res, 429, { error: { message: "rate limited" } }, { "retry-after": "0" });
      }
      // A reply slower than any timeout: none, until the client closes the connection (or the double stops).
      counts.failures.slow += 1;
      await new Promise((resolve) => res.once("close", resolve));
      return;
    }
    const prompt = words(messages.map((m) => m.content).join(" "));
    const temperature = typeof body.temperature === "number" ? body.temperature : 1;
    const keep = Math.max(0, Math.min(prompt.length, Math.round(prompt.length * (1 - Math.abs(temperature - 0.3)))));
    const content = `Answer: ${prompt.slice(0, keep).join(" ")}.`;
    return json(res, 200, chat(content, body.model ?? "gpt-4o-mini", prompt.length * 2, keep * 2 + 3));
  });
  return { url: server.url, counts, judgePrompts, requests: requests as ProviderDouble["requests"], close: server.close };
}
