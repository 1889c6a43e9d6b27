/**
 * What the API does with an upload: every file (PNG, JPEG, DICOM, a zip of them) becomes slices, every slice
 * gets P(COVID) from the ONNX engine and, on request, a heatmap and a preview; a file that cannot be read gets
 * an error of its own and the others go on. Pure of HTTP: the server and tests call it the same way.
 */
import { refusalFields, type Category, type Refusal, type Verdict } from '../model/reading.js';
import type { OnnxClassifier } from '../model/onnx-engine.js';
import { ByteBudget, decodeInput, type LungWindow, type SliceOrder } from '../data/inputs.js';
import { yieldToLoop } from '../data/inflate.js';
import { greyPng, overlayPng, pictureLungs } from '../explain/heatmap.js';
import { errorMessage } from '../util/errors.js';
import type { Orientation } from '../data/orientation.js';
import type { Polarity } from '../data/polarity.js';
import { orderForDisplay, scoreScans, type ScanScore } from './series.js';
import { tiltField } from '../data/tilt.js';

export interface UploadedFile {
  /** The name the client gave (display only: never used as a path). */
  name: string;
  bytes: Uint8Array;
}

export interface AnalyseOptions {
  window?: LungWindow;
  maxPixels?: number;
  heatmap?: boolean;
  /** A legend strip under each heatmap (default true; the page shows its own legend and asks for none). */
  legend?: boolean;
  preview?: boolean;
  /** Long side of heatmap and preview PNGs. */
  imageSide?: number;
  /** Checked between slices and while unpacking: a request that timed out stops using the model. */
  signal?: AbortSignal;
  /** Bytes all files of the request may unpack to (zip entries, deflated DICOM), refused ones included. */
  maxUnpackedBytes?: number;
  /** Decoded pixels of all files of the request together (bounds its memory). */
  maxTotalPixels?: number;
}

/** 300 MB unpacked and 300 megapixels decoded per request: a whole thin-slice CT series with room to spare. */
export const DEFAULT_REQUEST_BUDGET = { maxUnpackedBytes: 300 * 2 ** 20, maxTotalPixels: 300_000_000 } as const;

export interface SliceResult {
  file: string;
  probability: number | null;
  /** COVID or NonCOVID at the threshold; NotCT when the slice shows no plausible pair of lungs or is unlike any CT slice (lungs design; see reason). */
  label: Verdict | null;
  threshold: number;
  /** Share of the lung with ground glass or consolidation (0..1); null when not measured. */
  involvement: number | null;
  /** P(COVID-typical pattern) of the (lungs-only) model; for a whole-slice model its P. */
  pattern: number | null;
  /** RSNA-style category (lungs design only; null otherwise). */
  category: Category | null;
  /** What kind of refusal, when NotCT: not like a CT slice, no lungs in it, a window that hides the lungs, or not an axial slice (a reformat). */
  refusal?: Refusal;
  /** Why the slice is NotCT, in words. */
  reason?: string;
  /**
   * Set when the orientation stage turned the slice before reading it (orientation.ts): how the picture as sent was
   * turned to be upright. The heatmap and the preview are then of the upright slice.
   */
  orientation?: Exclude<Orientation, 'as-sent'>;
  /**
   * Set when the slice came as a negative (air white, bone black) and was read as its inverse (polarity.ts). The
   * heatmap and the preview are then of the slice with air black.
   */
  polarity?: Exclude<Polarity, 'as-sent'>;
  error?: string;
  /** data:image/png;base64 overlay of the map of evidence (lung-evidence.ts; not for a NotCT slice). */
  heatmap?: string;
  /** data:image/png;base64 of the grey slice the model was given (after the DICOM window). */
  preview?: string;
  /** Where the slice sits in its DICOM series. */
  dicom?: SliceOrder;
}

const dataUrl = (png: Uint8Array) => `data:image/png;base64,${Buffer.from(png).toString('base64')}`;

