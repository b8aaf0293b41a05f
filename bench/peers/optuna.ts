/**
 * Optuna (TPE and CMA-ES) measured in the same run as our algorithms: Python processes running
 * bench/peers/optuna_peer.py ask for params over JSON lines, and the problems are evaluated here, in TypeScript,
 * so both sides score exactly the same functions. Sequential trials, as Optuna users run it.
 */
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from "node:child_process";
import { createInterface, type Interface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { ParamConfig } from "../../src/search/space.js";
import type { TestFunction } from "../functions.js";
import type { Trace } from "../optimize-function.js";

export type OptunaSampler = "tpe" | "cmaes";

export interface OptunaJob {
  problem: TestFunction;
  sampler: OptunaSampler;
  seed: number;
  trials: number;
}

const SCRIPT = fileURLToPath(new URL("./optuna_peer.py", import.meta.url));

/** A Python that imports optuna and cmaes: Debian's first (the pyenv python3 first in PATH has neither). */
function findPython(): string | null {
  for (const python of ["/usr/bin/python3", "python3"]) {
    const probe = spawnSync(python, ["-c", "import optuna, cmaes"], { stdio: "ignore", timeout: 60_000 });
    if (probe.status === 0) return python;
  }
  return null;
}

/** One Python process, one job at a time. */
class Peer {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: Interface;
  private readonly waiting: ((line: string | null) => void)[] = [];
  private readonly queued: string[] = [];
  private closed = false;

  constructor(python: string) {
    this.child = spawn(python, ["-u", SCRIPT], { stdio: ["pipe", "pipe", "pipe"] });
    this.child.stderr.resume();
    this.lines = createInterface({ input: this.child.stdout });
    this.lines.on("line", (line) => {
      const next = this.waiting.shift();
      if (next) next(line);
      else this.queued.push(line);
    });
    this.child.on("exit", () => {
      this.closed = true;
      for (const next of this.waiting.splice(0)) next(null);
    });
  }

  private send(message: unknown): void {
    this.child.stdin.write(`${JSON.stringify(message)}\n`);
  }

  private async receive(): Promise<Record<string, unknown>> {
    const line = this.queued.shift() ?? (this.closed ? null : await new Promise<string | null>((resolve) => this.waiting.push(resolve)));
    if (line === null) throw new Error("the Optuna process exited");
    return JSON.parse(line) as Record<string, unknown>;
  }

  async info(): Promise<{ optuna: string; cmaes: string }> {
    this.send({ info: true });
    return (await this.receive()) as { optuna: string; cmaes: string };
  }

  /** The best-so-far trace of one job. */
  async run(job: OptunaJob): Promise<Trace> {
    this.send({ space: job.problem.space, sampler: job.sampler, seed: job.seed, trials: job.trials });
    const trace: Trace = [];
    let best = Number.POSITIVE_INFINITY;
    for (;;) {
      const message = await this.receive();
      if (message.done) return trace;
      const value = job.problem.value(message.params as ParamConfig);
      best = Math.min(best, value);
      trace.push(best);
      this.send({ value });
    }
  }

  kill(): void {
    if (!this.closed) this.child.kill("SIGKILL");
    this.lines.close();
  }
}

export interface OptunaRunner {
  python: string;
  versions: { optuna: string; cmaes: string };
  /** Each job's trace, in the jobs' order (null: the job timed out or its process died). */
  run(jobs: readonly OptunaJob[]): Promise<(Trace | null)[]>;
  close(): void;
}

/**
 * `workers` Python processes serving jobs in parallel, or null when no Python has Optuna. A job that takes more
 * than `jobTimeoutMs` is given up: its process is killed and replaced.
 */
export async function startOptuna(workers = 2, jobTimeoutMs = 180_000): Promise<OptunaRunner | null> {
  const python = findPython();
  if (!python) return null;
  const peers = Array.from({ length: workers }, () => new Peer(python));
  const versions = await (peers[0] as Peer).info();
  return {
    python,
    versions,
    async run(jobs) {
      const results: (Trace | null)[] = jobs.map(() => null);
      let next = 0;
      const worker = async (slot: number) => {
        while (next < jobs.length) {
          const index = next++;
          const job = jobs[index] as OptunaJob;
          const peer = peers[slot] as Peer;
          let timer: NodeJS.Timeout | undefined;
          const timeout = new Promise<null>((resolve) => {
            timer = setTimeout(() => resolve(null), jobTimeoutMs);
          });
          const trace = await Promise.race([peer.run(job).catch(() => null), timeout]);
          clearTimeout(timer);
          if (trace === null) {
            console.error(`Optuna ${job.sampler} on ${job.problem.name} (seed ${job.seed}) failed or timed out`);
            peer.kill();
            peers[slot] = new Peer(python);
          }
          results[index] = trace;
        }
      };
      await Promise.all(peers.map((_, slot) => worker(slot)));
      return results;
    },
    close() {
      for (const peer of peers) peer.kill();
    },
  };
}
