/**
 * The views of one slice that the backbone sees. View 0 is the slice itself (fitted into the working square),
 * view 1 its mirror image; further views are random training augmentations: a degraded copy of the ORIGINAL
 * image (JPEG re-encoding, downscaling by 2 and back, as a different scanner, export or website would do, so
 * that compression artefacts, which differ by source and so by label here, become an unreliable cue), then
 * a random resized crop, rotation, flip and brightness/contrast change. Which views: view-plan.ts (deterministic
 * for (seed, name), or for the seed alone in test-time plans).
 */
import type { GreyImage } from '../types.js';
import { blurByRescale, reencodeJpeg, renderView, toWorkingImage, type WorkingFit } from './preprocess.js';
import { gaussianBlur } from './band-limit.js';
import { pasteMarks } from './marks.js';
import { viewSpecs, type ViewPlan } from './view-plan.js';
import { segmentLungs, type LungSegmentation } from './lungs.js';
import { lungView, type LungFraming } from './lung-view.js';

export { TTA_PLAN, viewSpecs, type ViewPlan, type ViewSpec } from './view-plan.js';

/** How the original becomes the backbone's input square. */
export interface Framing {
  workingSize: number;
  fit: WorkingFit;
  inputSize: number;
  /** Gaussian blur (sigma in working-image pixels) applied to every working image; absent or 0 = none. */
  blurSigma?: number;
  /** When set, the model sees the lungs only (lung-view.ts), framed so; absent = the whole slice. */
  lungs?: LungFraming;
}

/** `seg`: the original's segmentation when the caller has it already (it is computed otherwise). */
export async function renderViews(original: GreyImage, name: string, plan: ViewPlan, framing: Framing, seg?: LungSegmentation): Promise<Float32Array[]> {
  const { workingSize, fit, inputSize } = framing;
  const sigma = framing.blurSigma ?? 0;
  const lungsOnly = (img: GreyImage) => (framing.lungs ? lungView(img === original && seg ? seg : segmentLungs(img), img, framing.lungs) : img);
  const working = async (img: GreyImage) => gaussianBlur(await toWorkingImage(lungsOnly(img), workingSize, fit), sigma);
  const work = await working(original);
  const out: Float32Array[] = [];
  for (const v of viewSpecs(plan, name)) {
    let src = original;
    if (v.marks !== undefined) src = await pasteMarks(src, v.marks);
    if (v.rescale) src = await blurByRescale(src, v.rescaleFactor);
    if (v.jpeg) src = await reencodeJpeg(src, v.jpegQuality);
    out.push(renderView(src === original ? work : await working(src), v.params, inputSize));
  }
  return out;
}
