/**
 * A frozen feature extractor: square grey views in [0,1] -> one vector per view, the global average of each
 * requested feature map, concatenated. Only pixels reach it; nothing of the file does.
 */
import { tf, initTf } from './tf-backend.js';
import { buildMobileNetV2, disposeMobileNetV2, runMobileNetV2, type ConvLayer, type MobileNetV2 } from './mobilenetv2.js';

/** ImageNet statistics expected by the torchvision weights. */
const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];

/**
 * What the weights expect of their RGB input: 'imagenet' = [0,1] then ImageNet mean/std per channel
 * (torchvision), 'unit' = [0,1] as is (the nsfwjs Keras model).
 */
export type InputNormalisation = 'imagenet' | 'unit';

export interface BackboneOptions {
  taps: string[];
  inputSize: number;
  normalisation: InputNormalisation;
}

/** Channels of each MobileNetV2 tap that a recipe may use. */
export const TAP_CHANNELS: Record<string, number> = {
  'f14.expand': 576, 'f15.expand': 960, 'f16.expand': 960, 'f17.expand': 960, f17: 320, f18: 1280,
};

export interface Backbone {
  readonly inputSize: number;
  readonly taps: string[];
  readonly dim: number;
  /** Features of each view (length = dim each), in order. */
  extract(views: Float32Array[]): Promise<Float32Array[]>;
  dispose(): void;
}

export function tapsDim(taps: string[]): number {
  return taps.reduce((s, t) => {
    const c = TAP_CHANNELS[t];
    if (!c) throw new Error(`unknown feature tap "${t}" (known: ${Object.keys(TAP_CHANNELS).join(', ')})`);
    return s + c;
  }, 0);
}

class MobileNetV2Backbone implements Backbone {
  readonly dim: number;
  readonly taps: string[];
  readonly inputSize: number;
  constructor(private readonly net: MobileNetV2, private readonly opts: BackboneOptions) {
    this.taps = opts.taps;
    this.inputSize = opts.inputSize;
    this.dim = tapsDim(opts.taps);
  }

  async extract(views: Float32Array[]): Promise<Float32Array[]> {
    if (views.length === 0) return [];
    const s = this.inputSize;
    for (const v of views) if (v.length !== s * s) throw new Error(`view has ${v.length} pixels, expected ${s}x${s}`);
    const pooled = tf.tidy(() => {
      const grey = tf.tensor4d(concat(views), [views.length, s, s, 1]);
      // Grey replicated to the three channels, then the normalisation the weights were trained with.
      const rgb = tf.tile(grey, [1, 1, 1, 3]) as tf.Tensor4D;
      const x = this.opts.normalisation === 'imagenet' ? tf.div(tf.sub(rgb, tf.tensor1d(MEAN)), tf.tensor1d(STD)) as tf.Tensor4D : rgb;
      const maps = runMobileNetV2(this.net, x, this.taps);
      const parts = this.taps.map((t) => tf.mean(maps.get(t)!, [1, 2]));
      // The taps were tf.keep()-ed inside the network's own tidy, so this tidy would not free them.
      for (const m of maps.values()) m.dispose();
      return tf.concat(parts, 1);
    });
    const flat = (await pooled.data()) as Float32Array;
    pooled.dispose();
    return views.map((_, i) => flat.slice(i * this.dim, (i + 1) * this.dim));
  }

  dispose(): void {
    disposeMobileNetV2(this.net);
  }
}

function concat(views: Float32Array[]): Float32Array {
  const out = new Float32Array(views.length * views[0].length);
  views.forEach((v, i) => out.set(v, i * v.length));
  return out;
}

export async function mobileNetV2Backbone(layers: ConvLayer[], opts: BackboneOptions): Promise<Backbone> {
  await initTf();
  tapsDim(opts.taps);
  return new MobileNetV2Backbone(buildMobileNetV2(layers), opts);
}
