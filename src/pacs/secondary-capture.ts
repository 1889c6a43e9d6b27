/**
 * A heatmap picture (the class activation map over the slice, src/explain/) as a Secondary Capture Image: 8-bit
 * RGB, derived from the source CT instance (Source Image Sequence), in covid-ct's heatmap series. Pure.
 */
import type { DicomDataset } from './dicom-write.js';
import { type Provenance, type StudyInfo, code, contentDateTime, ownershipElements, patientStudyElements, sopRef } from './composite.js';
import { SERIES_PREFIX } from './identity.js';
import { RESEARCH_ONLY, type SourceInstance } from './sr.js';

export const SECONDARY_CAPTURE = '1.2.840.10008.5.1.4.1.1.7';

export interface RgbPicture {
  width: number;
  height: number;
  /** RGBRGB..., row-major. */
  data: Uint8Array;
}

export interface HeatmapInput {
  study: StudyInfo;
  provenance: Provenance;
  picture: RgbPicture;
  source: SourceInstance;
  /** The slice's P(COVID), shown in ImageComments. */
  probability: number;
  /** 1 = the highest-scoring slice. */
  rank: number;
  uids: { series: string; instance: string };
  now: Date;
}

export function buildHeatmapImage(h: HeatmapInput): DicomDataset {
  const { width, height, data } = h.picture;
  if (data.length !== width * height * 3) throw new RangeError(`heatmap picture: ${data.length} bytes for ${width}x${height} RGB`);
  return [
    ...patientStudyElements(h.study),
    ...ownershipElements(h.provenance, 'heatmap'),
    ...contentDateTime(h.now),
    { tag: 0x00080008, vr: 'CS', value: ['DERIVED', 'SECONDARY'] },
    { tag: 0x00080016, vr: 'UI', value: SECONDARY_CAPTURE },
    { tag: 0x00080018, vr: 'UI', value: h.uids.instance },
    { tag: 0x00080060, vr: 'CS', value: 'OT' },
    { tag: 0x00080064, vr: 'CS', value: 'WSD' },
    { tag: 0x0008103e, vr: 'LO', value: `${SERIES_PREFIX} heatmaps (research use only)` },
    { tag: 0x00082111, vr: 'ST', value: 'Map of evidence of the covid-ct model blended over the slice (warm = evidence towards COVID; lungs model: occlusion, the fall of the score when each lung patch is hidden; whole-slice model: class activation map)' },
    { tag: 0x00082112, vr: 'SQ', value: [[...sopRef(h.source.sopClass, h.source.sopInstance), { tag: 0x0040a170, vr: 'SQ', value: [code('121322', 'DCM', 'Source image for image processing operation')] }]] },
    { tag: 0x0020000e, vr: 'UI', value: h.uids.series },
    { tag: 0x00200011, vr: 'IS', value: '9902' },
    { tag: 0x00200013, vr: 'IS', value: String(h.rank) },
    { tag: 0x00200020, vr: 'CS', value: [] },
    { tag: 0x00204000, vr: 'LT', value: `Rank ${h.rank}: P(COVID) of this slice ${h.probability.toFixed(4)}. ${RESEARCH_ONLY}` },
    { tag: 0x00280002, vr: 'US', value: [3] },
    { tag: 0x00280004, vr: 'CS', value: 'RGB' },
    { tag: 0x00280006, vr: 'US', value: [0] },
    { tag: 0x00280010, vr: 'US', value: [height] },
    { tag: 0x00280011, vr: 'US', value: [width] },
    { tag: 0x00280100, vr: 'US', value: [8] },
    { tag: 0x00280101, vr: 'US', value: [8] },
    { tag: 0x00280102, vr: 'US', value: [7] },
    { tag: 0x00280103, vr: 'US', value: [0] },
    { tag: 0x00280301, vr: 'CS', value: 'NO' },
    { tag: 0x7fe00010, vr: 'OB', value: data },
  ];
}
