/**
 * Dense symmetric positive definite systems by Cholesky, row-major in Float64Arrays: the Gaussian process
 * (src/optimize/gp.ts) and the context model (src/bandit/contextual.ts) both solve them.
 */

/** Factor the lower triangle of `matrix` into L (L Lᵀ = matrix) in place; false when it is not positive definite. */
export function choleskyInPlace(matrix: Float64Array, n: number): boolean {
  // Row offsets hoisted out of the inner loop (a GP fit's cost is this loop); the sums keep their order.
  for (let j = 0; j < n; j++) {
    const rowJ = j * n;
    let d = matrix[rowJ + j] as number;
    for (let k = 0; k < j; k++) d -= (matrix[rowJ + k] as number) ** 2;
    if (!(d > 0)) return false;
    d = Math.sqrt(d);
    matrix[rowJ + j] = d;
    for (let i = j + 1; i < n; i++) {
      const rowI = i * n;
      let v = matrix[rowI + j] as number;
      for (let k = 0; k < j; k++) v -= (matrix[rowI + k] as number) * (matrix[rowJ + k] as number);
      matrix[rowI + j] = v / d;
    }
  }
  return true;
}

/** log det(L Lᵀ) from the Cholesky factor L: twice the sum of the logs of its diagonal. */
export function logDetFromCholesky(L: Float64Array, n: number): number {
  let logDet = 0;
  for (let i = 0; i < n; i++) logDet += 2 * Math.log(L[i * n + i] as number);
  return logDet;
}

/** L⁻¹b for the lower-triangular L. */
export function forwardSolve(L: Float64Array, n: number, b: ArrayLike<number>): Float64Array {
  const z = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let v = b[i] as number;
    for (let k = 0; k < i; k++) v -= (L[i * n + k] as number) * (z[k] as number);
    z[i] = v / (L[i * n + i] as number);
  }
  return z;
}

/** L⁻ᵀz for the lower-triangular L. */
export function backSolve(L: Float64Array, n: number, z: ArrayLike<number>): Float64Array {
  const x = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let v = z[i] as number;
    for (let k = i + 1; k < n; k++) v -= (L[k * n + i] as number) * (x[k] as number);
    x[i] = v / (L[i * n + i] as number);
  }
  return x;
}

/** (L Lᵀ)⁻¹, column by column. */
export function inverseFromCholesky(L: Float64Array, n: number): Float64Array {
  const inverse = new Float64Array(n * n);
  const unit = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    unit.fill(0);
    unit[k] = 1;
    const column = backSolve(L, n, forwardSolve(L, n, unit));
    for (let i = 0; i < n; i++) inverse[i * n + k] = column[i] as number;
  }
  return inverse;
}
