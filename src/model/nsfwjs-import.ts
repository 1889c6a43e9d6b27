/**
 * The fallback backbone that installs with the package: the Keras MobileNetV2 bundled in nsfwjs@4.4.0 (MIT;
 * ImageNet weights, then tuned on NSFW photos from block_11 on). Its weights are decoded directly from the
 * bundled base64 shard with tf.io.decodeWeights (no nsfwjs.load(), which is much slower), BatchNorm is folded
 * into each convolution, and the layers are renamed to torchvision's order. Keras pads stride-2 3x3 convs
 * at the bottom/right only, and the model takes RGB in [0,1].
 */
import { tf, initTf } from './tf-backend.js';
import { convLayout, type ConvLayer } from './mobilenetv2.js';

interface WeightsManifest { weights: tf.io.WeightsManifestEntry[] }
interface KerasLayer { class_name: string; config: { name: string; epsilon?: number } }

/** Keras layer-name prefix of each torchvision conv, in torchvision order. */
function kerasNames(): string[] {
  const names = ['Conv1', 'expanded_conv_depthwise', 'expanded_conv_project'];
  for (let k = 1; k <= 16; k++) names.push(`block_${k}_expand`, `block_${k}_depthwise`, `block_${k}_project`);
  names.push('Conv_1');
  return names;
}

type BundledModel = { modelJson: () => Promise<{ default: unknown }>; weightBundles: (() => Promise<{ default: string }>)[] };

/** One of the Keras models nsfwjs bundles: its topology, weight manifest and weights, decoded from base64. */
export async function loadNsfwjsBundle(which: 'mobilenet_v2' | 'inception_v3'): Promise<{ modelTopology: any; manifest: WeightsManifest[]; data: ArrayBuffer }> {
  const mod = (which === 'mobilenet_v2'
    ? await import('nsfwjs/models/mobilenet_v2')
    : await import('nsfwjs/models/inception_v3')) as unknown as Record<string, BundledModel>;
  const m = Object.values(mod)[0];
  let json = (await m.modelJson()).default as string | { modelTopology: any; weightsManifest: WeightsManifest[] };
  if (typeof json === 'string') json = JSON.parse(json) as { modelTopology: any; weightsManifest: WeightsManifest[] };
  const all = Buffer.concat(await Promise.all(m.weightBundles.map(async (b) => Buffer.from((await b()).default, 'base64'))));
  return { modelTopology: json.modelTopology, manifest: json.weightsManifest, data: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) };
}

export async function mobileNetV2FromNsfwjs(): Promise<ConvLayer[]> {
  await initTf();
  const { modelTopology, manifest, data } = await loadNsfwjsBundle('mobilenet_v2');
  const keras = modelTopology.model_config.config.layers as KerasLayer[];
  const named = tf.io.decodeWeights(data, manifest.flatMap((g) => g.weights));
  const epsilonOf = new Map(keras.filter((l) => l.class_name === 'BatchNormalization').map((l) => [l.config.name, l.config.epsilon ?? 1e-3]));
  const get = async (name: string): Promise<Float32Array> => {
    const t = named[name];
    if (!t) throw new Error(`nsfwjs MobileNetV2 has no weight "${name}"`);
    return (await t.data()) as Float32Array;
  };
  const layout = convLayout();
  const out: ConvLayer[] = [];
  const names = kerasNames();
  for (let i = 0; i < layout.length; i++) {
    const spec = layout[i];
    const k = names[i];
    const bn = k === 'Conv1' ? 'bn_Conv1' : `${k}_BN`.replace('Conv_1_BN', 'Conv_1_bn');
    const kernel = await get(spec.kind === 'depthwise' ? `${k}/depthwise_kernel` : `${k}/kernel`);
    const [gamma, beta, mean, variance] = await Promise.all(['gamma', 'beta', 'moving_mean', 'moving_variance'].map((p) => get(`${bn}/${p}`)));
    const eps = epsilonOf.get(bn) ?? 1e-3;
    const cout = spec.cout;
    const weight = new Float32Array(kernel.length);
    const bias = new Float32Array(cout);
    const factor = new Float64Array(cout);
    for (let c = 0; c < cout; c++) {
      factor[c] = gamma[c] / Math.sqrt(variance[c] + eps);
      bias[c] = beta[c] - mean[c] * factor[c];
    }
    // The output channel is the innermost axis of both Keras kernel layouts, as in tfjs.
    for (let j = 0; j < kernel.length; j++) weight[j] = kernel[j] * factor[j % cout];
    if (kernel.length !== spec.kernel * spec.kernel * (spec.kind === 'conv' ? spec.cin : 1) * cout) {
      throw new Error(`nsfwjs ${k}: kernel has ${kernel.length} values, expected the shape of ${spec.name}`);
    }
    out.push({ ...spec, padding: 'keras', weight, bias });
  }
  for (const t of Object.values(named)) t.dispose();
  return out;
}
