/**
 * The Beta distribution's density and CDF, for computing selection probabilities exactly instead of by Monte Carlo:
 * log-gamma by Lanczos (g = 7), the regularized incomplete beta by Lentz's continued fraction (Numerical Recipes,
 * betai/betacf), and 16-point Gauss-Legendre quadrature.
 */
const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905,
  -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

export function logGamma(x: number): number {
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
export function betaCdf(x: number, a: number, b: number, lbeta = logBeta(a, b)): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(a * Math.log(x) + b * Math.log(1 - x) - lbeta);
  if (x < (a + 1) / (a + b + 2)) return (front * continuedFraction(a, b, x)) / a;
  return 1 - (front * continuedFraction(b, a, 1 - x)) / b;
}

export function betaDensity(x: number, a: number, b: number, lbeta = logBeta(a, b)): number {
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
export function integrate(f: (x: number) => number, lo: number, hi: number, panels: number): number {
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

/**
 * P(arm `index` draws the highest sample) under independent Beta posteriors:
 * ∫ f_index(x) Π_{j≠index} F_j(x) dx, over the region where arm `index`'s density lives.
 */
export function probabilityOfHighestSample(arms: readonly { alpha: number; beta: number }[], index: number): number {
  const own = arms[index];
  if (!own) return 0;
  if (arms.length === 1) return 1;
  const a = Math.max(own.alpha, 1e-6);
  const b = Math.max(own.beta, 1e-6);
  const mean = a / (a + b);
  const sd = Math.sqrt((a * b) / ((a + b) ** 2 * (a + b + 1)));
  const lo = Math.max(0, mean - 10 * sd);
  const hi = Math.min(1, mean + 10 * sd);
  const ownLogBeta = logBeta(a, b);
  const others = arms
    .filter((_, j) => j !== index)
    .map((arm) => {
      const oa = Math.max(arm.alpha, 1e-6);
      const ob = Math.max(arm.beta, 1e-6);
      return [oa, ob, logBeta(oa, ob)] as const;
    });
  const value = integrate(
    (x) => {
      let product = betaDensity(x, a, b, ownLogBeta);
      for (const [oa, ob, lb] of others) {
        if (product < 1e-300) return 0;
        product *= betaCdf(x, oa, ob, lb);
      }
      return product;
    },
    lo,
    hi,
    4,
  );
  return Math.min(1, Math.max(0, value));
}
