/**
 * The PACS loop: find CT series not yet scored (QIDO-RS), fetch their instances (WADO-RS), score every slice and
 * the scan with the same pipeline as `covid-ct predict` (scoreSources, scoreScans), and store a structured report
 * and the heatmaps of the highest-scoring slices back into the study (STOW-RS). No local database: what is done
 * is read from the PACS itself (identity.ts), so a second pass writes nothing new.
 */
import type { Prediction } from '../types.js';
import type { Engine } from '../model/engine.js';
import { scoreSources } from '../predict/score-files.js';
import { scoreScans, type ScanScore } from '../predict/series.js';
import { Progress } from '../util/progress.js';
import { errorMessage } from '../util/errors.js';
import { AbortedError, type DicomWebClient, type JsonDataset, jsonNumber, jsonString } from './dicomweb.js';
import { writePart10 } from './dicom-write.js';
import { STUDY_FIELDS, type Provenance, type StudyInfo, studyInfoFromJson } from './composite.js';
import { isOwnOutput, outputUids } from './identity.js';
import { modelKey } from '../model/model-files.js';
import { buildReport, type SourceInstance, type TopSlice } from './sr.js';
import { SECONDARY_CAPTURE, buildHeatmapImage } from './secondary-capture.js';
import { type ExplainingEngine, heatmapPicture } from './heatmap-picture.js';

export interface PacsOptions {
  client: DicomWebClient;
  engine: Engine & ExplainingEngine;
  /** The covid-ct package version, written as SoftwareVersions. */
  softwareVersion: string;
  /** Most heatmaps per series (the top-k slices of the scan score, at most this many). */
  maxHeatmaps: number;
  /** Only studies from this date on (YYYYMMDD), to keep the search small on a large archive. */
  since?: string;
  /** Progress lines (stderr); silent when not given. */
  log?: (line: string) => void;
  /** Shows per-series progress bars. */
  progress?: boolean;
  signal?: AbortSignal;
}

/** A CT series as QIDO describes it. */
export interface SeriesRef {
  study: string;
  series: string;
  description: string;
  /** NumberOfSeriesRelatedInstances, when the server gives it. */
  instances?: number;
}

export interface PassResult {
  /** CT series found (our own output left out). */
  found: number;
  alreadyScored: number;
  scored: number;
  failed: number;
  /** Series still receiving instances (poll mode): scored on a later pass. */
  waiting: number;
}

const SOP_CLASS = '00080016', SOP_INSTANCE = '00080018', INSTANCE_NUMBER = '00200013';

/** A slice could not be fetched (the network or the server: worth another try later), as opposed to a bad file. */
class FetchFailure extends Error {}

export class PacsScorer {
  readonly key: string;
  private readonly provenance: Omit<Provenance, 'sourceSeries'>;
  /** Series found scored in this process: not asked about again (a cache of the PACS, not a database). */
  private readonly done = new Set<string>();
  /** Instance counts seen on the previous pass (poll mode: a series is scored once its count holds still). */
  private readonly lastCounts = new Map<string, number | undefined>();

  constructor(private readonly o: PacsOptions) {
    this.key = modelKey(o.engine.json);
    this.provenance = { softwareVersion: o.softwareVersion, modelName: String(o.engine.json.card.name ?? 'covid-ct model'), modelKey: this.key };
  }

  private log(line: string): void {
    this.o.log?.(line);
  }

  /** CT series on the server, our own output left out (it is not CT, but a modality-less server might say so). */
  async findSeries(): Promise<SeriesRef[]> {
    const query: Record<string, string | string[]> = { Modality: 'CT', includefield: ['0020000D', '0008103E', '00080070', '00201209'] };
    if (this.o.since) query.StudyDate = `${this.o.since}-`;
    const found = await this.o.client.search('/series', query);
    return found.flatMap((s) => {
      const ref = { study: jsonString(s, '0020000D'), series: jsonString(s, '0020000E'), description: jsonString(s, '0008103E') ?? '' };
      if (!ref.study || !ref.series) return [];
      if (isOwnOutput({ manufacturer: jsonString(s, '00080070'), description: ref.description, modality: jsonString(s, '00080060') })) return [];
      return [{ ...ref, study: ref.study, series: ref.series, instances: jsonNumber(s, '00201209') }];
    });
  }

