/**
 * Writes a covid-ct model (MobileNetV2 backbone with BatchNorm folded + standardise + logistic head) as a
 * standard ONNX file (opset 13) with protobufjs. Input "views": float32 [N, 1, S, S], grey in [0, 1] (the views
 * the caller rendered). Outputs: "probability" [N, 1] = P(COVID) of each view, and "cam" [N, 1, G, G], the class
 * activation map on the grid G of the finest tapped feature map (14 for f14.expand at 224), and "features" [N, D],
 * the mean-pooled tap features the head sees (GlobalAveragePool of each tap, concatenated in the head's order),
 * for the not-CT distance (ood.ts). Files exported before "features" existed still load (see onnx-engine.ts).
 *
 * Why "cam" is exact and equals Grad-CAM here: the head is linear on global-average-pooled features,
 *   logit = b + sum_t sum_c (w_tc / s_tc) * (mean_hw F_tc(h,w) - m_tc)
 *         = b' + sum_t mean_hw( M_t(h,w) ),  with M_t(h,w) = sum_c (w_tc / s_tc) F_tc(h,w)
 * so each location's contribution to the logit is M_t(h,w) (CAM, Zhou et al. 2016). Grad-CAM weights channel c
 * by the spatial mean of d logit / d F_tc = w_tc / (s_tc H_t W_t), a constant, so Grad-CAM is the same map up to
 * a positive factor (and its ReLU). Coarser taps are upsampled (nearest, which keeps their mean) to G and
 * added, with b' spread evenly: mean_hw(cam) is exactly the logit of the view.
 */
import { onnxRoot } from './onnx-proto.js';
import type { LoadedModel } from './model-files.js';
import { TAP_CHANNELS } from './backbone.js';
import { blockSpecs } from './mobilenetv2.js';

const FLOAT = 1;
const INT64 = 7;

interface Node { op_type: string; input: string[]; output: string[]; name: string; attribute?: unknown[] }
interface Tensor { name: string; dims: number[]; data_type: number; raw_data: Uint8Array }

const ints = (name: string, v: number[]) => ({ name, type: 7, ints: v });
const int = (name: string, v: number) => ({ name, type: 2, i: v });

function floatTensor(name: string, dims: number[], data: Float32Array | number[]): Tensor {
  const f = data instanceof Float32Array ? data : Float32Array.from(data);
  return { name, dims, data_type: FLOAT, raw_data: new Uint8Array(f.buffer.slice(f.byteOffset, f.byteOffset + f.byteLength)) };
}

/** tfjs [kh,kw,in,out] (or depthwise [kh,kw,C,1]) -> ONNX [out, in/group, kh, kw]. */
export function onnxConvWeight(w: Float32Array, k: number, cin: number, cout: number, depthwise: boolean): Float32Array {
  const out = new Float32Array(w.length);
  const inPer = depthwise ? 1 : cin;
  for (let o = 0; o < cout; o++) for (let i = 0; i < inPer; i++) for (let y = 0; y < k; y++) for (let x = 0; x < k; x++) {
    const src = depthwise ? (y * k + x) * cout + o : ((y * k + x) * cin + i) * cout + o;
    out[((o * inPer + i) * k + y) * k + x] = w[src];
  }
  return out;
}

/** Spatial stride of a tap relative to the input (f14.expand: 16, f15+: 32). */
function tapStride(tap: string): number {
  const idx = Number(/^f(\d+)/.exec(tap)![1]);
  if (idx === 18) return 32;
  let stride = 2;
  const blocks = blockSpecs();
  // The expansion of block i runs before block i's own (possibly strided) depthwise conv.
  const last = tap.endsWith('.expand') ? idx - 1 : idx;
  for (let b = 0; b < last; b++) stride *= blocks[b].stride;
  return stride;
}

/**
 * The graph both exports share: nodes and initializers, a node factory, the grey -> RGB -> normalised input
 * ("views" [N, 1, S, S] in [0, 1]), and a MobileNetV2 convolution (BatchNorm folded, ReLU6 as Clip).
 */
