/**
 * Eigendecomposition of a symmetric matrix by cyclic Jacobi rotations: CMA-ES needs C = B diag(d) B^T once per
 * generation to sample from N(m, sigma^2 C) and to whiten its evolution path. A search space holds at most 100
 * numeric parameters, where a few sweeps cost milliseconds; Jacobi is short, exact to rounding and has no
 * failure modes to handle.
 */
export interface Eigen {
  /** Eigenvalues. */
  values: number[];
  /** Eigenvectors as columns: vectors[i][k] is component i of eigenvector k. */
  vectors: number[][];
}

export function symmetricEigen(matrix: readonly (readonly number[])[]): Eigen {
  const n = matrix.length;
  const a = matrix.map((row) => [...row]);
  const v = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));
  for (let sweep = 0; sweep < 50; sweep++) {
    let off = 0;
    let scale = 0;
    for (let i = 0; i < n; i++) {
      const ai = a[i] as number[];
      scale += (ai[i] as number) ** 2;
      for (let j = i + 1; j < n; j++) off += (ai[j] as number) ** 2;
    }
    // Converged to rounding: the off-diagonal mass is a negligible share of the diagonal's.
    if (off <= 1e-24 * Math.max(scale, 1e-300)) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const ap = a[p] as number[];
        const aq = a[q] as number[];
        const apq = ap[q] as number;
        // A rotation this small changes nothing the sampling could see, and costs three passes over the matrix.
        if (Math.abs(apq) <= 1e-15 * Math.sqrt(Math.abs((ap[p] as number) * (aq[q] as number)))) continue;
        const theta = ((aq[q] as number) - (ap[p] as number)) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const ak = a[k] as number[];
          const akp = ak[p] as number;
          const akq = ak[q] as number;
          ak[p] = c * akp - s * akq;
          ak[q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const akp = ap[k] as number;
          const akq = aq[k] as number;
          ap[k] = c * akp - s * akq;
          aq[k] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const vk = v[k] as number[];
          const vkp = vk[p] as number;
          const vkq = vk[q] as number;
          vk[p] = c * vkp - s * vkq;
          vk[q] = s * vkp + c * vkq;
        }
      }
    }
  }
  return { values: a.map((row, i) => row[i] as number), vectors: v };
}
