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
