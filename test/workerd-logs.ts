/**
 * The workers project's global setup: it runs in the main vitest process, where @cloudflare/vitest-pool-workers
 * starts workerd and writes each of workerd's log entries to process.stdout or process.stderr (handleStructuredLogs,
 * one write per entry), less those on its list of harmless ones. When a test file ends, the pool closes its
 * WebSocket to the runner and disposes of workerd, and workerd logs
 * "exception = workerd/api/web-socket.c++:821: disconnected: WebSocket peer disconnected": once per file, on a run
 * where everything passed, and it reads as a failure. cloudflare/workers-sdk#13833 adds that message to the pool's
 * list in a release after the pinned 0.15.1, whose wrangler needs Node 22 (this package supports Node 20), and the
 * pool takes no option for its log handling. So exactly that entry is dropped here, and nothing else: any other
 * workerd line, an uncaught exception above all, still shows (issue 16, item 20).
 */

/** The entry as the pool writes it: workerd's exception line for the pool's own socket, then a newline. */
const PEER_DISCONNECTED = /^exception = workerd\/api\/web-socket\.c\+\+:\d+: disconnected: WebSocket peer disconnected\n$/;

const FILTERED = Symbol.for("convergence.workerd-peer-disconnected-filter");

type Write = NodeJS.WriteStream["write"];

function dropPeerDisconnected(stream: NodeJS.WriteStream): void {
  const marked = stream as NodeJS.WriteStream & { [FILTERED]?: true };
  // In watch mode a changed config restarts vitest in the same process and runs this again: one filter is enough.
  if (marked[FILTERED]) return;
  marked[FILTERED] = true;
  const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
  stream.write = ((chunk: unknown, ...rest: unknown[]) => {
    if (typeof chunk === "string" && PEER_DISCONNECTED.test(chunk)) {
      // Whoever passed a callback still hears that the write is done.
      const callback = rest.find((arg) => typeof arg === "function") as (() => void) | undefined;
      callback?.();
      return true;
    }
    return write(chunk, ...rest);
  }) as Write;
}

// Left in place, with no teardown: vitest's close() runs the global teardowns before it closes the pool, and the
// pool disposes of the last file's workerd then, which logs the same entry.
export default function setup(): void {
  dropPeerDisconnected(process.stdout);
  dropPeerDisconnected(process.stderr);
}