  /** Has this model's report for this series been stored (its derived SR series UID is in the study)? */
  async isScored(s: SeriesRef): Promise<boolean> {
    if (this.done.has(s.series)) return true;
    const uid = outputUids(s.series, this.key).reportSeries;
    const hit = await this.o.client.search(`/studies/${s.study}/series`, { SeriesInstanceUID: uid });
    if (hit.length > 0) this.done.add(s.series);
    return hit.length > 0;
  }

  /**
   * One pass over the server. `settle`: score a series only when its instance count is the same as on the
   * previous pass (it is not still arriving); --once scores what is there.
   */
  async pass(settle: boolean): Promise<PassResult> {
    const all = await this.findSeries();
    const r: PassResult = { found: all.length, alreadyScored: 0, scored: 0, failed: 0, waiting: 0 };
    const todo: SeriesRef[] = [];
    for (const s of all) {
      if (await this.isScored(s)) { r.alreadyScored++; continue; }
      const before = this.lastCounts.get(s.series);
      const seen = this.lastCounts.has(s.series);
      this.lastCounts.set(s.series, s.instances);
      if (settle && (!seen || before !== s.instances)) { r.waiting++; continue; }
      todo.push(s);
    }
    // An idle pass says nothing here: the caller's one line per pass is enough in a service's log.
    if (todo.length || r.waiting) this.log(`${all.length} CT series found: ${r.alreadyScored} already scored, ${todo.length} to score${r.waiting ? `, ${r.waiting} still arriving (scored on the next pass)` : ''}`);
    for (const [i, s] of todo.entries()) {
      if (this.o.signal?.aborted) break;
      const name = `series ${i + 1}/${todo.length} (${s.description || s.series})`;
      try {
        await this.scoreSeries(s, name);
        this.done.add(s.series);
        this.lastCounts.delete(s.series);
        r.scored++;
      } catch (e) {
        if (e instanceof AbortedError || this.o.signal?.aborted) break;
        r.failed++;
        this.log(`${name}: not scored: ${errorMessage(e)}`);
      }
    }
    return r;
  }

