/**
 * A 4-connected flood fill over a w x h picture, for the searches that trace regions a few times per picture (not
 * the per-pixel hot paths, which keep their own run-based labellers). Pure; the caller owns the marks.
 */

/**
 * Fills from `seeds`. `enter(j)` is asked once for each seed and for each in-picture neighbour of every pixel taken
 * (left, right, up, down); it returns true to take j and must then mark j, so that j is never taken twice. Pixels
 * are taken depth first, from one stack; `onTake(i)`, when given, sees them in that order. `stack`: scratch of at
 * least w x h entries, to reuse between fills. Returns the number of pixels taken.
 */
export function flood4(
  w: number, h: number, seeds: ArrayLike<number>, enter: (j: number) => boolean,
  onTake?: (i: number) => void, stack: Int32Array = new Int32Array(w * h),
): number {
  const n = w * h;
  let top = 0, taken = 0;
  for (let k = 0; k < seeds.length; k++) if (enter(seeds[k])) stack[top++] = seeds[k];
  while (top > 0) {
    const i = stack[--top], x = i % w;
    taken++;
    onTake?.(i);
    if (x > 0 && enter(i - 1)) stack[top++] = i - 1;
    if (x < w - 1 && enter(i + 1)) stack[top++] = i + 1;
    if (i >= w && enter(i - w)) stack[top++] = i - w;
    if (i + w < n && enter(i + w)) stack[top++] = i + w;
  }
  return taken;
}
