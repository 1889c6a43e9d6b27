/** "Did you mean" for mistyped commands and options: the nearest known word by edit distance. */

/** Levenshtein distance with adjacent transpositions counted as one edit (`predcit` is 1 from `predict`). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/**
 * The known word nearest to `typed`, if it is close enough to be a typo: at most 1 edit for words of up to
 * 4 letters, 2 up to 8, 3 beyond (a wild guess helps nobody). A known word that starts with `typed` also counts.
 */
export function nearest(typed: string, known: readonly string[]): string | undefined {
  const t = typed.toLowerCase();
  const budget = t.length <= 4 ? 1 : t.length <= 8 ? 2 : 3;
  let best: { word: string; d: number } | undefined;
  for (const word of known) {
    const d = word.startsWith(t) && t.length >= 3 ? 0.5 : editDistance(t, word.toLowerCase());
    if (d <= budget && (!best || d < best.d)) best = { word, d };
  }
  return best?.word;
}
