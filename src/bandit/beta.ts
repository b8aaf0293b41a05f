/**
 * Beta sampling for Thompson sampling: Beta(a, b) = X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b), and Gamma by
 * Marsaglia and Tsang's squeeze method (2000), boosted for shapes below 1. `random` is any uniform [0, 1) source:
 * Math.random at runtime, a seeded Rng in tests.
 */
import { z } from "zod";

export type Uniform = () => number;

/** A 95% interval, as the runtime's answers and offline evaluation's estimates show it. */
export const IntervalSchema = z.object({ lower: z.number(), upper: z.number() });
export type Interval = z.output<typeof IntervalSchema>;

function standardNormal(random: Uniform): number {
  const u = 1 - random();
  const v = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

export function gammaSample(shape: number, random: Uniform = Math.random): number {
  if (!(shape > 0)) throw new RangeError(`gamma shape must be positive, got ${shape}`);
  if (shape < 1) {
    // Gamma(a) = Gamma(a + 1) * U^(1/a)
    const u = 1 - random();
    return gammaSample(shape + 1, random) * u ** (1 / shape);
  }
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = standardNormal(random);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = 1 - random();
    if (u < 1 - 0.0331 * x ** 4) return d * v;
    if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

export function betaSample(alpha: number, beta: number, random: Uniform = Math.random): number {
  const x = gammaSample(Math.max(alpha, 1e-6), random);
  const y = gammaSample(Math.max(beta, 1e-6), random);
  const total = x + y;
  // Both draws can underflow to 0 for tiny shapes: fall back to the mean.
  return total > 0 ? x / total : alpha / (alpha + beta);
}

export function betaMean(alpha: number, beta: number): number {
  return alpha / (alpha + beta);
}

/** The seed's 95% interval: mean ± 1.96 sd of Beta(α, β), clipped to [0, 1]. */
export function betaInterval(alpha: number, beta: number): Interval {
  const mean = betaMean(alpha, beta);
  const total = alpha + beta;
  const sd = Math.sqrt((alpha * beta) / (total * total * (total + 1)));
  return { lower: Math.max(0, mean - 1.96 * sd), upper: Math.min(1, mean + 1.96 * sd) };
}
