import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface Recorded {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
}

export type Handler = (request: Recorded, response: ServerResponse, index: number) => void | Promise<void>;

/** A loopback HTTP server for one test: records every request; close() stops it. */
export async function startServer(handler: Handler): Promise<{ url: string; requests: Recorded[]; close: () => Promise<void> }> {
  const requests: Recorded[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const recorded = { method: req.method ?? "", url: req.url ?? "", headers: req.headers, body: Buffer.concat(chunks).toString("utf8") };
    requests.push(recorded);
    try {
      await handler(recorded, res, requests.length - 1);
    } catch (error) {
      res.statusCode = 599;
      res.end(String(error));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

export const chatCompletion = (content: string, model = "gpt-4o-mini") => ({
  id: "chatcmpl-1",
  object: "chat.completion",
  model,
  choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
  usage: { prompt_tokens: 1000, completion_tokens: 500, total_tokens: 1500 },
});

/**
 * A stand-in that answers every request `{}` only after `afterMs`, or at once when closed: a service too slow for
 * its caller. Records requests as startServer does; `answered()` counts the answers given so far.
 */
export async function startLateServer(
  afterMs: number,
): Promise<{ url: string; requests: Recorded[]; answered: () => number; close: () => Promise<void> }> {
  const held = new Set<() => void>();
  let answered = 0;
  const server = await startServer(async (_request, response) => {
    await new Promise<void>((resolve) => {
      const release = () => {
        clearTimeout(timer);
        held.delete(release);
        resolve();
      };
      const timer = setTimeout(release, afterMs);
      held.add(release);
    });
    if (response.headersSent) return;
    answered += 1;
    response.writeHead(200, { "content-type": "application/json" }).end("{}");
  });
  return {
    ...server,
    answered: () => answered,
    close: async () => {
      for (const release of [...held]) release();
      await server.close();
    },
  };
}
