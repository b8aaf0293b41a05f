/**
 * The Beta distribution's density and CDF, for computing selection probabilities exactly instead of by Monte Carlo:
 * log-gamma by Lanczos (g = 7), the regularized incomplete beta by Lentz's continued fraction (Numerical Recipes,
 * betai/betacf), and 16-point Gauss-Legendre quadrature.
 */
const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905,
  -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  const z = x - 1;
  let sum = LANCZOS[0] as number;
  for (let i = 1; i < 9; i++) sum += (LANCZOS[i] as number) / (z + i);
  const t = z + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(sum);
}

function logBeta(a: number, b: number): number {
  return logGamma(a) + logGamma(b) - logGamma(a + b);
}

function continuedFraction(a: number, b: number, x: number): number {
  const tiny = 1e-300;
  const qab = a + b;
  const qap = a + 1;
  const qam = a - 1;
  let c = 1;
  let d = 1 - (qab * x) / qap;
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 3e-14) break;
  }
  return h;
}

/** P(X ≤ x) for X ~ Beta(a, b); pass log B(a, b) when calling it many times for one distribution. */
function betaCdf(x: number, a: number, b: number, lbeta = logBeta(a, b)): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(a * Math.log(x) + b * Math.log(1 - x) - lbeta);
  if (x < (a + 1) / (a + b + 2)) return (front * continuedFraction(a, b, x)) / a;
  return 1 - (front * continuedFraction(b, a, 1 - x)) / b;
}

function betaDensity(x: number, a: number, b: number, lbeta = logBeta(a, b)): number {
  if (x <= 0 || x >= 1) return 0;
  return Math.exp((a - 1) * Math.log(x) + (b - 1) * Math.log(1 - x) - lbeta);
}

// 16-point Gauss-Legendre nodes (positive half) and weights on [-1, 1].
const GL_NODES = [
  0.0950125098376374, 0.2816035507792589, 0.4580167776572274, 0.6178762444026438, 0.755404408355003, 0.8656312023878318, 0.9445750230732326,
  0.9894009349916499,
];
const GL_WEIGHTS = [
  0.1894506104550685, 0.1826034150449236, 0.1691565193950025, 0.1495959888165767, 0.1246289712555339, 0.0951585116824928,
  0.0622535239386479, 0.0271524594117541,
];

/** ∫ f over [lo, hi], by composite 16-point Gauss-Legendre on `panels` equal panels. */
function integrate(f: (x: number) => number, lo: number, hi: number, panels: number): number {
  let total = 0;
  const width = (hi - lo) / panels;
  for (let p = 0; p < panels; p++) {
    const mid = lo + (p + 0.5) * width;
    const half = width / 2;
    for (let k = 0; k < GL_NODES.length; k++) {
      const dx = half * (GL_NODES[k] as number);
      total += (GL_WEIGHTS[k] as number) * (f(mid - dx) + f(mid + dx)) * half;
    }
  }
  return total;
}

/** A posterior and whether the exploration bonus lifts its sample: value = min(1, sample + bonus). */
export interface Contender {
  alpha: number;
  beta: number;
  boosted: boolean;
}

interface Prepared {
  a: number;
  b: number;
  lb: number;
  shift: number;
  mean: number;
  sd: number;
}

function prepare(c: Contender, bonus: number): Prepared {
  const a = Math.max(c.alpha, 1e-6);
  const b = Math.max(c.beta, 1e-6);
  return {
    a,
    b,
    lb: logBeta(a, b),
    shift: c.boosted ? bonus : 0,
    mean: a / (a + b),
    sd: Math.sqrt((a * b) / ((a + b) ** 2 * (a + b + 1))),
  };
}

/** P(value < x) for a contender, excluding a boosted one's point mass at 1 (x < 1 here). */
function below(p: Prepared, x: number): number {
  return betaCdf(x - p.shift, p.a, p.b, p.lb);
}

/**
 * P(contender `index` has the highest value; ties, which only happen at 1, go to the first), for independent
 * Beta samples where boosted contenders get min(1, sample + bonus): the seed's exploration bonus.
 *   boosted i:  m_i Π_{boosted j < i} (1 - m_j) + ∫ f_i(x - b) Π_{j≠i} P(value_j < x) dx, with m = P(sample ≥ 1 - b)
 *   other i:    ∫ f_i(x) Π_{j≠i} P(value_j < x) dx
 * The integral runs over the region where arm i's density lives, split where another arm's CDF steps sharply,
 * by composite Gauss-Legendre quadrature.
 */
export function probabilityOfHighestValue(contenders: readonly Contender[], index: number, bonus = 0): number {
  if (!contenders[index]) return 0;
  if (contenders.length === 1) return 1;
  const all = contenders.map((c) => prepare(c, bonus));
  const own = all[index] as Prepared;
  const others = all.filter((_, j) => j !== index);
  const top = own.shift > 0 ? 1 - own.shift : 1;
  let pointMass = 0;
  if (own.shift > 0) {
    pointMass = 1 - betaCdf(1 - own.shift, own.a, own.b, own.lb);
    all.forEach((p, j) => {
      if (j < index && p.shift > 0) pointMass *= betaCdf(1 - p.shift, p.a, p.b, p.lb);
    });
  }
  // Integrate over the sample s of arm i (value x = s + shift), within its own support and below `top`.
  // A Beta with a shape below 1 piles up at its edge, far outside mean ± 10 sd: integrate to that edge.
  const lo = own.a < 1 ? 0 : Math.max(0, own.mean - 10 * own.sd);
  const hi = own.a < 1 || own.b < 1 ? top : Math.min(top, own.mean + 10 * own.sd);
  if (hi <= lo) return Math.min(1, Math.max(0, pointMass));
  const cuts = new Set([lo, hi]);
  for (const p of others) {
    // A concentrated rival's CDF is a step: put panel edges around it so the quadrature does not straddle it.
    if (p.sd * 64 < hi - lo)
      for (const k of [-6, -2, 0, 2, 6]) cuts.add(Math.min(hi, Math.max(lo, p.mean + p.shift - own.shift + k * p.sd)));
  }
  const edges = [...cuts].sort((x, y) => x - y);
  let total = 0;
  for (let e = 0; e + 1 < edges.length; e++) {
    const from = edges[e] as number;
    const to = edges[e + 1] as number;
    if (to - from < 1e-15) continue;
    total += integrate(
      (s) => {
        let product = betaDensity(s, own.a, own.b, own.lb);
        const x = s + own.shift;
        for (const p of others) {
          if (product < 1e-300) return 0;
          product *= below(p, x);
        }
        return product;
      },
      from,
      to,
      edges.length > 2 ? 2 : 4,
    );
  }
  return Math.min(1, Math.max(0, pointMass + total));
}

/** P(arm `index` draws the highest sample) under independent Beta posteriors, no bonus. */
export function probabilityOfHighestSample(arms: readonly { alpha: number; beta: number }[], index: number): number {
  return probabilityOfHighestValue(
    arms.map((a) => ({ alpha: a.alpha, beta: a.beta, boosted: false })),
    index,
  );
}
