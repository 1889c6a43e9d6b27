/** Involvement candidates measured by bench/degrade.bench.ts (docs/robust-involvement.md). */
import type { GreyImage } from '../src/types.js';
import { findLungs, type LungFindings } from '../src/data/involvement.js';

export const CANDIDATES: Record<string, (img: GreyImage) => LungFindings> = {
  shipped: (img) => findLungs(img).findings,
};
