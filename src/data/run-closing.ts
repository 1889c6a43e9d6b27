/**
 * The closing of one lung component by a chamfer ball (lungs.ts, step 5), from row runs instead of two distance
 * transforms of its window. The 3-4 chamfer distance between two pixels is 3 max(|dx|, |dy|) + min(|dx|, |dy|)
 * (the two sweeps compute exactly this on a rectangle), so a pixel lies within R units of a set when some row of
 * the ball (ballHalfWidths: one half-width per row offset) holds a pixel of the set within that row's half-width:
 * the dilation of a set of row runs is, per row, the union of the runs of the 2m + 1 rows around it, each widened by
 * its row's half-width (a difference array per row, then a running sum). The closing is then the complement of
 * the same dilation of what the first one left out (with the image's edge, which counts as outside it). The same
 * pixels as the transforms (test/speed4.test.ts against the code before), with far fewer reads: the lungs' rows
 * hold a few runs each. Pure.
 */
import { ballHalfWidths } from './morphology.js';

/** Row runs of one window, by row: row k's runs are starts/ends[rowAt[k] .. rowAt[k + 1]), window coordinates. */
interface WindowRuns { starts: Int32Array; ends: Int32Array; rowAt: Int32Array; n: number }

/** Reusable storage, grown on demand. */
export interface ClosingScratch { a: WindowRuns; am: WindowRuns; b: WindowRuns; bm: WindowRuns; diff: Int32Array; spans: Int32Array }
export const newClosingScratch = (): ClosingScratch => ({ a: newRuns(), am: newRuns(), b: newRuns(), bm: newRuns(), diff: new Int32Array(0), spans: new Int32Array(0) });
const newRuns = (): WindowRuns => ({ starts: new Int32Array(0), ends: new Int32Array(0), rowAt: new Int32Array(0), n: 0 });

function reserve(R: WindowRuns, ww: number, hh: number): void {
  const max = ((ww + 2) >> 1) * hh + 1;
  if (R.starts.length < max) { R.starts = new Int32Array(max); R.ends = new Int32Array(max); }
  if (R.rowAt.length < hh + 1) R.rowAt = new Int32Array(hh + 1);
}

/**
 * Runs of the same row whose gap is at most 2 MERGE_HALF px, merged: widened by MERGE_HALF px or more on each side
 * they overlap or touch, so the merged run widened alike covers exactly their union (a lung's row has many short
 * gaps, its vessels; the merged rows have few runs).
 */
const MERGE_HALF = 3;
function mergeRuns(src: WindowRuns, hh: number, out: WindowRuns): void {
  let n = 0;
  for (let k = 0; k < hh; k++) {
    out.rowAt[k] = n;
    for (let r = src.rowAt[k]; r < src.rowAt[k + 1]; r++) {
      if (n > out.rowAt[k] && src.starts[r] - out.ends[n - 1] <= 2 * MERGE_HALF) out.ends[n - 1] = src.ends[r];
      else { out.starts[n] = src.starts[r]; out.ends[n] = src.ends[r]; n++; }
    }
  }
  out.rowAt[hh] = n; out.n = n;
}

/**
 * Per window row, which pixels lie within the ball (half-widths `a`, rows -m .. m) of a run of `src`: the row's
 * coverage as counts in diff[0 .. ww) (> 0: covered). Rows of the ball outside the window are not read (as paths
 * of the transforms never leave it).
 */
function coverRow(src: WindowRuns, merged: WindowRuns, a: Int32Array, k: number, ww: number, hh: number, diff: Int32Array): void {
  const m = a.length - 1;
  diff.fill(0, 0, ww + 1);
  for (let q = Math.max(0, k - m), qe = Math.min(hh - 1, k + m); q <= qe; q++) {
    const half = a[q < k ? k - q : q - k];
    // Rows widened by MERGE_HALF or more read the merged runs (the same union: see mergeRuns).
    const { starts, ends, rowAt } = half >= MERGE_HALF ? merged : src;
    for (let r = rowAt[q]; r < rowAt[q + 1]; r++) {
      const s = starts[r] - half, e = ends[r] + half;
      diff[s < 0 ? 0 : s]++;
      diff[e > ww ? ww : e]--;
    }
  }
  let run = 0;
  for (let x = 0; x < ww; x++) { run += diff[x]; diff[x] = run; }
}

