/**
 * MobileNetV2 (Sandler et al. 2018, torchvision layout) as plain tfjs ops, with BatchNorm already folded into
 * each convolution's weights and bias. Layers are numbered as torchvision's `features.i`: 0 is the stem,
 * 1..17 the inverted-residual blocks, 18 the final 1x1 conv to 1280 channels.
 */
import * as tf from '@tensorflow/tfjs';

export type ConvKind = 'conv' | 'depthwise';

/** One convolution: weights in tfjs layout ([kh,kw,cin,cout] or depthwise [kh,kw,c,1]), float32. */
export interface ConvLayer {
  /** torchvision-style name, e.g. "features.14.conv.0" (the expansion of block 14). */
  name: string;
  kind: ConvKind;
  kernel: number;
  stride: number;
  cin: number;
  cout: number;
  relu6: boolean;
  /**
   * How a 3x3 stride-2 conv pads: 'symmetric' (torchvision: 1 on every side) or 'keras' (Keras/TF 'same':
   * bottom and right only). Stride-1 convs pad 1 on every side either way. Default symmetric.
   */
  padding?: 'symmetric' | 'keras';
  weight: Float32Array;
  bias: Float32Array;
  /** When the weights came from an int8 file: the exact source (weight = scale[c] * q), stored compactly. */
  quant?: { q: Int8Array; scale: Float32Array };
}

interface BlockSpec { expand: number; cin: number; cout: number; stride: number }

/** The 17 blocks of MobileNetV2 1.0: (t, c, n, s) = (1,16,1,1) (6,24,2,2) (6,32,3,2) (6,64,4,2) (6,96,3,1) (6,160,3,2) (6,320,1,1). */
export function blockSpecs(): BlockSpec[] {
  const table: [number, number, number, number][] = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]];
  const out: BlockSpec[] = [];
  let cin = 32;
  for (const [t, c, n, s] of table) {
    for (let i = 0; i < n; i++) {
      out.push({ expand: t, cin, cout: c, stride: i === 0 ? s : 1 });
      cin = c;
    }
  }
  return out;
}

/** The 52 convolutions in torchvision order, without weights: what a weight source must provide. */
export function convLayout(): Omit<ConvLayer, 'weight' | 'bias'>[] {
  const layers: Omit<ConvLayer, 'weight' | 'bias'>[] = [
    { name: 'features.0', kind: 'conv', kernel: 3, stride: 2, cin: 3, cout: 32, relu6: true },
  ];
  blockSpecs().forEach((b, i) => {
    const f = `features.${i + 1}.conv`;
    const hidden = b.cin * b.expand;
    if (b.expand !== 1) layers.push({ name: `${f}.expand`, kind: 'conv', kernel: 1, stride: 1, cin: b.cin, cout: hidden, relu6: true });
    layers.push({ name: `${f}.depthwise`, kind: 'depthwise', kernel: 3, stride: b.stride, cin: hidden, cout: hidden, relu6: true });
    layers.push({ name: `${f}.project`, kind: 'conv', kernel: 1, stride: 1, cin: hidden, cout: b.cout, relu6: false });
  });
  layers.push({ name: 'features.18', kind: 'conv', kernel: 1, stride: 1, cin: 320, cout: 1280, relu6: true });
  return layers;
}

/**
 * Feature taps a caller may ask for: `f{i}` is the output of features.i, `f{i}.expand` the ReLU6 output of
 * block i's expansion (Keras calls features.14's "block_13_expand_relu"). Shapes at 224 input: f14.expand is
 * 14x14x576, f18 is 7x7x1280.
 */
export type TapName = string;

export interface MobileNetV2 {
  layers: ConvLayer[];
  /** Variables on the tfjs backend, created once. */
  vars: { w: tf.Tensor4D; b: tf.Tensor1D }[];
}

export function buildMobileNetV2(layers: ConvLayer[]): MobileNetV2 {
  const expected = convLayout();
  if (layers.length !== expected.length) throw new Error(`MobileNetV2 needs ${expected.length} convolutions, got ${layers.length}`);
  layers.forEach((l, i) => {
    const e = expected[i];
    if (l.kind !== e.kind || l.cin !== e.cin || l.cout !== e.cout || l.kernel !== e.kernel || l.stride !== e.stride) {
      throw new Error(`convolution ${i} (${e.name}) has the wrong shape: ${l.kind} ${l.cin}->${l.cout} k${l.kernel} s${l.stride}`);
    }
  });
  const vars = layers.map((l) => ({
    w: tf.tensor4d(l.weight, l.kind === 'conv' ? [l.kernel, l.kernel, l.cin, l.cout] : [l.kernel, l.kernel, l.cin, 1]),
    b: tf.tensor1d(l.bias),
  }));
  return { layers, vars };
}

export function disposeMobileNetV2(net: MobileNetV2): void {
  for (const v of net.vars) { v.w.dispose(); v.b.dispose(); }
}

function conv(net: MobileNetV2, i: number, x: tf.Tensor4D): tf.Tensor4D {
  const l = net.layers[i];
  const { w, b } = net.vars[i];
  // torchvision pads 3x3 convs by 1 on every side (also at stride 2), unlike tfjs 'same' (bottom/right only).
  const pad: number | [[number, number], [number, number], [number, number], [number, number]] =
    l.kernel !== 3 ? 0 : l.stride === 2 && l.padding === 'keras' ? [[0, 0], [0, 1], [0, 1], [0, 0]] : 1;
  const y = l.kind === 'conv'
    ? tf.conv2d(x, w, l.stride, pad)
    : tf.depthwiseConv2d(x, w, l.stride, pad);
  const z = tf.add(y, b) as tf.Tensor4D;
  return l.relu6 ? tf.relu6(z) : z;
}

/**
 * Runs the network on a batch already normalised as the weights expect (NHWC, 3 channels) and returns the
 * requested taps, stopping after the deepest one. The caller owns the returned tensors.
 */
export function runMobileNetV2(net: MobileNetV2, input: tf.Tensor4D, taps: TapName[]): Map<TapName, tf.Tensor4D> {
  const want = new Set(taps);
  const deepest = Math.max(...taps.map((t) => Number(/^f(\d+)/.exec(t)?.[1] ?? NaN)));
  if (!Number.isFinite(deepest) || deepest > 18) throw new Error(`unknown feature tap in ${taps.join(', ')}`);
  const out = new Map<TapName, tf.Tensor4D>();
  tf.tidy(() => {
    let li = 0;
    let x = conv(net, li++, input);
    if (want.has('f0')) out.set('f0', tf.keep(x));
    const blocks = blockSpecs();
    for (let bi = 0; bi < blocks.length && bi + 1 <= deepest; bi++) {
      const b = blocks[bi];
      const idx = bi + 1;
      let h = x;
      if (b.expand !== 1) {
        h = conv(net, li++, h);
        if (want.has(`f${idx}.expand`)) out.set(`f${idx}.expand`, tf.keep(h));
      }
      h = conv(net, li++, h);
      h = conv(net, li++, h);
      x = b.stride === 1 && b.cin === b.cout ? tf.add(x, h) : h;
      if (want.has(`f${idx}`)) out.set(`f${idx}`, tf.keep(x));
    }
    if (deepest === 18) {
      li = net.layers.length - 1;
      x = conv(net, li, x);
      if (want.has('f18')) out.set('f18', tf.keep(x));
    }
  });
  for (const t of want) {
    if (!out.has(t)) {
      for (const v of out.values()) v.dispose();
      throw new Error(`unknown feature tap "${t}"`);
    }
  }
  return out;
}