function mobileNetGraph(layers: LoadedModel['layers'], normalisation: 'imagenet' | 'unit') {
  const nodes: Node[] = [];
  const inits: Tensor[] = [];
  let n = 0;
  const node = (op_type: string, input: string[], attribute: unknown[] = [], name = `${op_type.toLowerCase()}_${n++}`): string => {
    nodes.push({ op_type, input, output: [name], name, attribute });
    return name;
  };
  let input = node('Concat', ['views', 'views', 'views'], [int('axis', 1)], 'rgb');
  if (normalisation === 'imagenet') {
    inits.push(floatTensor('imagenet_mean', [1, 3, 1, 1], [0.485, 0.456, 0.406]), floatTensor('imagenet_std', [1, 3, 1, 1], [0.229, 0.224, 0.225]));
    input = node('Div', [node('Sub', [input, 'imagenet_mean']), 'imagenet_std'], [], 'normalised');
  }
  inits.push(floatTensor('relu6_min', [], [0]), floatTensor('relu6_max', [], [6]));
  const conv = (li: number, x: string): string => {
    const l = layers[li];
    const dw = l.kind === 'depthwise';
    const wName = `${l.name}.weight`;
    inits.push(floatTensor(wName, [l.cout, dw ? 1 : l.cin, l.kernel, l.kernel], onnxConvWeight(l.weight, l.kernel, l.cin, l.cout, dw)));
    inits.push(floatTensor(`${l.name}.bias`, [l.cout], l.bias));
    const p = l.kernel !== 3 ? [0, 0, 0, 0] : l.stride === 2 && l.padding === 'keras' ? [0, 0, 1, 1] : [1, 1, 1, 1];
    const y = node('Conv', [x, wName, `${l.name}.bias`], [
      ints('kernel_shape', [l.kernel, l.kernel]), ints('strides', [l.stride, l.stride]), ints('pads', p), int('group', dw ? l.cout : 1),
    ], l.name);
    return l.relu6 ? node('Clip', [y, 'relu6_min', 'relu6_max'], [], `${l.name}.relu6`) : y;
  };
  return { nodes, inits, node, conv, input };
}

/** Checks and serialises an ONNX ModelProto. */
function encodeModel(proto: object): Uint8Array {
  const Model = onnxRoot().lookupType('onnx.ModelProto');
  const err = Model.verify(proto);
  if (err) throw new Error(`ONNX export: ${err}`);
  return Model.encode(Model.fromObject(proto)).finish();
}

export function exportOnnx(model: LoadedModel): Uint8Array {
  const { json, layers, head } = model;
  const S = json.backbone.inputSize;
  const taps = json.backbone.taps;
  const { nodes, inits, node, conv, input } = mobileNetGraph(layers, json.preprocessing.normalisation);
  // Grey -> RGB -> normalisation of the weights.
  let x = input;

  const wanted = new Set(taps);
  const tapOut = new Map<string, string>();
  const deepest = Math.max(...taps.map((t) => Number(/^f(\d+)/.exec(t)![1])));
  let li = 0;
  x = conv(li++, x);
  const blocks = blockSpecs();
  for (let bi = 0; bi < blocks.length && bi + 1 <= deepest; bi++) {
    const b = blocks[bi];
    let h = x;
    if (b.expand !== 1) {
      h = conv(li++, h);
      if (wanted.has(`f${bi + 1}.expand`)) tapOut.set(`f${bi + 1}.expand`, h);
    }
    h = conv(li++, h);
    h = conv(li++, h);
    x = b.stride === 1 && b.cin === b.cout ? node('Add', [x, h], [], `features.${bi + 1}.add`) : h;
    if (wanted.has(`f${bi + 1}`)) tapOut.set(`f${bi + 1}`, x);
  }
  if (deepest === 18) tapOut.set('f18', conv(layers.length - 1, x));

  // Head: fold the standardisation into per-channel weights a = w / s and one bias b' = b - sum(w m / s).
  const finest = S / Math.min(...taps.map(tapStride));
  let bias = head.bias;
  let offset = 0;
  const camParts: string[] = [];
  const logitParts: string[] = [];
  const pooledParts: string[] = [];
  for (const t of taps) {
    pooledParts.push(node('GlobalAveragePool', [tapOut.get(t)!], [], `pooled.${t}`)); // [N,C,1,1]: what the head sees
    const c = TAP_CHANNELS[t];
    const a = new Float32Array(c);
    for (let j = 0; j < c; j++) {
      a[j] = head.weight[offset + j] / head.std[offset + j];
      bias -= (head.weight[offset + j] * head.mean[offset + j]) / head.std[offset + j];
    }
    offset += c;
    inits.push(floatTensor(`head.${t}.weight`, [1, c, 1, 1], a));
    const map = node('Conv', [tapOut.get(t)!, `head.${t}.weight`], [ints('kernel_shape', [1, 1])], `cam.${t}`); // [N,1,h,w]
    logitParts.push(node('GlobalAveragePool', [map]));
    const up = finest / (S / tapStride(t));
    if (up > 1) {
      inits.push(floatTensor(`up.${t}`, [1, 1, up, up], new Array(up * up).fill(1)));
      camParts.push(node('ConvTranspose', [map, `up.${t}`], [ints('kernel_shape', [up, up]), ints('strides', [up, up])], `cam.${t}.up`));
    } else {
      camParts.push(map);
    }
  }
  inits.push(floatTensor('head.bias', [1, 1, 1, 1], [bias]));
  const logitSum = logitParts.length === 1 ? logitParts[0] : node('Sum', logitParts);
  const logit = node('Add', [logitSum, 'head.bias'], [], 'logit'); // [N,1,1,1]
  inits.push({ name: 'shape_n1', dims: [2], data_type: INT64, raw_data: new Uint8Array(BigInt64Array.from([0n, 1n]).buffer) });
  nodes.push({ op_type: 'Sigmoid', input: [node('Reshape', [logit, 'shape_n1'])], output: ['probability'], name: 'probability' });
  const camSum = camParts.length === 1 ? camParts[0] : node('Sum', camParts);
  nodes.push({ op_type: 'Add', input: [camSum, 'head.bias'], output: ['cam'], name: 'cam' });
  // The mean-pooled tap features in the head's input order (for the not-CT distance, ood.ts): [N, D].
  const pooled = pooledParts.length === 1 ? pooledParts[0] : node('Concat', pooledParts, [int('axis', 1)]);
  nodes.push({ op_type: 'Flatten', input: [pooled], output: ['features'], name: 'features', attribute: [int('axis', 1)] });
  const featureDim = taps.reduce((a, t) => a + TAP_CHANNELS[t], 0);

  const dim = (v: number | string) => (typeof v === 'number' ? { dim_value: v } : { dim_param: v });
  const valueInfo = (name: string, dims: (number | string)[]) => ({ name, type: { tensor_type: { elem_type: FLOAT, shape: { dim: dims.map(dim) } } } });
  const proto = {
    ir_version: 7,
    opset_import: [{ domain: '', version: 13 }],
    producer_name: 'covid-ct',
    producer_version: '0.1.0',
    doc_string: `covid-ct model: P(COVID) of a grey CT view. Threshold ${json.threshold}. ${String((json.card as { name?: string }).name ?? '')}`,
    graph: {
      name: 'covid_ct',
      node: nodes,
      initializer: inits,
      input: [valueInfo('views', ['N', 1, S, S])],
      output: [valueInfo('probability', ['N', 1]), valueInfo('cam', ['N', 1, finest, finest]), valueInfo('features', ['N', featureDim])],
    },
    metadata_props: [
      { key: 'threshold', value: String(json.threshold) },
      { key: 'views', value: String(json.preprocessing.views) },
      // How the views were made from the image (working size, fit, blur, input size): see model.json.
      { key: 'covid_ct_preprocessing', value: JSON.stringify(json.preprocessing) },
      // Tie the file to the model folder it was exported from (checked when it is loaded).
      { key: 'covid_ct_backbone_sha256', value: json.backbone.sha256 },
      { key: 'covid_ct_head_sha256', value: json.head.sha256 },
    ],
  };
  return encodeModel(proto);
}

