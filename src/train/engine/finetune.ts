/**
 * The fine-tuning engine: the upper blocks of a MobileNetV2 (from `firstBlock` on, plus the final 1x1 conv
 * when a tap needs it) and the logistic head, trained with tfjs autograd on the wasm backend on top of cached
 * lower-block feature maps (see lower.ts). What is frozen is never run during training.
 *
 * BatchNorm: there is none. The pretrained weights have BN folded into each conv's weight and bias; we train
 * those folded weights and biases directly (a BN layer in eval mode is exactly this affine map), with a small
 * learning rate and weight decay TOWARDS THE PRETRAINED VALUES (L2-SP, Li et al. 2018) rather than towards 0,
 * so the network cannot drift far from the ImageNet solution on 425 images.
 *
 * Head: P(COVID) = sigmoid(b + sum_j w_j (pooled_j - mean_j) / std_j) with mean/std fixed (the training views'
 * statistics of the pretrained features) and w, b initialised from the logistic-regression solution, so step 0
 * is the frozen model and fine-tuning starts from a good point rather than a random head.
 *
 * Optimiser: Adam with decoupled weight decay (towards the start), one learning rate for the convs and one for
 * the head, linear warm-up then cosine decay to 0, label smoothing. Everything deterministic: tfjs-wasm runs on
 * one thread, batches are drawn from seeded streams, and the whole state (weights, Adam moments, step) can be
 * saved to and restored from Float32Arrays bit-exactly (checkpoint.ts).
 */
import { tf } from '../../model/tf-backend.js';
import { blockSpecs, type ConvLayer } from '../../model/mobilenetv2.js';
import type { LinearHead } from '../../model/head.js';
import { TAP_CHANNELS } from '../../model/backbone.js';

/** Which part is trained: blocks firstBlock..17 (as far as the deepest tap needs), features.18 if tapped. */
export interface UpperSpec {
  firstBlock: number;
  taps: string[];
}

export interface FineTuneOptions {
  /** Peak learning rate of the conv layers and of the head. */
  learningRate: number;
  headLearningRate: number;
  /** Decoupled weight decay towards the starting weights, per step, relative to the learning rate. */
  weightDecay: number;
  /** Steps of linear warm-up, and the total steps of the cosine schedule. */
  warmupSteps: number;
  totalSteps: number;
  /** Targets become 1 - s/2 and s/2. */
  labelSmoothing: number;
}

const blockOf = (name: string): number => Number(/^features\.(\d+)/.exec(name)![1]);
const tapBlock = (tap: string): number => Number(/^f(\d+)/.exec(tap)![1]);

/** Indices (in the 52-layer torchvision order) of the convolutions the upper stack trains. */
export function upperLayerIndices(layers: ConvLayer[], spec: UpperSpec): number[] {
  const deepest = Math.max(...spec.taps.map(tapBlock));
  for (const t of spec.taps) {
    if (!TAP_CHANNELS[t]) throw new Error(`unknown feature tap "${t}"`);
    if (tapBlock(t) < spec.firstBlock) throw new Error(`tap ${t} is below the first trained block ${spec.firstBlock}`);
  }
  if (spec.firstBlock < 2 || spec.firstBlock > 17) throw new Error('firstBlock must be 2..17');
  return layers.map((l, i) => [blockOf(l.name), i]).filter(([b]) => b >= spec.firstBlock && b <= deepest).map(([, i]) => i);
}

/** Shape [H, W, C] of the cached input (output of block firstBlock-1) at a given network input size. */
export function lowerShape(firstBlock: number, inputSize: number): [number, number, number] {
  let s = inputSize / 2;
  const blocks = blockSpecs();
  for (let b = 0; b < firstBlock - 1; b++) s = Math.ceil(s / blocks[b].stride);
  return [s, s, blocks[firstBlock - 2].cout];
}