export interface Analysis {
  /** One per image or slice; the slices of a DICOM series in scan order. */
  results: SliceResult[];
  /** One per DICOM series of two or more scored slices (see series.ts for the aggregate). */
  scans: ScanScore[];
}

export async function analyseFiles(engine: OnnxClassifier, files: UploadedFile[], opts: AnalyseOptions = {}): Promise<Analysis> {
  const threshold = engine.threshold;
  const side = opts.imageSide ?? 512;
  const out: SliceResult[] = [];
  // Each slice's lung area weighs its involvement in the scan's; it is not part of the API's answer.
  const lungPixels = new Map<SliceResult, number | null>();
  // One budget for the whole request, whatever the number of files or archives in it.
  const budget = new ByteBudget(opts.maxUnpackedBytes ?? DEFAULT_REQUEST_BUDGET.maxUnpackedBytes);
  const pixelBudget = new ByteBudget(opts.maxTotalPixels ?? DEFAULT_REQUEST_BUDGET.maxTotalPixels);
  const input = { window: opts.window, maxPixels: opts.maxPixels, budget, pixelBudget, signal: opts.signal, maxTotalPixels: pixelBudget.limit };
  for (const f of files) {
    opts.signal?.throwIfAborted();
    // A turn for the event loop between files (awaits of finished promises alone never give one): a request of
    // a thousand small files must not hold /healthz and the other clients.
    await yieldToLoop();
    for (const slice of await decodeInput(f.name, f.bytes, input)) {
      opts.signal?.throwIfAborted();
      const base = { file: slice.name, threshold, ...(slice.dicom ? { dicom: slice.dicom } : {}) };
      const failed = { probability: null, label: null, involvement: null, pattern: null, category: null };
      if (!slice.image) {
        out.push({ ...base, ...failed, error: slice.error ?? 'could not be read' });
        continue;
      }
      try {
        // One preparation (lungs, views) serves the reading and the map: the map is of the views that were scored.
        const [prepared] = await engine.prepare([slice.image]);
        // The map costs the occlusion runs (about 80 more views a slice, docs/explain-maps.md): only when asked
        // for, and not for a NotCT slice, which gets no heatmap. Without it, the reading alone (the same P).
        const { reading, cam } = opts.heatmap
          ? await engine.explainPrepared(prepared, { skipNotCT: true })
          : { reading: (await engine.readPrepared([prepared]))[0], cam: null };
        const r: SliceResult = {
          ...base, probability: reading.probability, label: reading.label, involvement: reading.involvement, pattern: reading.pattern,
          category: reading.category, ...refusalFields(reading),
          ...(prepared.orientation !== 'as-sent' ? { orientation: prepared.orientation } : {}),
          ...(prepared.polarity !== 'as-sent' ? { polarity: prepared.polarity } : {}), ...tiltField(prepared.tilt),
        };
        // No map of "evidence towards COVID" over a slice that is not a chest CT: it gets no verdict, so no heat either.
        if (cam && reading.label !== 'NotCT') {
          r.heatmap = dataUrl(await overlayPng(prepared.image, cam, engine.json.preprocessing.fit, side, pictureLungs(prepared.lungs, engine.json.preprocessing.lungs), opts.legend ?? true));
        }
        if (opts.preview) r.preview = dataUrl(await greyPng(prepared.image, side));
        lungPixels.set(r, reading.lungPixels);
        out.push(r);
      } catch (e) {
        out.push({ ...base, ...failed, error: errorMessage(e) });
      }
    }
  }
  const scored = out.map((r) => ({ ...r, name: r.file, lungPixels: lungPixels.get(r) ?? null }));
  const ordered = orderForDisplay(scored).map(({ name: _name, lungPixels: _area, ...r }) => r as SliceResult);
  return { results: ordered, scans: scoreScans(scored, threshold, 2, engine.json.reading) };
}
