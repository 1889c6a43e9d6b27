/** Quantiles of 8-bit grey levels from a 256-bin histogram: linear time, no sort (lung stage hot paths). */

/**
 * The grey at quantile p of a histogram of n pixels: the smallest grey whose cumulative count exceeds p x (n - 1)
 * (NaN when n is 0).
 */
export function histogramQuantile(hist: ArrayLike<number>, n: number, p: number): number {
  if (n === 0) return NaN;
  const target = p * (n - 1);
  let acc = 0;
  for (let v = 0; v < 256; v++) {
    acc += hist[v];
    if (acc > target) return v;
  }
  return 255;
}

/** The grey at quantile p of the first n values (a histogram, then histogramQuantile). */
export function greyQuantile(values: Uint8Array, n: number, p: number): number {
  const hist = new Float64Array(256);
  for (let i = 0; i < n; i++) hist[values[i]]++;
  return histogramQuantile(hist, n, p);
}