function convOp(l: ConvLayer, w: tf.Tensor, b: tf.Tensor, x: tf.Tensor4D): tf.Tensor4D {
  const pad: number | [[number, number], [number, number], [number, number], [number, number]] =
    l.kernel !== 3 ? 0 : l.stride === 2 && l.padding === 'keras' ? [[0, 0], [0, 1], [0, 1], [0, 0]] : 1;
  const y = l.kind === 'conv' ? tf.conv2d(x, w as tf.Tensor4D, l.stride, pad) : tf.depthwiseConv2d(x, w as tf.Tensor4D, l.stride, pad);
  const z = tf.add(y, b) as tf.Tensor4D;
  return l.relu6 ? tf.relu6(z) : z;
}

/**
 * Mean-pooled taps [N, dim] of the upper stack. `upper` are the upper layers (upperLayerIndices order) and
 * `params` their [w0, b0, w1, b1, ...] tensors. Works at any spatial size (tests use tiny maps).
 */
export function upperPooled(upper: ConvLayer[], spec: UpperSpec, params: tf.Tensor[], x: tf.Tensor4D): tf.Tensor2D {
  const blocks = blockSpecs();
  const deepest = Math.max(...spec.taps.map(tapBlock));
  const pooled = new Map<string, tf.Tensor>();
  let li = 0;
  const conv = (h: tf.Tensor4D) => { const y = convOp(upper[li], params[2 * li], params[2 * li + 1], h); li++; return y; };
  for (let bi = spec.firstBlock; bi <= Math.min(deepest, 17); bi++) {
    const b = blocks[bi - 1];
    let h = x;
    if (b.expand !== 1) {
      h = conv(h);
      if (spec.taps.includes(`f${bi}.expand`)) pooled.set(`f${bi}.expand`, tf.mean(h, [1, 2]));
    }
    h = conv(h);
    h = conv(h);
    x = b.stride === 1 && b.cin === b.cout ? tf.add(x, h) as tf.Tensor4D : h;
    if (spec.taps.includes(`f${bi}`)) pooled.set(`f${bi}`, tf.mean(x, [1, 2]));
  }
  if (deepest === 18) pooled.set('f18', tf.mean(conv(x), [1, 2]));
  if (li !== upper.length) throw new Error(`upper stack used ${li} of ${upper.length} layers`);
  return tf.concat(spec.taps.map((t) => pooled.get(t)!), 1) as tf.Tensor2D;
}

/** Logits [N] = head on the standardised pooled taps; params = conv params then head weight [dim], bias [1]. */
export function upperLogits(upper: ConvLayer[], spec: UpperSpec, params: tf.Tensor[], mean: tf.Tensor1D, std: tf.Tensor1D, x: tf.Tensor4D): tf.Tensor1D {
  const n = 2 * upper.length;
  const z = tf.div(tf.sub(upperPooled(upper, spec, params.slice(0, n), x), mean), std);
  return tf.add(tf.sum(tf.mul(z, params[n]), 1), params[n + 1]) as tf.Tensor1D;
}

/** Mean binary cross-entropy with logits and label smoothing: softplus(z) - q z. */
export function bceLoss(logits: tf.Tensor1D, y: number[], smoothing: number): tf.Scalar {
  // y may be soft (mixup): q = y (1 - s) + s/2, which is 1 - s/2 and s/2 for hard labels.
  const q = tf.tensor1d(y.map((v) => v * (1 - smoothing) + smoothing / 2));
  return tf.mean(tf.sub(tf.softplus(logits), tf.mul(q, logits))) as tf.Scalar;
}

/** Learning-rate multiplier at step t (0-based): linear warm-up to 1, then cosine to 0 at totalSteps. */
export function lrFactor(t: number, warmup: number, total: number): number {
  if (t < warmup) return (t + 1) / warmup;
  const p = Math.min(1, (t - warmup) / Math.max(1, total - warmup));
  return 0.5 * (1 + Math.cos(Math.PI * p));
}

/** Named Float32Arrays: the whole trainer state, what a checkpoint stores. */
export type TensorState = Record<string, Float32Array>;

export class FineTuner {
  readonly indices: number[];
  readonly upper: ConvLayer[];
  private readonly params: tf.Variable[];
  private readonly start: tf.Tensor[];
  private readonly m: tf.Variable[];
  private readonly v: tf.Variable[];
  private readonly mean: tf.Tensor1D;
  private readonly std: tf.Tensor1D;
  /** Optimiser steps taken. */
  step = 0;