  /** Fetches, scores and stores the results of one series. */
  async scoreSeries(s: SeriesRef, name: string): Promise<void> {
    const started = Date.now();
    const { client } = this.o;
    const base = `/studies/${s.study}/series/${s.series}`;
    const instances = (await client.search(`${base}/instances`, { includefield: [INSTANCE_NUMBER] })).flatMap((d) => {
      const sopInstance = jsonString(d, SOP_INSTANCE), sopClass = jsonString(d, SOP_CLASS);
      return sopInstance && sopClass ? [{ sopInstance, sopClass }] : [];
    });
    if (instances.length === 0) throw new Error('the series has no instances');
    const [studyJson] = await client.search('/studies', { StudyInstanceUID: s.study, includefield: STUDY_FIELDS });
    const study = studyInfoFromJson(s.study, studyJson ?? ({} as JsonDataset));

    const progress = new Progress(instances.length, `${name}: fetched and scored`, { enabled: Boolean(this.o.progress) && instances.length > 8 });
    const fetch = (sop: string) => client.retrieveInstance(s.study, s.series, sop).catch((e: unknown) => {
      throw e instanceof AbortedError ? e : new FetchFailure(`cannot fetch instance ${sop}: ${errorMessage(e)}`);
    });
    let fetchFailures = 0;
    const preds = await scoreSources(this.o.engine, instances.map((i) => ({
      name: i.sopInstance,
      read: () => fetch(i.sopInstance).catch((e: unknown) => { fetchFailures++; throw e; }),
    })), { onProgress: (d) => progress.tick(d - progress.completed) });
    progress.done();
    if (this.o.signal?.aborted) throw new AbortedError();
    // A slice that could not be fetched may come next time: write nothing now rather than a report without it.
    if (fetchFailures > 0) {
      const first = preds.find((p) => p.error?.startsWith('cannot fetch'));
      throw new Error(`${fetchFailures} of ${instances.length} instances could not be fetched (${first?.error ?? '?'}); nothing stored, a later pass tries again`);
    }
    const scans = scoreScans(preds.map((p) => ({ ...p, name: p.file })), this.o.engine.threshold, 1, this.o.engine.json.reading);
    if (scans.length > 1) throw new Error(`the instances of the series make ${scans.length} scans (different SeriesInstanceUIDs inside?)`);
    const scan: ScanScore | undefined = scans[0];
    const failed = preds.filter((p) => p.probability === null).length;
    const uids = outputUids(s.series, this.key);
    const provenance: Provenance = { ...this.provenance, sourceSeries: s.series };
    const now = new Date();

    const top = scan ? await this.heatmaps(study, provenance, preds, instances, Math.min(scan.k, this.o.maxHeatmaps), fetch, uids, now) : { slices: [], files: [] };
    const json = this.o.engine.json;
    const report = buildReport({
      study, provenance, now, threshold: this.o.engine.threshold, failed, notCt: preds.filter((p) => p.label === 'NotCT').length,
      source: { seriesUid: s.series, instances: instances.map((i) => ({ sopClass: i.sopClass, sopInstance: i.sopInstance })) },
      scan: scan ?? null,
      model: { version: String(json.card.version ?? `${this.key} (hash of weights, threshold and preprocessing)`), backboneSha256: json.backbone.sha256, headSha256: json.head.sha256 },
      top: top.slices, heatmapSeries: uids.heatmapSeries, uids: { series: uids.reportSeries, instance: uids.report },
    });
    // Heatmaps first, the report last: the report is what marks the series as done.
    await client.store(s.study, top.files);
    await client.store(s.study, [writePart10(report)]);
    // A lungs model labels a scan by its involvement and pattern, not by its score against the slice threshold.
    const rule = (s: NonNullable<typeof scan>) => (s.labelRule === 'involvement and pattern'
      ? `${s.category}; by involvement ${s.involvement === null ? '-' : `${(100 * s.involvement).toFixed(1)}%`} and pattern ${s.pattern === null ? '-' : s.pattern.toFixed(2)}, not by the score`
      : `threshold ${this.o.engine.threshold.toFixed(4)}`);
    const verdict = scan ? `score ${scan.probability.toFixed(4)} -> ${scan.label} (${rule(scan)})` : 'no verdict (no slice is a chest CT the model can score)';
    this.log(`${name}: ${instances.length} instances, ${verdict}; stored a report and ${top.files.length} heatmap(s) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }

  /** Heatmap secondary captures of the highest-scoring chest-CT slices, and their entries for the report. */
  private async heatmaps(
    study: StudyInfo, provenance: Provenance, preds: Prediction[], instances: SourceInstance[], n: number,
    fetch: (sop: string) => Promise<Uint8Array>, uids: ReturnType<typeof outputUids>, now: Date,
  ): Promise<{ slices: TopSlice[]; files: Uint8Array[] }> {
    const bySop = new Map(instances.map((i) => [i.sopInstance, i]));
    const ranked = preds
      .filter((p) => p.probability !== null && p.label !== 'NotCT')
      .sort((a, b) => b.probability! - a.probability!)
      .slice(0, n);
    const slices: TopSlice[] = [];
    const files: Uint8Array[] = [];
    for (const [rank, p] of ranked.entries()) {
      // Names are SOP instance UIDs, with " [frame N]" for the frames of a multi-frame instance.
      const m = /^(.*?)(?: \[frame (\d+)\])?$/.exec(p.file)!;
      const source = bySop.get(m[1]);
      if (!source) continue;
      const frame = m[2] ? Number(m[2]) - 1 : 0;
      const { picture } = await heatmapPicture(this.o.engine, p.file, await fetch(source.sopInstance), frame);
      const instance = uids.heatmap(p.file);
      files.push(writePart10(buildHeatmapImage({
        study, provenance, picture, source, probability: p.probability!, rank: rank + 1, uids: { series: uids.heatmapSeries, instance }, now,
      })));
      slices.push({ ...source, probability: p.probability!, heatmap: { sopClass: SECONDARY_CAPTURE, sopInstance: instance } });
    }
    return { slices, files };
  }
}
