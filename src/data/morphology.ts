/**
 * Binary morphology on masks (1 = set), in linear time: a two-pass chamfer distance (3-4 weights, /3 = pixels)
 * thresholded at a radius gives a disc-like dilation or erosion of any radius at the same cost.
 */

/** Chamfer distance (in pixels, 3-4 metric) from every pixel to the nearest set pixel; 0 on set pixels. */
export function distanceToSet(mask: Uint8Array, W: number, H: number): Float32Array {
  const INF = 1e9;
  const d = new Float32Array(W * H);
  for (let i = 0; i < d.length; i++) d[i] = mask[i] ? 0 : INF;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = y * W + x;
      let v = d[i];
      if (v === 0) continue;
      if (x > 0) v = Math.min(v, d[i - 1] + 3);
      if (y > 0) {
        v = Math.min(v, d[i - W] + 3);
        if (x > 0) v = Math.min(v, d[i - W - 1] + 4);
        if (x < W - 1) v = Math.min(v, d[i - W + 1] + 4);
      }
      d[i] = v;
    }
  }
  for (let y = H - 1; y >= 0; y--) {
    for (let x = W - 1; x >= 0; x--) {
      const i = y * W + x;
      let v = d[i];
      if (v === 0) continue;
      if (x < W - 1) v = Math.min(v, d[i + 1] + 3);
      if (y < H - 1) {
        v = Math.min(v, d[i + W] + 3);
        if (x < W - 1) v = Math.min(v, d[i + W + 1] + 4);
        if (x > 0) v = Math.min(v, d[i + W - 1] + 4);
      }
      d[i] = v;
    }
  }
  for (let i = 0; i < d.length; i++) d[i] /= 3;
  return d;
}

/** The mask grown by `radius` pixels. */
export function dilate(mask: Uint8Array, W: number, H: number, radius: number): Uint8Array {
  if (radius <= 0) return mask.slice();
  const d = distanceToSet(mask, W, H);
  const out = new Uint8Array(W * H);
  for (let i = 0; i < out.length; i++) out[i] = d[i] <= radius ? 1 : 0;
  return out;
}

/** The mask shrunk by `radius` pixels (pixels outside the image count as unset). */
export function erode(mask: Uint8Array, W: number, H: number, radius: number): Uint8Array {
  if (radius <= 0) return mask.slice();
  const inv = new Uint8Array(W * H);
  for (let i = 0; i < inv.length; i++) inv[i] = mask[i] ? 0 : 1;
  const d = distanceToSet(inv, W, H);
  const out = new Uint8Array(W * H);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = y * W + x;
      const edge = Math.min(x + 1, y + 1, W - x, H - y);
      out[i] = mask[i] && d[i] > radius && edge > radius ? 1 : 0;
    }
  }
  return out;
}
