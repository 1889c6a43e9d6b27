/**
 * The frozen lower blocks as a feature extractor for the fine-tuning cache: onnxruntime-node runs the stem and
 * blocks 1..firstBlock-1 (exportLowerOnnx) and returns each view's whole feature map (NHWC, e.g. 14x14x96 =
 * 75 KB at 224 input for firstBlock 14). It implements Backbone, so features.ts caches it on disk
 * (content-addressed, atomic) exactly as it caches the frozen recipes' pooled features.
 */
import { ort } from '../../model/ort-node.js';
import type { Backbone, InputNormalisation } from '../../model/backbone.js';
import type { ConvLayer } from '../../model/mobilenetv2.js';
import { exportLowerOnnx } from '../../model/onnx-export.js';
import { lowerShape } from './finetune.js';

export class LowerBackbone implements Backbone {
  readonly taps: string[];
  readonly dim: number;
  readonly shape: [number, number, number];
  private constructor(private readonly session: ort.InferenceSession, readonly inputSize: number, firstBlock: number) {
    this.shape = lowerShape(firstBlock, inputSize);
    this.dim = this.shape[0] * this.shape[1] * this.shape[2];
    this.taps = [`f${firstBlock - 1}`];
  }

  static async create(layers: ConvLayer[], normalisation: InputNormalisation, inputSize: number, firstBlock: number, threads?: number): Promise<LowerBackbone> {
    const bytes = exportLowerOnnx(layers, normalisation, inputSize, firstBlock - 1);
    const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'all', ...(threads ? { intraOpNumThreads: threads } : {}) });
    return new LowerBackbone(session, inputSize, firstBlock);
  }

  async extract(views: Float32Array[]): Promise<Float32Array[]> {
    const s = this.inputSize;
    const out: Float32Array[] = [];
    const CHUNK = 8;
    for (let i = 0; i < views.length; i += CHUNK) {
      const part = views.slice(i, i + CHUNK);
      const input = new Float32Array(part.length * s * s);
      part.forEach((v, k) => input.set(v, k * s * s));
      const r = await this.session.run({ views: new ort.Tensor('float32', input, [part.length, 1, s, s]) });
      const f = r.features.data as Float32Array;
      for (let k = 0; k < part.length; k++) out.push(f.slice(k * this.dim, (k + 1) * this.dim));
    }
    return out;
  }

  dispose(): void {
    void this.session.release();
  }
}