/**
 * Closing of component `id` (pixels where comp = id, all within `box`) by the chamfer ball of R units within the window [x0, x1) x
 * [y0, y1) of a w x h image, written to out over the window: 1 where the component is, or where the closing adds a
 * pixel that is body and not yet labelled; 0 elsewhere. The window must hold the component and reach at least R / 3
 * + 1 px beyond it on every side where the image does not end (lungs.ts: its box grown by the radius + 1).
 */
export function closeComponent(comp: Int32Array, id: number, box: { x0: number; y0: number; x1: number; y1: number }, body: Uint8Array, labels: Uint8Array, w: number, h: number, x0: number, y0: number, x1: number, y1: number, R: number, out: Uint8Array, scratch: ClosingScratch): void {
  const ww = x1 - x0, hh = y1 - y0;
  const a = ballHalfWidths(R);
  const A = scratch.a, B = scratch.b, Am = scratch.am, Bm = scratch.bm;
  reserve(A, ww, hh); reserve(B, ww, hh); reserve(Am, ww, hh); reserve(Bm, ww, hh);
  if (scratch.diff.length < ww + 1) scratch.diff = new Int32Array(ww + 1);
  const diff = scratch.diff;
  if (scratch.spans.length < 2 * hh) scratch.spans = new Int32Array(2 * hh);
  const spanFrom = scratch.spans.subarray(0, hh), spanTo = scratch.spans.subarray(hh, 2 * hh);
  // The component's runs (read within its box only: it has no pixel elsewhere).
  let n = 0;
  const bx0 = Math.max(x0, box.x0) - x0, bx1 = Math.min(x1, box.x1) - x0;
  for (let k = 0; k < hh; k++) {
    A.rowAt[k] = n;
    const y = y0 + k;
    if (y < box.y0 || y >= box.y1) continue;
    const row = y * w + x0;
    let x = bx0;
    while (x < bx1) {
      while (x < bx1 && comp[row + x] !== id) x++;
      if (x >= bx1) break;
      const xs = x;
      while (x < bx1 && comp[row + x] === id) x++;
      A.starts[n] = xs; A.ends[n] = x; n++;
    }
  }
  A.rowAt[hh] = n; A.n = n;
  mergeRuns(A, hh, Am);
  // What the dilation leaves out, and the image's edge: the runs the second dilation starts from.
  n = 0;
  const leftEdge = x0 === 0, rightEdge = x1 === w;
  for (let k = 0; k < hh; k++) {
    B.rowAt[k] = n;
    const y = y0 + k;
    spanFrom[k] = 0; spanTo[k] = 0;
    if (y === 0 || y === h - 1) {
      // (The whole row is outside the dilation, as the image's edge, but the component's own pixels on it stay.)
      B.starts[n] = 0; B.ends[n] = ww; n++;
      spanTo[k] = ww;
      continue;
    }
    coverRow(A, Am, a, k, ww, hh, diff);
    let f = 0, t = ww;
    while (f < ww && diff[f] <= 0) f++;
    while (t > f && diff[t - 1] <= 0) t--;
    spanFrom[k] = f; spanTo[k] = t;
    let x = 0;
    while (x < ww) {
      // Uncovered pixels (and the image's first and last columns) start a run.
      while (x < ww && diff[x] > 0 && !(x === 0 && leftEdge) && !(x === ww - 1 && rightEdge)) x++;
      if (x >= ww) break;
      const xs = x;
      x++;
      while (x < ww && (diff[x] <= 0 || (x === ww - 1 && rightEdge))) x++;
      B.starts[n] = xs; B.ends[n] = x; n++;
    }
  }
  B.rowAt[hh] = n; B.n = n;
  mergeRuns(B, hh, Bm);
  // The closing: pixels no run of B reaches within the ball.
  // Outside the first dilation's span in a row nothing is closed (the closing lies within the dilation, and so does
  // the component): zero there, the test per pixel only within the span.
  for (let k = 0; k < hh; k++) {
    const row = (y0 + k) * w + x0;
    const from = spanFrom[k], to = spanTo[k];
    if (from >= to) { out.fill(0, row, row + ww); continue; }
    coverRow(B, Bm, a, k, ww, hh, diff);
    if (from > 0) out.fill(0, row, row + from);
    for (let x = from; x < to; x++) {
      const i = row + x;
      out[i] = comp[i] === id || (diff[x] <= 0 && body[i] && !labels[i]) ? 1 : 0;
    }
    if (to < ww) out.fill(0, row + to, row + ww);
  }
}
