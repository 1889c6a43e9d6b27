/**
 * The covid-ct page: files are dropped or picked, analysed on our server (POST /api/predict) or on this
 * device (onnxruntime-web, see on-device.ts), and shown with their probability, verdict and heatmap; the
 * results download as CSV. Nothing is fetched from anywhere but our own server.
 */
import { scanHow, type ScanScore } from '../predict/series.js';
import { analyseOnDevice, type Grey, type Preprocessing } from './on-device.js';
import { isTiff } from '../data/tiff.js';
import { isGzip, isNifti } from '../data/nifti.js';
import { heatColour, pictureLungs, slicePictureRgb } from '../explain/cam-overlay.js';
import { REFUSAL_HEADINGS, refusalFields, type ReadingDesign } from '../model/reading.js';
import type { Refusal } from '../types.js';
import type { Orientation } from '../data/orientation.js';
import { sliceNote, type Polarity } from '../data/polarity.js';
import { resample } from '../data/working-image.js';
import { CSV_COLUMNS, csvLine, scanCsvFields, sliceCsvFields } from '../predict/format.js';

type Mode = 'server' | 'device';
type Label = 'COVID' | 'NonCOVID' | 'NotCT';

interface Estimate { value: number; ci: [number, number] }
/** ECE of a report: since the basic bootstrap interval, with its bias-corrected value (older reports lack it). */
interface EceEstimate extends Estimate { bias_corrected?: number }
interface ModelCard {
  name: string; task: string; intendedUse: string; threshold: number; trainingData: string; attribution?: string;
  /** What P is not (a calibrated probability). */
  calibration?: string;
  backbone: { architecture: string; pretrained?: string; licence?: string; inputSize: number };
  preprocessing: Preprocessing;
  reading?: ReadingDesign;
  val?: { n: number; auc: number };
  test?: { n: number; metrics: Record<string, Estimate>; confusion: { tp: number; fp: number; tn: number; fn: number }; calibration?: { bins: number; ece: EceEstimate } };
}

/** One row of the results: one image, or one slice of a DICOM file or zip. */
export interface ResultRow {
  file: string;
  mode: Mode;
  probability: number | null;
  label: Label | null;
  threshold: number | null;
  /** Share of the lung involved (0..1), null when not measured. */
  involvement?: number | null;
  pattern?: number | null;
  category?: string | null;
  /** What kind of refusal, when NotCT (the heading shown instead of a verdict). */
  refusal?: Refusal;
  /** Why a slice is NotCT, in words. */
  reason?: string;
  /** Set when the slice came turned and was read upright (the thumbnail and heatmap are then upright). */
  orientation?: Exclude<Orientation, 'as-sent'>;
  /** Set when the slice came as a negative (air white) and was read as its inverse (the thumbnail and heatmap are then air black). */
  polarity?: Exclude<Polarity, 'as-sent'>;
  /** Set when the slice came tilted and was turned level (the thumbnail and heatmap are then level): the tilt, degrees clockwise. */
  tilt?: number;
  error?: string;
  /** The short hash of the slice's DICOM series or NIfTI volume (its scan row's), when it has one. */
  series?: string;
  thumbnail?: string;
  heatmap?: string;
  /** Makes the heatmap on first use (the map of evidence costs about a second on the device, and most of a request's time on the server). */
  makeHeatmap?: () => Promise<string>;
}

/** The row's heatmap, made now if it is made on request. */
async function heatmapOf(r: ResultRow): Promise<string | undefined> {
  if (!r.heatmap && r.makeHeatmap) {
    const make = r.makeHeatmap;
    r.heatmap = await make();
    delete r.makeHeatmap;
  }
  return r.heatmap;
}

const hasHeatmap = (r: ResultRow): boolean => Boolean(r.heatmap || r.makeHeatmap);

/**
 * What a heatmap switch shows: the row's heatmap when it is on (made now if made on request), else the slice. A map
 * that cannot be made leaves the slice, turns the switch off and says why on it (the server could not be reached,
 * a time limit).
 */
async function pictureFor(r: ResultRow, toggle: HTMLInputElement): Promise<string> {
  if (!toggle.checked) return r.thumbnail!;
  try {
    return (await heatmapOf(r)) ?? r.thumbnail!;
  } catch (e) {
    toggle.checked = false;
    toggle.title = `no heatmap: ${e instanceof Error ? e.message : String(e)}`;
    return r.thumbnail!;
  }
}
type ScanRow = ScanScore;

