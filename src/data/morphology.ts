/**
 * Binary morphology on masks (1 = set), in linear time: a two-pass chamfer distance (3-4 weights, /3 = pixels)
 * thresholded at a radius gives a disc-like dilation or erosion of any radius at the same cost.
 *
 * The passes run on integer chamfer units (3 per pixel) and compare against the largest unit count within the
 * radius, which gives exactly the masks of thresholding the Float32 distance in pixels, without its division pass.
 */

const INF = 1e9;

/** Chamfer distance in integer units (3 per pixel step, 4 per diagonal) to the nearest set pixel; 0 on it. */
function chamferUnits(mask: Uint8Array, W: number, H: number, setValue: 0 | 1): Int32Array {
  const d = new Int32Array(W * H);
  for (let i = 0; i < d.length; i++) d[i] = (mask[i] ? 1 : 0) === setValue ? 0 : INF;
  for (let y = 0; y < H; y++) {
    const row = y * W;
    for (let x = 0; x < W; x++) {
      const i = row + x;
      let v = d[i];
      if (v === 0) continue;
      let c: number;
      if (x > 0 && (c = d[i - 1] + 3) < v) v = c;
      if (y > 0) {
        if ((c = d[i - W] + 3) < v) v = c;
        if (x > 0 && (c = d[i - W - 1] + 4) < v) v = c;
        if (x < W - 1 && (c = d[i - W + 1] + 4) < v) v = c;
      }
      d[i] = v;
    }
  }
  for (let y = H - 1; y >= 0; y--) {
    const row = y * W;
    for (let x = W - 1; x >= 0; x--) {
      const i = row + x;
      let v = d[i];
      if (v === 0) continue;
      let c: number;
      if (x < W - 1 && (c = d[i + 1] + 3) < v) v = c;
      if (y < H - 1) {
        if ((c = d[i + W] + 3) < v) v = c;
        if (x < W - 1 && (c = d[i + W + 1] + 4) < v) v = c;
        if (x > 0 && (c = d[i + W - 1] + 4) < v) v = c;
      }
      d[i] = v;
    }
  }
  return d;
}

/**
 * The largest chamfer unit count u with fround(u / 3) <= radius: `u <= unitsWithin(r)` is exactly the old test
 * `Float32(u / 3) <= r` (the distance was stored as Float32 after the division), for any radius.
 */
function unitsWithin(radius: number): number {
  let u = Math.floor(radius * 3);
  while (u >= 0 && Math.fround(u / 3) > radius) u--;
  while (Math.fround((u + 1) / 3) <= radius) u++;
  return u;
}

/** Chamfer distance (in pixels, 3-4 metric) from every pixel to the nearest set pixel; 0 on set pixels. */
export function distanceToSet(mask: Uint8Array, W: number, H: number): Float32Array {
  const u = chamferUnits(mask, W, H, 1);
  const d = new Float32Array(W * H);
  for (let i = 0; i < d.length; i++) d[i] = u[i] / 3;
  return d;
}

/** The mask grown by `radius` pixels. */
export function dilate(mask: Uint8Array, W: number, H: number, radius: number): Uint8Array {
  return dilateMany(mask, W, H, [radius])[0];
}

/** The mask grown by each of `radii` (one distance transform for all of them). */
export function dilateMany(mask: Uint8Array, W: number, H: number, radii: readonly number[]): Uint8Array[] {
  const d = radii.some((r) => r > 0) ? chamferUnits(mask, W, H, 1) : null;
  return radii.map((radius) => {
    if (radius <= 0 || !d) return mask.slice();
    const max = unitsWithin(radius);
    const out = new Uint8Array(W * H);
    for (let i = 0; i < out.length; i++) out[i] = d[i] <= max ? 1 : 0;
    return out;
  });
}

/** The mask shrunk by `radius` pixels (pixels outside the image count as unset). */
export function erode(mask: Uint8Array, W: number, H: number, radius: number): Uint8Array {
  if (radius <= 0) return mask.slice();
  // Distance to the nearest unset pixel.
  const d = chamferUnits(mask, W, H, 0);
  const max = unitsWithin(radius);
  const out = new Uint8Array(W * H);
  for (let y = 0; y < H; y++) {
    const row = y * W;
    // Pixels within `radius` of the image's edge (edge = min(x + 1, y + 1, W - x, H - y) <= radius) stay unset.
    const ey = Math.min(y + 1, H - y);
    for (let x = 0; x < W; x++) {
      const i = row + x;
      const edge = Math.min(x + 1, ey, W - x);
      out[i] = mask[i] && d[i] > max && edge > radius ? 1 : 0;
    }
  }
  return out;
}
