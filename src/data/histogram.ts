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

/**
 * The value at index floor(p x (n - 1)) of the first n keys sorted ascending (NaN when n is 0), for integer keys
 * in [0, 2^17): two 512-bin histograms (the high bits, then the low bits within the chosen bin) instead of a sort.
 */
export function keyQuantile(keys: Int32Array, n: number, p: number): number {
  if (n === 0) return NaN;
  const target = Math.floor(p * (n - 1));
  const high = new Uint32Array(512);
  for (let i = 0; i < n; i++) {
    const k = keys[i];
    if (k < 0 || k >= 1 << 17 || k !== Math.floor(k)) throw new RangeError(`keyQuantile takes integer keys in [0, 2^17), got ${k}`);
    high[k >> 8]++;
  }
  let acc = 0, bin = 0;
  while (acc + high[bin] <= target) acc += high[bin++];
  const low = new Uint32Array(256);
  for (let i = 0; i < n; i++) if (keys[i] >> 8 === bin) low[keys[i] & 255]++;
  let v = 0;
  while (acc + low[v] <= target) acc += low[v++];
  return (bin << 8) | v;
}