const $ = <T extends HTMLElement>(sel: string) => document.querySelector<T>(sel)!;
const rows: ResultRow[] = [];
const scans: ScanRow[] = [];
let card: ModelCard | undefined;

function mode(): Mode {
  return ($<HTMLInputElement>('input[name=mode]:checked').value as Mode) ?? 'server';
}

function showMode(): void {
  $('#mode-status').textContent = mode() === 'device'
    ? 'Mode: on this device. Images are analysed in this browser and are not uploaded anywhere (PNG and JPEG).'
    : `Mode: on the covid-ct server at ${location.host}. Images are sent to it, analysed in memory and not kept.`;
  document.body.dataset.mode = mode();
}

// ---- rendering -------------------------------------------------------------------------------------------

/**
 * What the model did, in words a clinician does not misread: a slice under the threshold is "below the model's
 * threshold", never "no findings" (which reads as a clinical negative).
 */
export function verdictText(r: ResultRow): string {
  if (r.error) return `${r.file}: ${r.error}`;
  if (r.label === 'NotCT') return `${REFUSAL_HEADINGS[r.refusal ?? 'not-ct']}${r.reason ? ` (${r.reason})` : ''}`;
  return r.label === 'COVID' ? 'at or above the model\'s threshold: flagged for COVID-19 review' : 'below the model\'s threshold (not a clinical negative)';
}

/** Where a row was analysed, said on the row. */
const whereText = (m: Mode): string => (m === 'device' ? 'analysed on this device' : `analysed on the server (${location.host})`);

const pct = (v: number) => `${(100 * v).toFixed(1)}%`;

/**
 * A cell's label, shown before its value only on a phone, where the table's header is hidden and each row becomes a
 * card (style.css): without it a card shows "3.2%" with nothing to say what of.
 */
function cellLabel(text: string): HTMLSpanElement {
  const label = document.createElement('span');
  label.className = 'cell-label';
  // A space inside the label, not a margin: the card reads "involvement 3.2%" when copied or read aloud too.
  label.textContent = `${text} `;
  return label;
}

/** The involvement cell: a bar and the percentage of the lung involved. */
function involvementCell(v: number | null | undefined, label = 'involvement'): HTMLTableCellElement {
  const td = document.createElement('td');
  td.className = 'involvement';
  td.append(cellLabel(label));
  if (typeof v !== 'number') { td.append('not measured'); td.classList.add('muted'); return td; }
  const text = document.createElement('span');
  text.className = 'value';
  text.textContent = pct(v);
  const bar = document.createElement('div');
  bar.className = 'bar involvement-bar';
  bar.setAttribute('role', 'meter');
  bar.setAttribute('aria-label', 'share of the lung involved');
  bar.setAttribute('aria-valuenow', v.toFixed(4));
  bar.setAttribute('aria-valuemin', '0');
  bar.setAttribute('aria-valuemax', '1');
  const fill = document.createElement('span');
  fill.style.width = `${Math.min(100, 100 * v).toFixed(1)}%`;
  bar.append(fill);
  td.append(text, bar);
  return td;
}