  /**
   * `layers`: all 52 convolutions (only the upper ones are used); `head`: the initial head (its mean/std stay
   * fixed). The starting weights are also the centre of the weight decay.
   */
  constructor(layers: ConvLayer[], readonly spec: UpperSpec, head: LinearHead, readonly opts: FineTuneOptions) {
    this.indices = upperLayerIndices(layers, spec);
    this.upper = this.indices.map((i) => layers[i]);
    const init: tf.Tensor[] = [];
    for (const l of this.upper) {
      init.push(tf.tensor4d(l.weight, l.kind === 'conv' ? [l.kernel, l.kernel, l.cin, l.cout] : [l.kernel, l.kernel, l.cin, 1]));
      init.push(tf.tensor1d(l.bias));
    }
    init.push(tf.tensor1d(head.weight), tf.tensor1d([head.bias]));
    this.start = init;
    this.params = init.map((t) => tf.variable(t, true));
    this.m = init.map((t) => tf.variable(tf.zerosLike(t), false));
    this.v = init.map((t) => tf.variable(tf.zerosLike(t), false));
    this.mean = tf.tensor1d(head.mean);
    this.std = tf.tensor1d(head.std);
  }

  /** One optimiser step on a batch of lower feature maps [n, H, W, C] (flat NHWC) with labels; returns the loss. */
  trainStep(x: Float32Array, shape: [number, number, number], y: number[]): number {
    const n = y.length;
    const { learningRate, headLearningRate, weightDecay, warmupSteps, totalSteps, labelSmoothing } = this.opts;
    const f = lrFactor(this.step, warmupSteps, totalSteps);
    const t = this.step + 1;
    const lossValue = tf.tidy(() => {
      const input = tf.tensor4d(x, [n, ...shape]);
      const { value, grads } = tf.variableGrads(
        () => bceLoss(upperLogits(this.upper, this.spec, this.params, this.mean, this.std, input), y, labelSmoothing),
        this.params,
      );
      const b1 = 0.9, b2 = 0.999, eps = 1e-8;
      const c1 = 1 - Math.pow(b1, t), c2 = 1 - Math.pow(b2, t);
      const nConv = 2 * this.upper.length;
      this.params.forEach((p, k) => {
        const g = grads[p.name];
        const lr = (k < nConv ? learningRate : headLearningRate) * f;
        const m = tf.add(tf.mul(this.m[k], b1), tf.mul(g, 1 - b1));
        const v = tf.add(tf.mul(this.v[k], b2), tf.mul(tf.square(g), 1 - b2));
        this.m[k].assign(m);
        this.v[k].assign(v);
        const update = tf.add(tf.div(tf.div(m, c1), tf.add(tf.sqrt(tf.div(v, c2)), eps)), tf.mul(tf.sub(p, this.start[k]), weightDecay));
        p.assign(tf.sub(p, tf.mul(update, lr)));
      });
      return value.dataSync()[0];
    });
    this.step++;
    return lossValue;
  }

  /** Loss without a step (tests). */
  loss(x: Float32Array, shape: [number, number, number], y: number[]): number {
    return tf.tidy(() => bceLoss(this.logitsTensor(x, shape, y.length), y, this.opts.labelSmoothing).dataSync()[0]);
  }

  private logitsTensor(x: Float32Array, shape: [number, number, number], n: number): tf.Tensor1D {
    return upperLogits(this.upper, this.spec, this.params, this.mean, this.std, tf.tensor4d(x, [n, ...shape]));
  }

  /** Logits of n lower feature maps, in batches. */
  logits(x: Float32Array, shape: [number, number, number], n: number, batch = 32): Float32Array {
    const per = shape[0] * shape[1] * shape[2];
    const out = new Float32Array(n);
    for (let s = 0; s < n; s += batch) {
      const k = Math.min(batch, n - s);
      const z = tf.tidy(() => this.logitsTensor(x.subarray(s * per, (s + k) * per), shape, k).dataSync() as Float32Array);
      out.set(z, s);
    }
    return out;
  }

