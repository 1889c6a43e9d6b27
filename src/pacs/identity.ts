/**
 * How covid-ct's own output is named and recognised, with no local database: every UID it writes is derived
 * from (source series UID, model key, role), so the report of a series by a model has one fixed UID and "is it
 * done?" is one QIDO query; and every object it writes carries our Manufacturer, a private block and a
 * SeriesDescription prefix, so that it never scores its own output.
 */
import { createHash } from 'node:crypto';

export const MANUFACTURER = 'covid-ct';
export const SERIES_PREFIX = 'covid-ct';
/** Private block (0009,00xx): creator at (0009,0010), our elements at (0009,10xx). */
export const PRIVATE_CREATOR = 'COVID-CT 1';
export const PRIVATE = { creator: 0x00090010, sourceSeries: 0x00091001, modelKey: 0x00091002, role: 0x00091003 } as const;

/** A UID under the 2.25 root (a 128-bit number, PS3.5 B.2) derived from `parts`: the same parts, the same UID. */
export function derivedUid(...parts: string[]): string {
  const hex = createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 32);
  return `2.25.${BigInt(`0x${hex}`).toString()}`;
}

/** The UIDs of what we write for one source series and model. */
export function outputUids(sourceSeries: string, key: string) {
  return {
    reportSeries: derivedUid('covid-ct report series', sourceSeries, key),
    report: derivedUid('covid-ct report', sourceSeries, key),
    heatmapSeries: derivedUid('covid-ct heatmap series', sourceSeries, key),
    heatmap: (sourceInstance: string) => derivedUid('covid-ct heatmap', sourceSeries, key, sourceInstance),
  };
}

/** Is this series (as QIDO describes it: Manufacturer, SeriesDescription, Modality) covid-ct's own output? */
export function isOwnOutput(s: { manufacturer?: string; description?: string; modality?: string }): boolean {
  return s.manufacturer === MANUFACTURER || (s.description ?? '').startsWith(`${SERIES_PREFIX} `) ;
}