function renderRow(r: ResultRow): HTMLTableRowElement {
  const tr = document.createElement('tr');
  tr.className = r.error ? 'error' : `row-${r.label}`;
  tr.dataset.file = r.file;
  if (r.probability !== null) tr.dataset.probability = String(r.probability);
  const img = document.createElement('td');
  if (r.thumbnail) {
    // A button around the thumbnail: click (or Enter) shows it large, with the heatmap and lung outline.
    const open = document.createElement('button');
    open.type = 'button';
    open.className = 'thumb';
    open.title = 'show large, with the heatmap and lung outline';
    const el = document.createElement('img');
    el.alt = `${r.file}`;
    el.src = $<HTMLInputElement>('#show-heatmaps').checked && r.heatmap ? r.heatmap : r.thumbnail;
    open.append(el);
    open.addEventListener('click', () => openViewer(r));
    img.append(open);
  }
  const name = document.createElement('td');
  name.className = 'file';
  name.textContent = r.file;
  const where = document.createElement('div');
  where.className = 'where muted';
  where.textContent = whereText(r.mode);
  name.append(where);
  if (r.orientation || r.polarity || r.tilt !== undefined) {
    const turned = document.createElement('div');
    turned.className = 'turned';
    turned.textContent = sliceNote(r.orientation, r.polarity, r.tilt);
    name.append(turned);
  }
  const prob = document.createElement('td');
  prob.className = 'probability';
  if (r.label === 'NotCT') {
    // No verdict for a slice that is not a chest CT: its P is kept in the CSV for research, not shown as a result.
    prob.textContent = '-';
    prob.title = 'no P(COVID) for a slice that is not read';
  } else if (r.probability !== null) {
    const value = document.createElement('span');
    value.className = 'value';
    value.textContent = r.probability.toFixed(4);
    prob.append(cellLabel('P(COVID)'), value);
    const bar = document.createElement('div');
    bar.className = 'bar probability-bar';
    bar.setAttribute('role', 'meter');
    bar.setAttribute('aria-valuenow', r.probability.toFixed(4));
    bar.setAttribute('aria-label', `P(COVID) against the model's threshold ${r.threshold?.toFixed(4)}`);
    const fill = document.createElement('span');
    fill.style.width = `${(100 * r.probability).toFixed(1)}%`;
    const t = r.threshold ?? 0.5;
    const mark = document.createElement('i');
    mark.style.left = `${(100 * t).toFixed(1)}%`;
    mark.title = `the model's threshold ${r.threshold?.toFixed(4)}`;
    // The tick's label, under it; anchored on its left or right half so that it stays inside the bar.
    const label = document.createElement('b');
    label.className = 'tick-label';
    label.textContent = `threshold ${t.toFixed(2)}`;
    if (t <= 0.5) label.style.left = `${(100 * t).toFixed(1)}%`;
    else label.style.right = `${(100 - 100 * t).toFixed(1)}%`;
    bar.append(fill, mark, label);
    prob.append(bar);
  } else {
    prob.textContent = '-';
  }
  const refused = !r.error && r.label === 'NotCT';
  const inv = r.error || refused ? document.createElement('td') : involvementCell(r.involvement);
  const reading = document.createElement('td');
  reading.className = 'reading';
  if (!r.error && r.label !== 'NotCT' && typeof r.pattern === 'number') {
    const pat = document.createElement('div');
    pat.className = 'pattern';
    pat.textContent = `pattern ${r.pattern.toFixed(3)}`;
    reading.append(pat);
    if (r.category) {
      const cat = document.createElement('div');
      cat.className = 'category';
      cat.textContent = r.category;
      reading.append(cat);
    }
  }
  const verdict = document.createElement('td');
  verdict.className = `verdict ${r.label ?? ''}`;
  if (refused) {
    // A refusal is a heading and its reason, a sentence or two: it spans the involvement and pattern cells, which a
    // refused slice leaves empty, so that it reads as a paragraph rather than a column of single words.
    verdict.colSpan = 3;
    const heading = document.createElement('strong');
    heading.textContent = REFUSAL_HEADINGS[r.refusal ?? 'not-ct'];
    verdict.append(heading, r.reason ? ` (${r.reason})` : '');
  } else {
    verdict.textContent = verdictText(r);
  }
  if (hasHeatmap(r) && r.thumbnail) {
    // The heatmap switch sits under the thumbnail it changes.
    const label = document.createElement('label');
    label.className = 'heatmap-switch';
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.className = 'heatmap-toggle';
    box.checked = $<HTMLInputElement>('#show-heatmaps').checked;
    box.setAttribute('aria-label', `heatmap of ${r.file}`);
    box.addEventListener('change', async () => { img.querySelector('img')!.src = await pictureFor(r, box); });
    label.append(box, ' heatmap');
    img.append(label);
  }
  if (refused) tr.append(img, name, prob, verdict);
  else tr.append(img, name, prob, inv, reading, verdict);
  return tr;
}

function addRows(batch: ResultRow[]): void {
  const body = $('#results tbody');
  for (const r of batch) { rows.push(r); body.append(renderRow(r)); }
  // The colours of the heatmaps are explained once, above the table, as soon as there is a heatmap.
  if (rows.some(hasHeatmap)) $('#heat-legend').hidden = false;
  $<HTMLButtonElement>('#download-csv').disabled = rows.length === 0;
  $<HTMLButtonElement>('#clear').disabled = rows.length === 0;
}

