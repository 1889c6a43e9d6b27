/** Shared vocabulary of covid-ct. COVID is the positive class everywhere (y = 1). */

export type Label = 'COVID' | 'NonCOVID';
export const LABELS: readonly Label[] = ['COVID', 'NonCOVID'];

export type Split = 'train' | 'val' | 'test';
export const SPLITS: readonly Split[] = ['train', 'val', 'test'];

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
}

/** The score of one file; `error` is set (and probability is null) when the file could not be scored. */
export interface Prediction {
  file: string;
  probability: number | null;
  label: Label | null;
  error?: string;
}
