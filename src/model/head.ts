/** The classifier head: standardise the pooled features, then one logistic unit. P(COVID) = sigmoid(w.z + b). */

export interface LinearHead {
  /** Per-feature mean and standard deviation of the training views. */
  mean: Float32Array;
  std: Float32Array;
  weight: Float32Array;
  bias: number;
}

export const sigmoid = (z: number): number => (z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z)));

/** The logit of one feature vector (length = head dim) starting at `offset` in `x`. */
export function headLogit(head: LinearHead, x: Float32Array, offset = 0): number {
  const { mean, std, weight } = head;
  let z = head.bias;
  for (let j = 0; j < weight.length; j++) z += weight[j] * ((x[offset + j] - mean[j]) / std[j]);
  return z;
}

/**
 * P(COVID) of an image from the features of its views (view-major, `views` x dim): the mean of the views'
 * probabilities (test-time augmentation).
 */
export function headProbability(head: LinearHead, feats: Float32Array, views: number): number {
  const dim = head.weight.length;
  if (feats.length !== views * dim) throw new Error(`expected ${views} x ${dim} features, got ${feats.length}`);
  let p = 0;
  for (let v = 0; v < views; v++) p += sigmoid(headLogit(head, feats, v * dim));
  return p / views;
}

/**
 * One head whose logit is the mean of the heads' logits (an ensemble of heads trained on other seeds, say): each
 * head is a linear function of the raw features, sum_j (w_j / s_j) x_j + (b - sum_j w_j m_j / s_j), so their mean
 * is one too. It is written on the first head's mean and standard deviation, so it costs what one head costs.
 */
export function averageHeads(heads: readonly LinearHead[]): LinearHead {
  if (heads.length === 0) throw new Error('averageHeads: no head');
  const dim = heads[0].weight.length;
  if (heads.some((h) => h.weight.length !== dim || h.mean.length !== dim || h.std.length !== dim)) throw new Error('averageHeads: heads of different sizes');
  const slope = new Float64Array(dim);
  let intercept = 0;
  for (const h of heads) {
    intercept += h.bias / heads.length;
    for (let j = 0; j < dim; j++) {
      const a = h.weight[j] / h.std[j];
      slope[j] += a / heads.length;
      intercept -= (a * h.mean[j]) / heads.length;
    }
  }
  const { mean, std } = heads[0];
  const weight = new Float32Array(dim);
  let bias = intercept;
  for (let j = 0; j < dim; j++) { weight[j] = slope[j] * std[j]; bias += slope[j] * mean[j]; }
  return { mean, std, weight, bias };
}