/** The scans' heading: what they are made of (`Scans (NIfTI volumes)`, `Scans (DICOM series and NIfTI volumes)`). */
export function scansHeading(list: readonly ScanRow[]): string {
  const kinds = [...new Set(list.map((s) => (s.kind === 'NIfTI volume' ? 'NIfTI volumes' : 'DICOM series')))].sort();
  return `Scans (${kinds.join(' and ')})`;
}

function addScans(batch: ScanRow[]): void {
  if (!batch.length) return;
  scans.push(...batch);
  const section = $('#scans');
  section.hidden = false;
  section.querySelector('h2')!.textContent = scansHeading(scans);
  const body = section.querySelector('tbody')!;
  for (const s of batch) {
    const tr = document.createElement('tr');
    tr.className = `row-${s.label ?? ''}`;
    tr.dataset.probability = String(s.probability);
    tr.dataset.series = s.series;
    const verdict = s.category ? `${s.label}: ${s.category}` : s.label;
    // Each value with its label for the phone's cards (hidden on a wide screen, where the header says it).
    const cells: [string | null, string][] = [['scan', s.series], ['slices', String(s.slices)], ['P(COVID) of the scan', s.probability.toFixed(4)], [null, ''], ['verdict', verdict], ['', scanHow(s)]];
    for (const [label, text] of cells) {
      if (label === null) { tr.append(involvementCell(s.involvement, 'lung involvement')); continue; }
      const td = document.createElement('td');
      if (label) td.append(cellLabel(label));
      td.append(text);
      tr.append(td);
    }
    body.append(tr);
  }
}

// ---- large view -------------------------------------------------------------------------------------------

/** The heat colours as a CSS gradient: the same colour map as the heatmaps (cam-overlay.ts). */
export function heatGradientCss(): string {
  const stops = [0, 0.25, 0.5, 0.75, 1].map((t) => `rgb(${heatColour(t).join(',')}) ${100 * t}%`);
  return `linear-gradient(to right, ${stops.join(', ')})`;
}

/** The slice large in a dialog: the heatmap with lung outline (or the slice), what the model said and where. */
function openViewer(r: ResultRow): void {
  const dialog = $<HTMLDialogElement>('#viewer');
  const img = dialog.querySelector<HTMLImageElement>('img')!;
  const toggle = dialog.querySelector<HTMLInputElement>('#viewer-heatmap')!;
  const show = async () => { img.src = await pictureFor(r, toggle); };
  toggle.checked = Boolean(r.heatmap);
  toggle.disabled = !hasHeatmap(r);
  toggle.onchange = show;
  void show();
  img.alt = r.file;
  dialog.querySelector('h2')!.textContent = r.file;
  const p = r.probability === null || r.label === 'NotCT' ? '' : `P(COVID) ${r.probability.toFixed(4)}, threshold ${r.threshold?.toFixed(4)}: `;
  const inv = typeof r.involvement === 'number' ? `; lung involvement ${pct(r.involvement)}` : '';
  const note = sliceNote(r.orientation, r.polarity, r.tilt);
  const turned = note ? `; ${note}` : '';
  dialog.querySelector('.viewer-caption')!.textContent = `${p}${verdictText(r)}${inv}${r.category ? `; ${r.category}` : ''}${turned}; ${whereText(r.mode)}.`;
  dialog.querySelector<HTMLElement>('.heat-legend')!.hidden = !hasHeatmap(r);
  dialog.showModal();
}

// ---- CSV --------------------------------------------------------------------------------------------------

/**
 * The results as CSV: the command line's columns and rows (`covid-ct predict --format csv`: slices, then a row per
 * scan, `series` joining them), then two the page alone knows: the threshold each row was read at and where (mode).
 */
export function resultsCsv(list: readonly ResultRow[], scanList: readonly ScanRow[] = []): string {
  const lines = [[...CSV_COLUMNS, 'threshold', 'mode'].join(',')];
  for (const r of list) lines.push(csvLine([...sliceCsvFields(r), typeof r.threshold === 'number' ? String(r.threshold) : '', r.mode]));
  // Scans are scored on the server; a scan's label is read from its slices, not at a threshold.
  for (const s of scanList) lines.push(csvLine([...scanCsvFields(s), '', 'server']));
  return lines.join('\n') + '\n';
}