  /** The 52 convolutions with the trained ones replaced (float32; the untrained ones keep their int8 source). */
  layers(all: ConvLayer[]): ConvLayer[] {
    const out = all.slice();
    this.indices.forEach((idx, k) => {
      const { quant: _q, ...rest } = all[idx];
      out[idx] = { ...rest, weight: this.params[2 * k].dataSync().slice() as Float32Array, bias: this.params[2 * k + 1].dataSync().slice() as Float32Array };
    });
    return out;
  }

  head(): LinearHead {
    const n = 2 * this.upper.length;
    return {
      mean: this.mean.dataSync().slice() as Float32Array, std: this.std.dataSync().slice() as Float32Array,
      weight: this.params[n].dataSync().slice() as Float32Array, bias: this.params[n + 1].dataSync()[0],
    };
  }

  setWeights(ws: Float32Array[]): void {
    if (ws.length !== this.params.length) throw new Error('setWeights: wrong number of arrays');
    this.params.forEach((p, k) => p.assign(tf.tensor(ws[k], p.shape)));
  }

  /** Weights only (for keeping the best epoch). */
  weights(): Float32Array[] {
    return this.params.map((p) => p.dataSync().slice() as Float32Array);
  }

  /** Everything needed to continue training bit-exactly. */
  state(): TensorState {
    const s: TensorState = {};
    this.params.forEach((p, k) => {
      s[`p${k}`] = p.dataSync().slice() as Float32Array;
      s[`m${k}`] = this.m[k].dataSync().slice() as Float32Array;
      s[`v${k}`] = this.v[k].dataSync().slice() as Float32Array;
      s[`s${k}`] = this.start[k].dataSync().slice() as Float32Array;
    });
    s.step = Float32Array.of(this.step);
    return s;
  }

  restore(s: TensorState): void {
    const set = (v: tf.Variable, a: Float32Array | undefined, what: string) => {
      if (!a || a.length !== v.size) throw new Error(`checkpoint: ${what} is missing or has the wrong size`);
      v.assign(tf.tensor(a, v.shape));
    };
    this.params.forEach((p, k) => {
      set(p, s[`p${k}`], `p${k}`);
      set(this.m[k], s[`m${k}`], `m${k}`);
      set(this.v[k], s[`v${k}`], `v${k}`);
      const st = s[`s${k}`];
      if (!st || st.length !== this.start[k].size) throw new Error(`checkpoint: s${k} is missing or has the wrong size`);
      this.start[k].dispose();
      this.start[k] = tf.tensor(st, this.start[k].shape);
    });
    if (!s.step) throw new Error('checkpoint: step is missing');
    this.step = s.step[0];
  }

  dispose(): void {
    for (const t of [...this.params, ...this.start, ...this.m, ...this.v, this.mean, this.std]) t.dispose();
  }
}

/**
 * Mean-pooled taps of the upper stack with the given (e.g. pretrained) weights, for n cached lower maps
 * (flat NHWC): what the logistic head is initialised on.
 */
export function pooledFeatures(layers: ConvLayer[], spec: UpperSpec, x: Float32Array, shape: [number, number, number], n: number, batch = 32): Float32Array[] {
  const upper = upperLayerIndices(layers, spec).map((i) => layers[i]);
  const params: tf.Tensor[] = [];
  for (const l of upper) {
    params.push(tf.tensor4d(l.weight, l.kind === 'conv' ? [l.kernel, l.kernel, l.cin, l.cout] : [l.kernel, l.kernel, l.cin, 1]), tf.tensor1d(l.bias));
  }
  const per = shape[0] * shape[1] * shape[2];
  const out: Float32Array[] = [];
  try {
    for (let s = 0; s < n; s += batch) {
      const k = Math.min(batch, n - s);
      const flat = tf.tidy(() => upperPooled(upper, spec, params, tf.tensor4d(x.subarray(s * per, (s + k) * per), [k, ...shape])).dataSync() as Float32Array);
      const dim = flat.length / k;
      for (let i = 0; i < k; i++) out.push(flat.slice(i * dim, (i + 1) * dim));
    }
  } finally {
    for (const p of params) p.dispose();
  }
  return out;
}
