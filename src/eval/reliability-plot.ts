/**
 * The reliability diagram as an SVG document (rendered to PNG by the report writer): for each score bin, the
 * fraction of COVID images against the bin's mean P(COVID), with the diagonal of perfect calibration, the
 * model's threshold, and below it how many images fell in each bin (a point from 3 images says little).
 */
import type { CalibrationResult } from './calibration.js';

const escapeXml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export function reliabilitySvg(cal: CalibrationResult, opts: { title?: string; threshold?: number; width?: number; height?: number } = {}): string {
  const width = opts.width ?? 640;
  const height = opts.height ?? 820;
  const left = 72, right = 24, top = 48;
  const pw = width - left - right;
  const ph = pw; // square reliability panel
  const histTop = top + ph + 84;
  const hh = height - histTop - 48;
  const X = (p: number): number => left + p * pw;
  const Y = (f: number): number => top + (1 - f) * ph;
  const font = 'font-family="DejaVu Sans, Arial, Helvetica, sans-serif"';
  const parts: string[] = [`<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`];
  parts.push(`<text x="${width / 2}" y="${top - 18}" ${font} font-size="17" text-anchor="middle" fill="#111">${escapeXml(opts.title ?? 'Reliability diagram')}</text>`);
  for (let k = 0; k <= 5; k++) {
    const t = k / 5;
    parts.push(`<line x1="${X(t)}" y1="${Y(0)}" x2="${X(t)}" y2="${Y(1)}" stroke="#e5e5e5"/>`);
    parts.push(`<line x1="${X(0)}" y1="${Y(t)}" x2="${X(1)}" y2="${Y(t)}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${X(t)}" y="${top + ph + 20}" ${font} font-size="13" text-anchor="middle" fill="#333">${t.toFixed(1)}</text>`);
    parts.push(`<text x="${left - 10}" y="${Y(t) + 4}" ${font} font-size="13" text-anchor="end" fill="#333">${t.toFixed(1)}</text>`);
  }
  parts.push(`<rect x="${left}" y="${top}" width="${pw}" height="${ph}" fill="none" stroke="#333" stroke-width="1.2"/>`);
  parts.push(`<text x="${left + pw / 2}" y="${top + ph + 40}" ${font} font-size="14" text-anchor="middle" fill="#111">mean P(COVID) in the bin</text>`);
  parts.push(`<text transform="translate(20 ${top + ph / 2}) rotate(-90)" ${font} font-size="14" text-anchor="middle" fill="#111">fraction of COVID images in the bin</text>`);
  parts.push(`<line x1="${X(0)}" y1="${Y(0)}" x2="${X(1)}" y2="${Y(1)}" stroke="#888" stroke-width="1.5" stroke-dasharray="6 5"/>`);
  if (opts.threshold !== undefined) {
    parts.push(`<line x1="${X(opts.threshold)}" y1="${Y(0)}" x2="${X(opts.threshold)}" y2="${Y(1)}" stroke="#d62728" stroke-width="1.2" stroke-dasharray="3 3"/>`);
    parts.push(`<text x="${X(opts.threshold) + 4}" y="${Y(0) - 8}" ${font} font-size="12" fill="#d62728">threshold ${opts.threshold.toFixed(3)}</text>`);
  }
  const filled = cal.reliability.filter((b) => b.n > 0);
  // Gaps between the point and the diagonal: what the ECE averages.
  for (const b of filled) {
    parts.push(`<line x1="${X(b.meanScore as number)}" y1="${Y(b.meanScore as number)}" x2="${X(b.meanScore as number)}" y2="${Y(b.fractionCovid as number)}" stroke="#f0a000" stroke-width="3" stroke-opacity="0.7"/>`);
  }
  parts.push(`<polyline points="${filled.map((b) => `${X(b.meanScore as number).toFixed(2)},${Y(b.fractionCovid as number).toFixed(2)}`).join(' ')}" fill="none" stroke="#1f5fbf" stroke-width="2"/>`);
  for (const b of filled) parts.push(`<circle cx="${X(b.meanScore as number).toFixed(2)}" cy="${Y(b.fractionCovid as number).toFixed(2)}" r="5" fill="#1f5fbf" stroke="#fff" stroke-width="1.2"/>`);
  // Legend, top left: the corner a reliability curve reaches only for a badly under-confident top bin.
  const ece = cal.ece;
  const legend = [
    ece.ci === null ? `ECE ${ece.value.toFixed(3)} (too few units for an interval)`
      : `ECE ${ece.value.toFixed(3)}; bias-corrected ${ece.bias_corrected.toFixed(3)} [${ece.ci[0].toFixed(3)}, ${ece.ci[1].toFixed(3)}]`,
    `${cal.bins} equal-width bins; dashed: perfect calibration`,
  ];
  parts.push(`<rect x="${left + 8}" y="${top + 8}" width="${Math.min(pw - 16, 330)}" height="${legend.length * 20 + 8}" fill="#fff" fill-opacity="0.92" stroke="#999"/>`);
  legend.forEach((t, i) => parts.push(`<text x="${left + 16}" y="${top + 26 + i * 20}" ${font} font-size="13" fill="#111">${escapeXml(t)}</text>`));
  // Counts per bin.
  const max = Math.max(1, ...cal.reliability.map((b) => b.n));
  parts.push(`<text x="${left}" y="${histTop - 8}" ${font} font-size="13" fill="#333">images per bin (most: ${max})</text>`);
  for (const b of cal.reliability) {
    const h = (b.n / max) * hh;
    parts.push(`<rect x="${(X(b.lo) + 1).toFixed(2)}" y="${(histTop + hh - h).toFixed(2)}" width="${(X(b.hi) - X(b.lo) - 2).toFixed(2)}" height="${h.toFixed(2)}" fill="#9bb7e0"/>`);
    if (b.n) parts.push(`<text x="${((X(b.lo) + X(b.hi)) / 2).toFixed(2)}" y="${(histTop + hh - h - 3).toFixed(2)}" ${font} font-size="11" text-anchor="middle" fill="#333">${b.n}</text>`);
  }
  parts.push(`<line x1="${X(0)}" y1="${histTop + hh}" x2="${X(1)}" y2="${histTop + hh}" stroke="#333"/>`);
  for (let k = 0; k <= 5; k++) parts.push(`<text x="${X(k / 5)}" y="${histTop + hh + 16}" ${font} font-size="12" text-anchor="middle" fill="#333">${(k / 5).toFixed(1)}</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">\n${parts.join('\n')}\n</svg>\n`;
}