function downloadCsv(): void {
  const url = URL.createObjectURL(new Blob([resultsCsv(rows, scans)], { type: 'text/csv' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = 'covid-ct-results.csv';
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

// ---- analysis ---------------------------------------------------------------------------------------------

/** Requests stay well under the server's 50 MB limit; a DICOM series should be sent in one (see README). */
const MAX_REQUEST_BYTES = 40 * 1024 * 1024;
/** And under its 1000 files per request. */
const MAX_REQUEST_FILES = 500;

// ---- the token --------------------------------------------------------------------------------------------
// A server reachable beyond this machine is started with COVID_CT_TOKEN and answers the API only with it. The
// page asks for it once, keeps it for this tab only (sessionStorage: gone when the tab closes) and sends it.

const TOKEN_KEY = 'covid-ct-token';
/** Resolves the pending question for the token (one form, one listener, however many requests wait). */
let tokenGiven: (() => void) | undefined;
let tokenAsked: Promise<void> | undefined;

function askToken(): Promise<void> {
  const form = $<HTMLFormElement>('#token-form');
  if (!form.dataset.wired) {
    form.dataset.wired = '1';
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const value = $<HTMLInputElement>('#token').value.trim();
      if (!value) return;
      sessionStorage.setItem(TOKEN_KEY, value);
      $<HTMLInputElement>('#token').value = '';
      $('#token-status').textContent = '';
      form.hidden = true;
      const given = tokenGiven;
      tokenGiven = undefined;
      tokenAsked = undefined;
      given?.();
    });
  }
  tokenAsked ??= new Promise<void>((resolve) => {
    tokenGiven = resolve;
    form.hidden = false;
    $<HTMLInputElement>('#token').focus();
  });
  return tokenAsked;
}

/** fetch for the API: sends the token when there is one; a 401 asks for it (again) and retries. */
async function apiFetch(url: string, init: RequestInit = {}): Promise<Response> {
  for (;;) {
    const token = sessionStorage.getItem(TOKEN_KEY);
    const headers = new Headers(init.headers);
    if (token) headers.set('Authorization', `Bearer ${token}`);
    const res = await fetch(url, { ...init, headers });
    if (res.status !== 401) return res;
    if (token) {
      sessionStorage.removeItem(TOKEN_KEY);
      $('#token-status').textContent = 'That token was not accepted.';
    }
    await askToken();
  }
}

function batchesOf(files: File[]): File[][] {
  const out: File[][] = [];
  let cur: File[] = [], size = 0;
  for (const f of files) {
    if (cur.length && (size + f.size > MAX_REQUEST_BYTES || cur.length >= MAX_REQUEST_FILES)) { out.push(cur); cur = []; size = 0; }
    cur.push(f); size += f.size;
  }
  if (cur.length) out.push(cur);
  return out;
}

/** The page's lung window (used for DICOM on the server and for 16-bit PNGs of CT numbers); undefined when not a valid one. */
function pageWindow(): { width: number; level: number } | undefined {
  const width = Number($<HTMLInputElement>('#window-width').value), level = Number($<HTMLInputElement>('#window-level').value);
  return Number.isFinite(width) && width > 0 && Number.isFinite(level) ? { width, level } : undefined;
}

async function analyseOnServer(files: File[]): Promise<void> {
  const width = $<HTMLInputElement>('#window-width').value;
  const level = $<HTMLInputElement>('#window-level').value;
  for (const batch of batchesOf(files)) {
    const body = new FormData();
    for (const f of batch) body.append('files', f, f.name);
    // Heatmaps cost most of the server's time (the occlusion runs about 80 more views a slice): asked for with the
    // results only when they are shown; otherwise the first row's switch asks for the batch's maps, once.
    // No legend strip: the page explains the colours beside the picture (#heat-legend).
    const withMaps = $<HTMLInputElement>('#show-heatmaps').checked;
    const query = new URLSearchParams({ heatmap: withMaps ? '1' : '0', legend: '0', preview: '1', windowWidth: width, windowLevel: level });
    let mapsOfBatch: Promise<Map<string, string>> | undefined;
    const maps = () => (mapsOfBatch ??= (async () => {
      const again = new FormData();
      for (const f of batch) again.append('files', f, f.name);
      const q = new URLSearchParams({ heatmap: '1', legend: '0', windowWidth: width, windowLevel: level });
      const r = await apiFetch(`/api/predict?${q}`, { method: 'POST', body: again });
      const j = await r.json().catch(() => ({})) as { results?: { file: string; heatmap?: string }[]; error?: string };
      if (!r.ok || !j.results) { mapsOfBatch = undefined; throw new Error(j.error ?? `the server answered ${r.status}`); }
      return new Map(j.results.flatMap((x) => (x.heatmap ? [[x.file, x.heatmap] as [string, string]] : [])));
    })());
    let res: Response;
    try {
      res = await apiFetch(`/api/predict?${query}`, { method: 'POST', body });
    } catch {
      addRows(batch.map((f) => ({ file: f.name, mode: 'server', probability: null, label: null, threshold: null, error: 'the server could not be reached' })));
      continue;
    }
    const json = await res.json().catch(() => ({ error: `the server answered ${res.status}` })) as { results?: any[]; scans?: ScanRow[]; error?: string };
    if (!res.ok || !json.results) {
      addRows(batch.map((f) => ({ file: f.name, mode: 'server', probability: null, label: null, threshold: null, error: json.error ?? `the server answered ${res.status}` })));
      continue;
    }
    addRows(json.results.map((r) => ({
      file: r.file, mode: 'server', probability: r.probability, label: r.label, threshold: r.threshold, error: r.error,
      involvement: r.involvement, pattern: r.pattern, category: r.category, refusal: r.refusal, reason: r.reason, orientation: r.orientation, polarity: r.polarity, tilt: r.tilt,
      series: r.dicom?.series, thumbnail: r.preview, heatmap: r.heatmap,
      // The same files asked again give the same names (the server's), so each row finds its own map.
      ...(!withMaps && !r.error && r.label !== 'NotCT' ? { makeHeatmap: async () => {
        const map = (await maps()).get(r.file);
        if (!map) throw new Error('the server made no heatmap for this slice');
        return map;
      } } : {}),
    })));
    addScans(json.scans ?? []);
  }
}

function pngUrl(width: number, height: number, rgb: (i: number) => [number, number, number]): string {
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d')!;
  const img = ctx.createImageData(width, height);
  for (let i = 0; i < width * height; i++) {
    const [r, g, b] = rgb(i);
    img.data[4 * i] = r; img.data[4 * i + 1] = g; img.data[4 * i + 2] = b; img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
  return canvas.toDataURL('image/png');
}

/** A smaller copy for the thumbnail and the overlay (the map covers the same region at any size). */
function shrink(grey: Grey, side: number): Grey {
  const long = Math.max(grey.width, grey.height);
  if (long <= side) return grey;
  const w = Math.max(1, Math.round((grey.width * side) / long)), h = Math.max(1, Math.round((grey.height * side) / long));
  return resample(grey, { x0: 0, y0: 0, w: grey.width, h: grey.height }, w, h);
}

async function analyseHere(files: File[]): Promise<void> {
  const p = card!.preprocessing;
  for (const f of files) {
    const row: ResultRow = { file: f.name, mode: 'device', probability: null, label: null, threshold: card!.threshold };
    try {
      const head = new Uint8Array(await f.slice(0, 348).arrayBuffer());
      const isPng = head[0] === 0x89 && head[1] === 0x50 && head[2] === 0x4e && head[3] === 0x47;
      const isJpeg = head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff;
      if (!isPng && !isJpeg) {
        const dicom = head.length >= 132 && String.fromCharCode(...head.slice(128, 132)) === 'DICM';
        const zip = head[0] === 0x50 && head[1] === 0x4b;
        if (isTiff(head)) throw new Error('TIFF files are read in server mode only: switch to "On this covid-ct server" (or save the slice as a PNG)');
        if (isGzip(head) || isNifti(head)) throw new Error('NIfTI volumes (.nii, .nii.gz) are read in server mode only: switch to "On this covid-ct server"');
        // The DICOM reader and its codecs (JPEG lossless, JPEG-LS, JPEG 2000, lossy JPEG: wasm, some 10 MB) run
        // on the server only; the page stays small and the device mode reads what the browser decodes itself.
        throw new Error(dicom || zip
          ? 'DICOM files (uncompressed or compressed: JPEG lossless, JPEG-LS, JPEG 2000, lossy JPEG) and zips are read in server mode only: switch to "On this covid-ct server"'
          : `not a PNG or JPEG image`);
      }
      const { grey, orientation, polarity, tilt, lungs, reading, map } = await analyseOnDevice(f, card!, pageWindow());
      Object.assign(row, {
        probability: reading.probability, label: reading.label, involvement: reading.involvement, pattern: reading.pattern,
        category: reading.category, ...refusalFields(reading), ...(orientation !== 'as-sent' ? { orientation } : {}), ...(polarity !== 'as-sent' ? { polarity } : {}),
        ...(tilt !== undefined ? { tilt } : {}),
      });
      const small = shrink(grey, 512);
      row.thumbnail = pngUrl(small.width, small.height, (i) => [small.data[i], small.data[i], small.data[i]]);
      const original = { width: grey.width, height: grey.height };
      const picture = async () => {
        const { grid, cam, fullScale } = await map();
        const rgb = slicePictureRgb(small, { original, cam: { grid, values: cam, ...(fullScale ? { fullScale } : {}) }, fit: p.fit, ...pictureLungs(lungs, p.lungs) });
        return pngUrl(small.width, small.height, (i) => [rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2]]);
      };
      // No heat over a slice that is not a chest CT. The map is made now when heatmaps are shown, else on request.
      if (reading.label !== 'NotCT') {
        if ($<HTMLInputElement>('#show-heatmaps').checked) row.heatmap = await picture();
        else row.makeHeatmap = picture;
      }
    } catch (e) {
      row.error = e instanceof DOMException || (e as Error).name === 'InvalidStateError'
        ? 'not an image this browser can decode (truncated or corrupt?)'
        : (e as Error).message;
    }
    addRows([row]);
  }
}

async function analyse(list: FileList | File[]): Promise<void> {
  const files = Array.from(list);
  if (!files.length) return;
  const progress = $('#progress');
  progress.textContent = `analysing ${files.length} file(s) ${mode() === 'device' ? 'on this device' : 'on the server'}...`;
  document.body.dataset.busy = '1';
  try {
    if (mode() === 'device') await analyseHere(files);
    else await analyseOnServer(files);
    progress.textContent = `${rows.length} result(s)`;
  } catch (e) {
    progress.textContent = `analysis failed: ${(e as Error).message}`;
  } finally {
    delete document.body.dataset.busy;
  }
}

// ---- model card -------------------------------------------------------------------------------------------

/**
 * The card's calibration line. The interval is centred on the bias-corrected ECE, not on the measured one
 * (src/eval/calibration.ts), so both are named; a report from before the correction shows its value and interval.
 */
export function calibrationLine(cal: { bins: number; ece: EceEstimate }): string {
  const e = cal.ece;
  const ece = e.bias_corrected === undefined
    ? `${e.value.toFixed(3)} [${e.ci[0].toFixed(3)}, ${e.ci[1].toFixed(3)}]`
    : `${e.value.toFixed(3)} measured; bias-corrected ${e.bias_corrected.toFixed(3)}, 95% CI [${e.ci[0].toFixed(3)}, ${e.ci[1].toFixed(3)}]`;
  return `Calibration on the test split: expected calibration error ${ece} (${cal.bins} bins).`;
}

function renderCard(c: ModelCard): void {
  const el = $('#model-card');
  el.replaceChildren();
  const add = (tag: string, text: string) => { const n = document.createElement(tag); n.textContent = text; el.append(n); return n; };
  add('h2', 'The model');
  add('p', `${c.name}: ${c.task}.`);
  add('p', `Backbone: ${c.backbone.architecture} (${c.backbone.pretrained ?? 'pretrained'}${c.backbone.licence ? `, ${c.backbone.licence}` : ''}), input ${c.backbone.inputSize}x${c.backbone.inputSize} grey.`);
  add('p', `Training data: ${c.trainingData}`);
  if (c.reading) {
    add('p', `How it reads a slice: P(COVID) = P(lung involvement present) x P(COVID-typical pattern, from the lungs only). ` +
      `Threshold ${c.threshold.toFixed(4)}: half the pattern's threshold ${c.reading.pattern.threshold.toFixed(4)} (chosen on val). ` +
      `Val AUC ${c.val?.auc?.toFixed(4) ?? '?'} on ${c.val?.n ?? '?'} slices.`);
  } else {
    add('p', `Threshold: ${c.threshold.toFixed(4)} (chosen on val). Val AUC ${c.val?.auc?.toFixed(4) ?? '?'} on ${c.val?.n ?? '?'} slices.`);
  }
  if (c.test) {
    add('h3', `Test split (${c.test.n} slices, scored once), 95% bootstrap intervals`);
    const t = document.createElement('table');
    const names: Record<string, string> = { accuracy: 'accuracy', sensitivity: 'sensitivity', specificity: 'specificity', precision: 'precision', f1: 'F1', auc: 'AUC' };
    for (const [k, label] of Object.entries(names)) {
      const m = c.test.metrics[k];
      if (!m) continue;
      const tr = document.createElement('tr');
      for (const text of [label, m.value.toFixed(3), `[${m.ci[0].toFixed(3)}, ${m.ci[1].toFixed(3)}]`]) {
        const td = document.createElement('td'); td.textContent = text; tr.append(td);
      }
      t.append(tr);
    }
    el.append(t);
    const cm = c.test.confusion;
    add('p', `Confusion (COVID positive): TP ${cm.tp}, FN ${cm.fn}, FP ${cm.fp}, TN ${cm.tn}.`);
  }
  if (c.test?.calibration) {
    add('p', calibrationLine(c.test.calibration));
  }
  add('p', c.calibration ?? 'P(COVID) is the model\'s score, not a calibrated probability: compare it with the threshold.').className = 'calibration';
  add('h3', 'Intended use');
  add('p', c.intendedUse).className = 'warning';
  if (c.attribution) add('p', c.attribution).className = 'hint';
}

// ---- wiring -----------------------------------------------------------------------------------------------

(globalThis as Record<string, unknown>).covidCt = { analyseOnDevice, resultsCsv, rows, scans };
if (typeof document !== 'undefined') {
  showMode();
  // One legend in the HTML; the viewer gets a copy (without the id, shown whenever its slice has a heatmap).
  const legend = $('#heat-legend').cloneNode(true) as HTMLElement;
  legend.removeAttribute('id');
  $('#viewer').append(legend);
  for (const bar of document.querySelectorAll<HTMLElement>('.heat-legend .heat-bar')) bar.style.background = heatGradientCss();
  $('#viewer-close').addEventListener('click', () => $<HTMLDialogElement>('#viewer').close());
  // A click on the backdrop (outside the dialog's box) closes it too.
  $('#viewer').addEventListener('click', (e) => { if (e.target === e.currentTarget) $<HTMLDialogElement>('#viewer').close(); });
  for (const r of document.querySelectorAll<HTMLInputElement>('input[name=mode]')) r.addEventListener('change', showMode);
  const input = $<HTMLInputElement>('#files');
  input.addEventListener('change', () => { if (input.files?.length) void analyse(input.files).then(() => { input.value = ''; }); });
  const drop = $('#drop');
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    if (e.dataTransfer?.files.length) void analyse(e.dataTransfer.files);
  });
  $('#download-csv').addEventListener('click', downloadCsv);
  $('#clear').addEventListener('click', () => {
    rows.length = 0;
    scans.length = 0;
    $('#results tbody').replaceChildren();
    $('#scans tbody').replaceChildren();
    $('#scans').hidden = true;
    $('#heat-legend').hidden = true;
    $<HTMLButtonElement>('#download-csv').disabled = true;
    $<HTMLButtonElement>('#clear').disabled = true;
  });
  $<HTMLInputElement>('#show-heatmaps').addEventListener('change', (e) => {
    const on = (e.target as HTMLInputElement).checked;
    for (const box of document.querySelectorAll<HTMLInputElement>('.heatmap-toggle')) {
      box.checked = on;
      box.dispatchEvent(new Event('change'));
    }
  });
  apiFetch('/api/model').then((r) => r.json() as Promise<ModelCard>).then((c) => {
    card = c;
    renderCard(c);
    // What full colour means: a lungs model's map is the fall of P, drawn on one scale for all slices (full colour at
    // the threshold, lung-evidence.ts heatFullScale); a whole-slice model's CAM is scaled to each slice's maximum.
    const full = c.reading && c.preprocessing.lungs ? `P falls by ≥ ${c.threshold.toFixed(2)}` : 'this slice\'s max';
    for (const el of document.querySelectorAll<HTMLElement>('.heat-legend .heat-max')) el.textContent = full;
    $('#intended-use').textContent = c.intendedUse;
    document.body.dataset.ready = '1';
  }, () => { $('#model-card').textContent = 'the model card could not be loaded'; });
}
