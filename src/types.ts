/** Shared vocabulary of covid-ct. COVID is the positive class everywhere (y = 1). */

export type Label = 'COVID' | 'NonCOVID';
export const LABELS: readonly Label[] = ['COVID', 'NonCOVID'];

export type Split = 'train' | 'val' | 'test';
export const SPLITS: readonly Split[] = ['train', 'val', 'test'];

/**
 * Why a slice is not read, by kind (its words are in `reason`): the picture is not like a CT slice (colour,
 * texture; reading.ts adds a feature distance far from the training slices), no lungs were found in it (the neck or
 * abdomen of a chest series; any picture without a dark pair enclosed by tissue), or it is a CT slice whose display
 * window hides the lungs (a DICOM window, or an 8-bit slice exported in a soft-tissue window), or it is a chest CT
 * picture in another plane (a coronal or sagittal reformat: reformat-check.ts). The kinds are told apart because the
 * user's next step differs: another picture, another slice, the same slice in a lung window, or the series' axial
 * slices.
 */
export type Refusal = 'not-ct' | 'no-lungs' | 'window' | 'not-axial';

/** 1 = COVID (positive), 0 = NonCOVID. */
export type Binary = 0 | 1;
export const labelToBinary = (l: Label): Binary => (l === 'COVID' ? 1 : 0);

/** One image of the dataset, as placed by the official split files. */
export interface DatasetEntry {
  /** File name as listed in the split file (also the name in the image folder). */
  name: string;
  /** Absolute path of the image file. */
  path: string;
  label: Label;
  split: Split;
}

/** A decoded image reduced to one 8-bit grey channel, row-major. The model sees nothing else of a file. */
export interface GreyImage {
  width: number;
  height: number;
  data: Uint8Array;
  /** Set when the grey levels are CT values through a known window (DICOM, CT numbers, NIfTI): their Hounsfield units. */
  hu?: HuMapping;
  /**
   * Set when the source picture had colour: the share of its pixels that were strongly coloured (colour.ts).
   * Read only by the not-CT refusal, never by the model.
   */
  colourShare?: number;
}

/** Linear map from a slice's 8-bit grey to Hounsfield units, when known (CT DICOM through a window): HU = slope * grey + intercept. */
export interface HuMapping {
  slope: number;
  intercept: number;
}

/**
 * Where a DICOM slice belongs in its scan. `series` is an opaque key (a hash of the SeriesInstanceUID, or of the
 * file name when there is none), never the UID itself.
 */
export interface SliceOrder {
  series: string;
  instance?: number;
  /** Position along the slice normal in mm (ImagePositionPatient . normal of ImageOrientationPatient). */
  position?: number;
  /** 1-based frame number within a multi-frame file. */
  frame?: number;
  /** Set when the slices are those of a NIfTI volume (not a DICOM series): its scan row is named so. */
  volume?: true;
}

/**
 * The score of one image (a file, a frame of a multi-frame DICOM, or an entry of a zip); `error` is set (and
 * probability is null) when it could not be scored. `dicom` is set for DICOM slices.
 */
export interface Prediction {
  file: string;
  /** P(COVID) (for NotCT slices too: the raw score, for research). */
  probability: number | null;
  /** NotCT: no plausible chest CT slice (see `reason`); it gets no verdict and scan scores skip it. */
  label: Label | 'NotCT' | null;
  /** Share of the lung with ground glass or consolidation (0..1); null when not measured. */
  involvement?: number | null;
  /** Lung pixels the involvement was measured on (weights it in the scan's involvement; not printed). */
  lungPixels?: number | null;
  /** P(COVID-typical pattern) of the lungs-only model. */
  pattern?: number;
  /** RSNA-style category: negative for pneumonia, typical, indeterminate, atypical; null for a NotCT slice (see `refusal`). */
  category?: string | null;
  /** What kind of refusal, when NotCT: not like a CT slice, no lungs in it, or a window that hides the lungs. */
  refusal?: Refusal;
  /** Why the slice is NotCT, in words. */
  reason?: string;
  /** Set when the slice came turned and was read upright (data/orientation.ts): how the picture as sent was turned. */
  orientation?: 'flipped' | 'transposed' | 'transposed-flipped';
  /** Set when the slice came as a negative (air white) and was read as its inverse (data/polarity.ts). */
  polarity?: 'negative';
  /** Set when the slice came tilted in its picture and was turned level before it was read (data/tilt.ts): the tilt, degrees clockwise. */
  tilt?: number;
  error?: string;
  dicom?: SliceOrder;
}
