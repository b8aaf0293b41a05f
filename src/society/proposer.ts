/**
 * RLP, the society's reasoning proposer: an LLM reads the brief of the run so far and proposes whole candidates,
 * new text for text parameters above all. What it answers is only a suggestion: the study conforms each candidate
 * to the search space and drops the rest (Study.suggest), so a malformed answer costs a call, never the run.
 */
import type { ChatMessage, Provider, Sampling } from "../evaluate/providers.js";
import type { Brief } from "./brief.js";
import { renderBrief } from "./brief.js";

interface Proposal {
  /** Candidate configs as proposed (not yet checked against the space). */
  candidates: unknown[];
  cost_usd: number;
  /** The reply held no readable list of candidates. */
  malformed: boolean;
}

export interface Proposer {
  propose(brief: Brief, signal?: AbortSignal): Promise<Proposal>;
}

const INSTRUCTIONS = `You help tune the configuration of an API (an LLM feature or a retrieval service) by experiment.
You get the parameters, the metrics, the best and worst configurations tried with their scores (0 to 1, higher is
better), and the best configuration's weakest test cases with the start of its answers.
Propose new configurations that could score higher. A text parameter (a prompt, an instruction) takes new text:
rewrite it to fix what the weakest answers get wrong. Every other parameter stays within its range or choices.
Do not repeat a configuration already tried.
Reply with only a JSON object: {"candidates": [{"<parameter>": <value>, ...}, ...]}.`;

function proposerMessages(brief: Brief, secrets: readonly string[]): ChatMessage[] {
  return [
    { role: "system", content: INSTRUCTIONS },
    { role: "user", content: `Propose ${brief.wanted} configurations.\n\n${renderBrief(brief, secrets)}` },
  ];
}

/** The candidates of a reply: a JSON object with a `candidates` list (or a bare list), fenced or not. */
export function parseCandidates(reply: string): unknown[] | null {
  const start = reply.search(/[[{]/);
  const end = Math.max(reply.lastIndexOf("}"), reply.lastIndexOf("]"));
  if (start === -1 || end < start) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(reply.slice(start, end + 1));
  } catch {
    return null;
  }
  const list = Array.isArray(parsed) ? parsed : (parsed as { candidates?: unknown })?.candidates;
  if (!Array.isArray(list)) return null;
  // A candidate may come wrapped as {params: {...}, why: "..."}.
  return list.map((c) => (c && typeof c === "object" && "params" in c ? (c as { params: unknown }).params : c));
}

/** The proposer over a chat model (society.llm). */
export function llmProposer(provider: Provider, secrets: readonly string[], sampling: Sampling): Proposer {
  return {
    async propose(brief, signal) {
      const reply = await provider.chat(proposerMessages(brief, secrets), { json: true, sampling, ...(signal ? { signal } : {}) });
      const candidates = parseCandidates(reply.text);
      return { candidates: candidates ?? [], cost_usd: reply.cost_usd, malformed: candidates === null };
    },
  };
}
