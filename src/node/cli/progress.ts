import type { RunEvent } from "../../run/schema.js";

/** A live progress line on a terminal (generation, calls, best score, ETA); one line per generation otherwise. */
export class Progress {
  private started = Date.now();
  private generations = 0;
  private maxCalls = 0;
  private generation = 0;
  private calls = 0;
  private best: number | null = null;
  private finishedGenerations = 0;
  private lastDraw = 0;

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly live = Boolean(out.isTTY),
  ) {}

  handle = (event: RunEvent): void => {
    switch (event.type) {
      case "run_started":
        this.started = Date.now();
        this.generations = event.generations;
        this.maxCalls = event.max_calls;
        this.out.write(
          `Optimizing with ${event.algorithm}: up to ${event.generations} generations of ${event.population_size} candidates over ${event.test_cases} test cases\n`,
        );
        break;
      case "generation_started":
        this.generation = event.generation;
        this.draw(true);
        break;
      case "evaluation":
      case "progress":
        this.calls = event.target_calls;
        this.draw(false);
        break;
      case "generation_finished":
        this.finishedGenerations = event.generation + 1;
        this.best = event.best;
        this.calls = event.target_calls;
        if (this.live) this.draw(true);
        else {
          this.out.write(
            `generation ${event.generation + 1}/${this.generations}: best ${fmt(event.best)}, mean ${fmt(event.mean)}, ${event.calls} calls (${event.target_calls} in all)\n`,
          );
        }
        break;
      case "run_finished":
        if (this.live) this.out.write("\n");
        this.out.write(
          `Done in ${seconds(Date.now() - this.started)}: ${event.target_calls} target calls, stopped by ${event.stop_reason.replace(/_/g, " ")}\n`,
        );
        break;
    }
  };

  /** Remaining time from the pace so far, assuming later generations cost what earlier ones did. */
  private eta(): string {
    const elapsed = Date.now() - this.started;
    if (this.finishedGenerations === 0 || this.calls === 0) return "--";
    const perGeneration = this.calls / this.finishedGenerations;
    const remainingCalls = Math.max(0, perGeneration * (this.generations - this.finishedGenerations));
    return seconds((remainingCalls * elapsed) / this.calls);
  }

  private draw(force: boolean): void {
    if (!this.live) return;
    const now = Date.now();
    if (!force && now - this.lastDraw < 80) return;
    this.lastDraw = now;
    const width = 24;
    const done = Math.min(width, Math.round((this.finishedGenerations / Math.max(1, this.generations)) * width));
    const bar = `${"█".repeat(done)}${"░".repeat(width - done)}`;
    const line = `gen ${Math.min(this.generation + 1, this.generations)}/${this.generations} ${bar} ${this.calls}/${this.maxCalls} calls  best ${fmt(this.best)}  ETA ${this.eta()}`;
    this.out.write(`\r${line}\x1b[K`);
  }
}

function fmt(x: number | null): string {
  return x === null ? "--" : x.toFixed(4);
}

function seconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}