/**
 * The frozen lower part of a MobileNetV2 (stem and blocks 1..lastBlock) as an ONNX graph for the fine-tuning
 * feature cache: input "views" float32 [N, 1, S, S] grey in [0, 1] (as the full export), output "features"
 * float32 [N, H, W, C] (NHWC, the layout tfjs trains on), the output of features.lastBlock.
 */
export function exportLowerOnnx(layers: LoadedModel['layers'], normalisation: 'imagenet' | 'unit', inputSize: number, lastBlock: number): Uint8Array {
  const blocks = blockSpecs();
  if (!Number.isInteger(lastBlock) || lastBlock < 1 || lastBlock > blocks.length) throw new Error(`lastBlock must be 1..${blocks.length}`);
  const { nodes, inits, node, conv, input } = mobileNetGraph(layers, normalisation);
  let x = input;
  let li = 0;
  x = conv(li++, x);
  let size = inputSize / 2;
  for (let bi = 0; bi < lastBlock; bi++) {
    const b = blocks[bi];
    let h = x;
    if (b.expand !== 1) h = conv(li++, h);
    h = conv(li++, h);
    h = conv(li++, h);
    x = b.stride === 1 && b.cin === b.cout ? node('Add', [x, h], [], `features.${bi + 1}.add`) : h;
    size = Math.ceil(size / b.stride);
  }
  nodes.push({ op_type: 'Transpose', input: [x], output: ['features'], name: 'to_nhwc', attribute: [ints('perm', [0, 2, 3, 1])] });
  const dim = (v: number | string) => (typeof v === 'number' ? { dim_value: v } : { dim_param: v });
  const valueInfo = (name: string, dims: (number | string)[]) => ({ name, type: { tensor_type: { elem_type: FLOAT, shape: { dim: dims.map(dim) } } } });
  const proto = {
    ir_version: 7,
    opset_import: [{ domain: '', version: 13 }],
    producer_name: 'covid-ct',
    producer_version: '0.1.0',
    doc_string: `covid-ct frozen MobileNetV2 stem + blocks 1..${lastBlock} (fine-tuning feature cache)`,
    graph: {
      name: 'covid_ct_lower',
      node: nodes,
      initializer: inits,
      input: [valueInfo('views', ['N', 1, inputSize, inputSize])],
      output: [valueInfo('features', ['N', size, size, blocks[lastBlock - 1].cout])],
    },
  };
  return encodeModel(proto);
}
