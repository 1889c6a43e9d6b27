/**
 * Writes a set of images that are NOT chest CT slices, for measuring how often the model refuses them
 * (label NotCT). Deterministic (fixed seeds, fixed text, sorted system files) and idempotent: a file that is
 * already there is kept; every file is written to a temporary name and renamed. Progress goes to stderr;
 * `manifest.csv` (path,kind,source) lists what the folder holds.
 *
 *   node dist/bench/nonct-set.js [--out DIR] [--data-md DIR] [--no-screenshots] [--no-xray]
 *   (npm run nonct:make -- [--out DIR])
 *
 * Kinds: blank, flat-grey, gradient-linear, gradient-radial, noise-uniform, noise-gaussian, salt-pepper,
 * checkerboard, stripes, shapes, text-paragraph, text-code, text-table, photo, icon, wallpaper, doc-image,
 * screenshot, xray-projection, xray-synthetic.
 *
 * Only READS system folders. The Debian packages it reads from (each missing folder just means fewer images,
 * said on stderr):
 *   apt-get install -y --no-install-recommends python-matplotlib-data desktop-base chromium dcmtk
 *   - python-matplotlib-data: /usr/share/matplotlib/mpl-data/sample_data (grace_hopper.jpg, ...): photos
 *   - desktop-base: /usr/share/desktop-base/<theme>/wallpaper (SVG wallpapers, rendered by sharp)
 *   - adwaita-icon-theme / hicolor-icon-theme (usually present): /usr/share/icons, /usr/share/pixmaps
 *   - any package's /usr/share/doc/<pkg>/**.png|jpg
 *   - chromium (with playwright-core, a devDependency): screenshots of `covid-ct serve`'s page
 *   - dcmtk: dcmdjpeg, to uncompress the CT-MD series (JPEG Lossless, which src/data/dicom.ts does not decode)
 * The X-ray-like projections are made from the CT-MD DICOM series in ../shared/data/covid-ct-md-sample/dicom
 * (P001, normal001): they are derived from the dataset and only ever written to the output folder (under
 * .cache/, git-ignored), never into the repository.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { benchArgs } from './args.js';
import sharp, { type Sharp } from 'sharp';
import dicomParser from 'dicom-parser';
import { Rng, deriveSeed } from '../src/util/prng.js';
import { decodeDicom } from '../src/data/dicom.js';
import { packageRoot } from '../src/cli/command.js';

const { values } = benchArgs(import.meta.url, {
  options: {
    out: { type: 'string' },
    'data-md': { type: 'string' },
    'no-screenshots': { type: 'boolean', default: false },
    'no-xray': { type: 'boolean', default: false },
    chromium: { type: 'string' },
  },
});
const ROOT = packageRoot();
const OUT = path.resolve(values.out ?? path.join(ROOT, '.cache/covid-ct/nonct'));
const MD = path.resolve(values['data-md'] ?? path.join(ROOT, '../shared/data/covid-ct-md-sample'));
const CHROMIUM = values.chromium ?? process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SEED = 20260101;

type Format = 'png' | 'jpeg';
type Mode = 'grey' | 'rgb' | 'rgba';
interface Item {
  /** Relative to OUT, with extension. */
  file: string;
  kind: string;
  source: string;
  make: () => Promise<Buffer>;
}

const log = (s: string) => process.stderr.write(s + '\n');
const rngFor = (key: string) => new Rng(deriveSeed(SEED, key));

// ---------------------------------------------------------------------------------------------------------
// Encoding

/** Raw pixels (1 or 3 channels, 8-bit) -> PNG/JPEG in the requested colour mode. */
async function encode(data: Uint8Array, width: number, height: number, channels: 1 | 3 | 4, fmt: Format, mode: Mode): Promise<Buffer> {
  const img = sharp(Buffer.from(data.buffer, data.byteOffset, data.byteLength), { raw: { width, height, channels } });
  return finish(img, fmt, mode, channels);
}

/** Converts a sharp pipeline to the colour mode and format. JPEG has no alpha: rgba becomes rgb there. */
async function finish(img: Sharp, fmt: Format, mode: Mode, channels?: number): Promise<Buffer> {
  if (mode === 'grey') img = img.flatten({ background: '#ffffff' }).toColourspace('b-w');
  else if (mode === 'rgb') img = img.flatten({ background: '#ffffff' }).toColourspace('srgb');
  else img = channels === 1 ? img.toColourspace('srgb').ensureAlpha(1) : img.toColourspace('srgb').ensureAlpha(1);
  if (fmt === 'jpeg') return img.flatten({ background: '#ffffff' }).jpeg({ quality: 85 }).toBuffer();
  return img.png({ compressionLevel: 6 }).toBuffer();
}

const FORMATS: Format[] = ['png', 'jpeg'];
const MODES: Mode[] = ['grey', 'rgb', 'rgba'];
/** Size between 64 and 1200 px per side, aspect 0.5-2, drawn from `r`. */
function drawSize(r: Rng): [number, number] {
  const long = Math.round(Math.exp(r.uniform(Math.log(64), Math.log(1200))));
  const aspect = r.next() < 0.35 ? 1 : r.uniform(0.5, 1);
  const short = Math.max(64, Math.round(long * aspect));
  return r.next() < 0.5 ? [long, short] : [short, long];
}
const ext = (f: Format) => (f === 'png' ? 'png' : 'jpg');

// ---------------------------------------------------------------------------------------------------------
// Synthetic patterns: a function of (x, y) -> RGB, on a raw buffer

type Pixel = (x: number, y: number) => [number, number, number];
function raster(w: number, h: number, f: Pixel): Uint8Array {
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const [r, g, b] = f(x, y);
    const i = 3 * (y * w + x);
    out[i] = clamp(r); out[i + 1] = clamp(g); out[i + 2] = clamp(b);
  }
  return out;
}
const clamp = (v: number) => (v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v));
const randColour = (r: Rng): [number, number, number] => [r.int(256), r.int(256), r.int(256)];
const grey = (v: number): [number, number, number] => [v, v, v];

interface PatternSpec { kind: string; count: number; make: (r: Rng, w: number, h: number, i: number) => Pixel | Promise<Buffer> }

const PATTERNS: PatternSpec[] = [
  { kind: 'blank', count: 8, make: (_r, _w, _h, i) => { const v = i % 2 === 0 ? 0 : 255; return () => grey(v); } },
  { kind: 'flat-grey', count: 8, make: (_r, _w, _h, i) => { const v = [32, 64, 96, 128, 160, 192, 224, 48][i]; return () => grey(v); } },
  {
    kind: 'gradient-linear', count: 8, make: (r, w, h) => {
      const a = r.uniform(0, 2 * Math.PI), c0 = randColour(r), c1 = r.next() < 0.5 ? randColour(r) : ([255, 255, 255] as [number, number, number]);
      const greyOnly = r.next() < 0.5;
      const dx = Math.cos(a), dy = Math.sin(a), span = Math.abs(dx) * w + Math.abs(dy) * h;
      const x0 = dx < 0 ? w : 0, y0 = dy < 0 ? h : 0;
      return (x, y) => {
        const t = ((x - x0) * dx + (y - y0) * dy) / span;
        const m = c0.map((v, k) => v + (c1[k] - v) * t) as [number, number, number];
        return greyOnly ? grey(255 * t) : m;
      };
    },
  },
  {
    kind: 'gradient-radial', count: 8, make: (r, w, h) => {
      const cx = r.uniform(0.2, 0.8) * w, cy = r.uniform(0.2, 0.8) * h, rad = r.uniform(0.3, 0.9) * Math.hypot(w, h);
      const inv = r.next() < 0.5, c = randColour(r), greyOnly = r.next() < 0.5;
      return (x, y) => {
        let t = Math.min(1, Math.hypot(x - cx, y - cy) / rad);
        if (inv) t = 1 - t;
        return greyOnly ? grey(255 * t) : [c[0] * t, c[1] * t, c[2] * t];
      };
    },
  },
  { kind: 'noise-uniform', count: 8, make: (r, _w, _h, i) => (i % 2 === 0 ? () => grey(r.int(256)) : () => randColour(r)) },
  {
    kind: 'noise-gaussian', count: 8, make: (r, _w, _h, i) => {
      const mu = r.uniform(60, 200), sd = r.uniform(10, 60);
      return i % 2 === 0 ? () => grey(mu + sd * r.normal()) : () => [mu + sd * r.normal(), mu + sd * r.normal(), mu + sd * r.normal()];
    },
  },
  {
    kind: 'salt-pepper', count: 6, make: (r) => {
      const p = r.uniform(0.02, 0.3), base = r.int(256);
      return () => { const u = r.next(); return grey(u < p / 2 ? 0 : u < p ? 255 : base); };
    },
  },
  {
    kind: 'checkerboard', count: 8, make: (r) => {
      const s = 4 + r.int(60), a = r.next() < 0.6 ? grey(0) : randColour(r), b = r.next() < 0.6 ? grey(255) : randColour(r);
      return (x, y) => ((Math.floor(x / s) + Math.floor(y / s)) % 2 === 0 ? a : b);
    },
  },
  {
    kind: 'stripes', count: 8, make: (r) => {
      const period = 4 + r.int(80), angle = [0, Math.PI / 2, Math.PI / 4, r.uniform(0, Math.PI)][r.int(4)];
      const sine = r.next() < 0.4, a = grey(r.int(80)), b = r.next() < 0.5 ? grey(175 + r.int(80)) : randColour(r);
      const dx = Math.cos(angle), dy = Math.sin(angle);
      return (x, y) => {
        const u = (x * dx + y * dy) / period;
        const t = sine ? 0.5 + 0.5 * Math.sin(2 * Math.PI * u) : (Math.floor(u) % 2 === 0 ? 1 : 0);
        return [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];
      };
    },
  },
  { kind: 'shapes', count: 14, make: (r, w, h) => shapesSvg(r, w, h) },
];

/** Simple geometric drawings: circles, ellipses, rectangles, polygons and lines on a flat background. */
async function shapesSvg(r: Rng, w: number, h: number): Promise<Buffer> {
  const col = () => `rgb(${r.int(256)},${r.int(256)},${r.int(256)})`;
  const bg = r.next() < 0.5 ? (r.next() < 0.5 ? '#ffffff' : '#000000') : col();
  const parts: string[] = [`<rect width="${w}" height="${h}" fill="${bg}"/>`];
  const n = 3 + r.int(15);
  for (let k = 0; k < n; k++) {
    const x = r.uniform(0, w), y = r.uniform(0, h), s = r.uniform(0.03, 0.3) * Math.min(w, h);
    const fill = r.next() < 0.7 ? col() : 'none', stroke = col(), sw = 1 + r.int(6);
    const t = r.int(5);
    if (t === 0) parts.push(`<circle cx="${x}" cy="${y}" r="${s}" fill="${fill}" stroke="${stroke}" stroke-width="${sw}"/>`);
    else if (t === 1) parts.push(`<ellipse cx="${x}" cy="${y}" rx="${s}" ry="${s * r.uniform(0.3, 1)}" transform="rotate(${r.int(180)} ${x} ${y})" fill="${fill}" stroke="${stroke}" stroke-width="${sw}"/>`);
    else if (t === 2) parts.push(`<rect x="${x}" y="${y}" width="${s * 1.5}" height="${s}" fill="${fill}" stroke="${stroke}" stroke-width="${sw}"/>`);
    else if (t === 3) {
      const pts = Array.from({ length: 3 + r.int(4) }, () => `${x + r.uniform(-s, s)},${y + r.uniform(-s, s)}`).join(' ');
      parts.push(`<polygon points="${pts}" fill="${fill}" stroke="${stroke}" stroke-width="${sw}"/>`);
    } else parts.push(`<line x1="${x}" y1="${y}" x2="${r.uniform(0, w)}" y2="${r.uniform(0, h)}" stroke="${stroke}" stroke-width="${sw}"/>`);
  }
  return svgToPng(`<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}">${parts.join('')}</svg>`);
}

const svgToPng = (svg: string) => sharp(Buffer.from(svg)).png().toBuffer();

// ---------------------------------------------------------------------------------------------------------
// Text rendered from SVG

const PARAGRAPHS = [
  'The committee met on Tuesday to review the budget for the coming year. After a long discussion about the cost of heating the old library, members agreed to postpone the repairs to the roof until spring, when prices are usually lower and the weather allows the work to be done safely.',
  'To install the package, download the archive, unpack it in a folder of your choice and run the setup program. The program asks for a destination and a language; the defaults suit most users. Restart the computer when the installation has finished.',
  'Rivers carry sediment from the mountains to the sea. Where the current slows, on the inside of a bend or at the mouth of the river, the sediment settles and builds banks, bars and deltas that change shape with every flood.',
  'Dear customer, thank you for your order. Your parcel left our warehouse this morning and should arrive within three working days. You can follow its progress with the tracking number printed on the receipt.',
  'Bake the bread at two hundred and twenty degrees for thirty-five minutes, until the crust is deep brown and the loaf sounds hollow when tapped underneath. Let it cool on a rack for at least an hour before slicing.',
];
const CODE = [
  ['function fibonacci(n: number): number {', '  let a = 0, b = 1;', '  for (let i = 0; i < n; i++) {', '    [a, b] = [b, a + b];', '  }', '  return a;', '}', '', 'console.log(fibonacci(30));'],
  ['import os', 'import sys', '', 'def walk(root):', '    for dirpath, dirs, files in os.walk(root):', '        for name in sorted(files):', '            yield os.path.join(dirpath, name)', '', 'if __name__ == "__main__":', '    for p in walk(sys.argv[1]):', '        print(p)'],
  ['#include <stdio.h>', '', 'int main(int argc, char **argv) {', '    int total = 0;', '    for (int i = 1; i < argc; i++)', '        total += atoi(argv[i]);', '    printf("%d\\n", total);', '    return 0;', '}'],
  ['SELECT c.name, COUNT(o.id) AS orders', 'FROM customers c', 'LEFT JOIN orders o ON o.customer_id = c.id', "WHERE o.created_at >= '2024-01-01'", 'GROUP BY c.name', 'HAVING COUNT(o.id) > 3', 'ORDER BY orders DESC;'],
];
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function wrap(text: string, chars: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if ((line + ' ' + word).trim().length > chars) { lines.push(line.trim()); line = word; } else line += ' ' + word;
  }
  if (line.trim()) lines.push(line.trim());
  return lines;
}

function textSvg(w: number, h: number, lines: string[], font: string, size: number, dark: boolean, extra = ''): string {
  const fg = dark ? '#111111' : '#eeeeee', bg = dark ? '#ffffff' : '#1e1e1e';
  const rows = lines.map((l, i) => `<text x="${size}" y="${size * 1.8 + i * size * 1.4}" font-family="${font}" font-size="${size}" fill="${fg}" xml:space="preserve">${esc(l)}</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}"><rect width="${w}" height="${h}" fill="${bg}"/>${extra}${rows.join('')}</svg>`;
}

function textItem(r: Rng, kind: string, i: number, w: number, h: number): string {
  const dark = i % 2 === 0;
  const size = Math.max(9, Math.round(Math.min(w, h) / r.uniform(18, 40)));
  if (kind === 'text-paragraph') {
    const chars = Math.max(12, Math.floor(w / (size * 0.55)) - 2);
    const lines = PARAGRAPHS.slice(i % PARAGRAPHS.length).concat(PARAGRAPHS).flatMap((p) => [...wrap(p, chars), '']);
    return textSvg(w, h, lines.slice(0, Math.ceil(h / (size * 1.4))), i % 3 === 0 ? 'DejaVu Serif' : 'DejaVu Sans', size, dark);
  }
  if (kind === 'text-code') {
    const code = CODE[i % CODE.length];
    const lines = code.map((l, k) => `${String(k + 1).padStart(3)}  ${l}`);
    return textSvg(w, h, lines, 'DejaVu Sans Mono', size, dark);
  }
  // table: header, rule, rows of numbers
  const cols = 3 + r.int(3);
  const header = ['Region', 'Q1', 'Q2', 'Q3', 'Q4', 'Total'].slice(0, cols);
  const names = ['North', 'South', 'East', 'West', 'Centre', 'Islands', 'Coast', 'Hills', 'Valley', 'Plains'];
  const colW = Math.floor((w - 2 * size) / cols);
  const rowsN = Math.max(3, Math.min(names.length, Math.floor(h / (size * 1.6)) - 2));
  const fg = dark ? '#111111' : '#eeeeee';
  let svg = '';
  const cell = (c: number, row: number, s: string, bold = false) =>
    `<text x="${size + c * colW}" y="${size * 1.8 + row * size * 1.6}" font-family="DejaVu Sans" font-size="${size}" ${bold ? 'font-weight="bold"' : ''} fill="${fg}">${esc(s)}</text>`;
  header.forEach((s, c) => { svg += cell(c, 0, s, true); });
  svg += `<line x1="${size / 2}" x2="${w - size / 2}" y1="${size * 2.4}" y2="${size * 2.4}" stroke="${fg}" stroke-width="${Math.max(1, size / 10)}"/>`;
  for (let row = 1; row <= rowsN; row++) {
    svg += cell(0, row, names[(row - 1) % names.length]);
    for (let c = 1; c < cols; c++) svg += cell(c, row, (r.uniform(0, 10000)).toFixed(c % 2 ? 0 : 2));
    if (r.next() < 0.5) svg += `<line x1="${size / 2}" x2="${w - size / 2}" y1="${size * 2.4 + row * size * 1.6}" y2="${size * 2.4 + row * size * 1.6}" stroke="${fg}" stroke-opacity="0.3"/>`;
  }
  return textSvg(w, h, [], 'DejaVu Sans', size, dark, svg);
}

// ---------------------------------------------------------------------------------------------------------
// System images (read only)

const pkgCache = new Map<string, string>();
/** The Debian package that installed a file (dpkg -S), or "unknown". */
function packageOf(file: string): string {
  const dir = path.dirname(file);
  try {
    const out = execFileSync('dpkg', ['-S', realpathSync(file)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const pkg = out.split(':')[0].trim();
    pkgCache.set(dir, pkg);
    return pkg;
  } catch {
    return pkgCache.get(dir) ?? 'unknown';
  }
}

function walk(dir: string, match: (p: string) => boolean, maxDepth = 8): string[] {
  const out: string[] = [];
  const go = (d: string, depth: number) => {
    let names: string[];
    try { names = readdirSync(d).sort(); } catch { return; }
    for (const n of names) {
      const p = path.join(d, n);
      let s;
      try { s = statSync(p); } catch { continue; }
      if (s.isDirectory()) { if (depth < maxDepth) go(p, depth + 1); } else if (s.isFile() && match(p)) out.push(p);
    }
  };
  go(dir, 0);
  return out;
}

/** A deterministic pick of `n` of `list` (seeded shuffle of the sorted list, then sorted again). */
function pick<T>(list: T[], n: number, key: string): T[] {
  return rngFor(key).shuffle([...list]).slice(0, n);
}

const missing: string[] = [];
function systemFolder(dir: string, what: string, pkg: string): boolean {
  if (existsSync(dir)) return true;
  missing.push(`${dir} (${what}; apt-get install ${pkg})`);
  return false;
}

/** Variants of a system picture: resized to a drawn size (fit inside, no upscale beyond 1200), crops, grey. */
function variants(file: string, kind: string, count: number, tag: string, density?: number): Item[] {
  const source = `${packageOf(file)}:${file}`;
  const base = path.basename(file).replace(/\.[^.]+$/, '').replace(/[^A-Za-z0-9_-]+/g, '_');
  const items: Item[] = [];
  for (let v = 0; v < count; v++) {
    const r = rngFor(`${kind}/${file}/${v}`);
    const fmt = FORMATS[(v + base.length) % 2], mode = MODES[(v + base.length) % 3];
    const [w, h] = drawSize(r);
    const crop = v % 3 === 2;
    items.push({
      file: `${kind}/${tag}_${base}_${v}.${ext(fmt)}`, kind, source,
      make: async () => {
        let img = sharp(await readFile(file), density ? { density } : {});
        if (crop) {
          const m = await img.metadata();
          const W = m.width ?? 0, H = m.height ?? 0;
          const cw = Math.max(16, Math.round(W * r.uniform(0.4, 0.8))), ch = Math.max(16, Math.round(H * r.uniform(0.4, 0.8)));
          img = sharp(await img.png().toBuffer()).extract({ left: r.int(Math.max(1, W - cw)), top: r.int(Math.max(1, H - ch)), width: Math.min(cw, W), height: Math.min(ch, H) });
          img = sharp(await img.png().toBuffer());
        }
        // 'inside' keeps the whole picture, but not below 64 px on the short side; very elongated pictures
        // (doc banners) are cut to the drawn size instead ('cover'), so every side stays within 64-1200 px.
        const m = await img.metadata();
        const sw = m.width ?? w, sh = m.height ?? h, aspect = sw / sh;
        if (v % 2 === 0 && aspect <= 4 && aspect >= 0.25) {
          let scale = Math.min(w / sw, h / sh);
          scale = Math.min(Math.max(scale, 64 / Math.min(sw, sh)), 1200 / Math.max(sw, sh));
          img = img.resize(Math.round(sw * scale), Math.round(sh * scale), { fit: 'fill', kernel: 'lanczos3' });
        } else img = img.resize(w, h, { fit: 'cover', kernel: 'lanczos3' });
        return finish(img, fmt, mode);
      },
    });
  }
  return items;
}

function systemItems(): Item[] {
  const items: Item[] = [];
  // Photos: matplotlib's sample data (grace_hopper.jpg and two pictures); never its medical volumes (.ima, .raw).
  const mpl = '/usr/share/matplotlib/mpl-data/sample_data';
  if (systemFolder(mpl, 'photos', 'python-matplotlib-data')) {
    for (const f of walk(mpl, (p) => /\.(png|jpe?g)$/i.test(p), 0)) items.push(...variants(f, 'photo', f.includes('grace_hopper') ? 8 : 4, 'mpl'));
  }
  // Wallpapers: desktop-base's SVGs, one per theme (the 1920x1080 one when there), rendered by sharp.
  const db = '/usr/share/desktop-base';
  if (systemFolder(db, 'wallpapers', 'desktop-base')) {
    const walls = walk(db, (p) => /\/wallpaper\/contents\/images\/[^/]+\.(svg|png|jpe?g)$/i.test(p));
    const byTheme = new Map<string, string>();
    // active-theme (and similar) are symlinks to one of the themes: skipped, so no picture comes twice.
    const isLink = (f: string) => lstatSync(path.join(db, path.relative(db, f).split('/')[0])).isSymbolicLink();
    for (const f of walls.filter((w) => !isLink(w))) {
      const theme = f.slice(db.length + 1).split('/')[0];
      if (!byTheme.has(theme) || /1920x1080/.test(f)) byTheme.set(theme, f);
    }
    for (const f of [...byTheme.values()].sort()) items.push(...variants(f, 'wallpaper', 2, path.relative(db, f).split('/')[0], 24));
    const grub = walk(db, (p) => /grub-16x9\.png$/.test(p)).filter((f) => !isLink(f));
    for (const f of grub) items.push(...variants(f, 'wallpaper', 1, 'grub_' + path.relative(db, f).split('/')[0]));
  }
  // Icons: large Adwaita/hicolor/desktop-base PNGs and /usr/share/pixmaps.
  const iconFiles: string[] = [];
  if (systemFolder('/usr/share/icons', 'icons', 'adwaita-icon-theme hicolor-icon-theme')) {
    iconFiles.push(...pick(walk('/usr/share/icons', (p) => /\/(256x256|512x512)\/.*\.png$/.test(p)), 14, 'icons-large'));
    iconFiles.push(...pick(walk('/usr/share/icons', (p) => /\/(48x48|64x64|96x96)\/.*\.png$/.test(p)), 8, 'icons-small'));
  }
  if (systemFolder('/usr/share/pixmaps', 'icons', 'debian-logo')) iconFiles.push(...walk('/usr/share/pixmaps', (p) => /\.png$/i.test(p), 0));
  for (const f of iconFiles) {
    const tag = path.relative('/usr/share', path.dirname(f)).replace(/[^A-Za-z0-9]+/g, '_');
    items.push(...variants(f, 'icon', 1, tag));
  }
  // Pictures in package documentation.
  if (systemFolder('/usr/share/doc', 'documentation pictures', 'any package with PNG/JPEG docs')) {
    const docs = walk('/usr/share/doc', (p) => /\.(png|jpe?g)$/i.test(p) && statSync(p).size > 2000, 4);
    for (const f of pick(docs, 10, 'docs')) items.push(...variants(f, 'doc-image', 1, path.relative('/usr/share/doc', path.dirname(f)).replace(/[^A-Za-z0-9]+/g, '_')));
  }
  return items;
}

// ---------------------------------------------------------------------------------------------------------
// X-ray-like projections of the CT-MD series, and synthetic X-ray drawings

/** A CT series as a volume in HU: [slice][row][col], slices ordered from feet to head by position. */
interface Volume { nz: number; ny: number; nx: number; hu: Float32Array; pixelMm: number; sliceMm: number }

/** Decodes with a window wide enough to recover HU from the 8-bit grey: -1000..2000 HU, 11.8 HU per level. */
const HU_WINDOW = { level: 500, width: 3000 };
async function loadVolume(dir: string): Promise<Volume> {
  const files = (await readdir(dir)).filter((n) => !n.startsWith('.')).sort();
  const slices: { pos: number; data: Uint8Array; w: number; h: number }[] = [];
  let pixelMm = 0.7;
  let tmp: string | undefined;
  try {
  for (const f of files) {
    let bytes: Buffer = await readFile(path.join(dir, f));
    let d;
    try {
      d = await decodeDicom(bytes, { window: HU_WINDOW });
    } catch (e) {
      // CT-MD is JPEG Lossless (process 14), which src/data/dicom.ts refuses: dcmtk's dcmdjpeg (apt-get install
      // dcmtk) rewrites it uncompressed into a temporary folder, and our decoder reads that.
      if (!/JPEG lossless/i.test((e as Error).message)) throw e;
      tmp ??= await mkdtemp(path.join(os.tmpdir(), 'nonct-dcm-'));
      const plain = path.join(tmp, f);
      try {
        execFileSync('dcmdjpeg', [path.join(dir, f), plain], { stdio: ['ignore', 'ignore', 'pipe'] });
      } catch (e2) {
        throw new Error(`${(e as Error).message}; and dcmdjpeg failed (apt-get install dcmtk): ${(e2 as Error).message.split('\n')[0]}`);
      }
      bytes = await readFile(plain);
      d = await decodeDicom(bytes, { window: HU_WINDOW });
    }
    if (slices.length === 0) {
      const ds = dicomParser.parseDicom(bytes, { untilTag: 'x7fe00010' });
      const ps = ds.string('x00280030');
      if (ps) pixelMm = Number(ps.split('\\')[0]) || pixelMm;
    }
    for (const fr of d.frames) slices.push({ pos: fr.position ?? slices.length, data: fr.image.data, w: fr.image.width, h: fr.image.height });
  }
  } finally {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  }
  slices.sort((a, b) => a.pos - b.pos);
  const nz = slices.length, ny = slices[0].h, nx = slices[0].w;
  const hu = new Float32Array(nz * ny * nx);
  slices.forEach((s, z) => { for (let i = 0; i < nx * ny; i++) hu[z * nx * ny + i] = HU_WINDOW.level - HU_WINDOW.width / 2 + (s.data[i] / 255) * HU_WINDOW.width; });
  const sliceMm = nz > 1 ? Math.abs(slices[nz - 1].pos - slices[0].pos) / (nz - 1) : pixelMm;
  return { nz, ny, nx, hu, pixelMm, sliceMm };
}

/**
 * Projection of attenuation (HU + 1000, bone weighted up) along an axis: 'ap' sums over rows (a frontal view,
 * z x columns), 'lat' over columns (a lateral view, z x rows). Returns grey 0..255 with bone and soft tissue
 * bright and air dark, like a chest radiograph on a light box; head at the top.
 */
function project(v: Volume, axis: 'ap' | 'lat', opts: { gamma: number; k: number }): { data: Uint8Array; w: number; h: number } {
  const w = axis === 'ap' ? v.nx : v.ny, h = v.nz;
  const line = new Float64Array(w * h);
  for (let z = 0; z < v.nz; z++) for (let y = 0; y < v.ny; y++) for (let x = 0; x < v.nx; x++) {
    const huv = v.hu[(z * v.ny + y) * v.nx + x];
    let mu = Math.max(0, huv + 1000) / 1000;
    if (huv > 200) mu *= 1 + (huv - 200) / 600; // bone attenuates more at X-ray energies than HU alone says
    line[(v.nz - 1 - z) * w + (axis === 'ap' ? x : y)] += mu * v.pixelMm;
  }
  // Percentile normalisation, then an exposure curve: 1 - exp(-k t), and gamma.
  const sorted = Float64Array.from(line).sort();
  const hi = sorted[Math.floor(sorted.length * 0.995)] || 1;
  const data = new Uint8Array(w * h);
  for (let i = 0; i < w * h; i++) {
    const t = Math.min(1, line[i] / hi);
    const e = (1 - Math.exp(-opts.k * t)) / (1 - Math.exp(-opts.k));
    data[i] = clamp(255 * Math.pow(e, opts.gamma));
  }
  return { data, w, h };
}

function xrayItems(): Item[] {
  const items: Item[] = [];
  const series = [
    { id: 'P001', dir: path.join(MD, 'dicom/P001') },
    { id: 'normal001', dir: path.join(MD, 'dicom/normal001') },
  ];
  const volumes = new Map<string, Promise<Volume>>();
  const volumeOf = (id: string, dir: string) => {
    if (!volumes.has(id)) volumes.set(id, loadVolume(dir));
    return volumes.get(id)!;
  };
  const looks = [
    { tag: 'std', gamma: 1.0, k: 2.5, invert: false },
    { tag: 'hard', gamma: 1.6, k: 3.5, invert: false },
    { tag: 'soft', gamma: 0.8, k: 1.5, invert: false },
    { tag: 'inv', gamma: 1.0, k: 2.5, invert: true },
  ];
  for (const s of series) {
    if (!existsSync(s.dir)) { missing.push(`${s.dir} (CT-MD DICOM series for X-ray-like projections)`); continue; }
    for (const axis of ['ap', 'lat'] as const) {
      for (const [li, look] of looks.entries()) {
        if (axis === 'lat' && li >= 2) continue;
        const r = rngFor(`xray/${s.id}/${axis}/${look.tag}`);
        const fmt = FORMATS[(li + (axis === 'lat' ? 1 : 0)) % 2];
        const mode: Mode = li === 1 ? 'rgb' : 'grey';
        items.push({
          file: `xray-projection/${s.id}_${axis}_${look.tag}.${ext(fmt)}`, kind: 'xray-projection', source: `CT-MD ${s.id} DICOM series (projection)`,
          make: async () => {
            const v = await volumeOf(s.id, s.dir);
            const p = project(v, axis, look);
            if (look.invert) for (let i = 0; i < p.data.length; i++) p.data[i] = 255 - p.data[i];
            // Physical aspect: width in mm (pixelMm per column), height in mm (sliceMm per slice); then a
            // typical radiograph size (frontal ~ 0.8-1.2 aspect, up to 1200 px), a dark border like a detector.
            const wmm = p.w * v.pixelMm, hmm = p.h * v.sliceMm;
            const long = r.uniform(500, 1200) / 1.08; // the longest side with its border within 500-1200 px
            const W = Math.round(wmm >= hmm ? long : (long * wmm) / hmm);
            const H = Math.round(wmm >= hmm ? (long * hmm) / wmm : long);
            const pad = Math.round(Math.max(W, H) * 0.04);
            const img = sharp(Buffer.from(p.data), { raw: { width: p.w, height: p.h, channels: 1 } })
              .resize(W, H, { fit: 'fill', kernel: 'lanczos3' })
              .extend({ top: pad, bottom: pad, left: pad, right: pad, background: look.invert ? '#ffffff' : '#000000' });
            return finish(img, fmt, mode);
          },
        });
      }
    }
  }
  // Synthetic chest radiographs: dark lung fields, bright mediastinum and spine, ribs as bright arcs.
  for (let i = 0; i < 8; i++) {
    const r = rngFor(`xray-synthetic/${i}`);
    const H = Math.round(r.uniform(256, 1100)), W = Math.round(H * r.uniform(0.85, 1.15));
    const fmt = FORMATS[i % 2], mode: Mode = i % 3 === 2 ? 'rgb' : 'grey';
    items.push({
      file: `xray-synthetic/drawing_${i}.${ext(fmt)}`, kind: 'xray-synthetic', source: 'synthetic (SVG drawing)',
      make: async () => {
        const s = (v: number) => (v * W).toFixed(1), t = (v: number) => (v * H).toFixed(1);
        const tissue = 150 + r.int(50), lung = 30 + r.int(40), rib = Math.min(255, lung + 70 + r.int(60));
        const g = (v: number) => `rgb(${v},${v},${v})`;
        const p: string[] = [`<rect width="${W}" height="${H}" fill="${g(10)}"/>`];
        p.push(`<path d="M ${s(0.12)} ${t(1)} L ${s(0.08)} ${t(0.3)} Q ${s(0.2)} ${t(0.1)} ${s(0.4)} ${t(0.08)} L ${s(0.6)} ${t(0.08)} Q ${s(0.8)} ${t(0.1)} ${s(0.92)} ${t(0.3)} L ${s(0.88)} ${t(1)} Z" fill="${g(tissue)}"/>`);
        for (const side of [-1, 1]) {
          const cx = 0.5 + side * 0.19;
          p.push(`<ellipse cx="${s(cx)}" cy="${t(0.5)}" rx="${s(0.15)}" ry="${t(0.3)}" fill="${g(lung)}"/>`);
          for (let k = 0; k < 9; k++) {
            const y = 0.22 + k * 0.065, x0 = 0.5 + side * 0.05, x1 = 0.5 + side * 0.36;
            p.push(`<path d="M ${s(x0)} ${t(y)} Q ${s((x0 + x1) / 2)} ${t(y - 0.06)} ${s(x1)} ${t(y + 0.06)}" stroke="${g(rib)}" stroke-width="${(H * 0.012).toFixed(1)}" fill="none" stroke-opacity="0.8"/>`);
          }
          p.push(`<path d="M ${s(0.5 + side * 0.04)} ${t(0.17)} Q ${s(0.5 + side * 0.2)} ${t(0.13)} ${s(0.5 + side * 0.34)} ${t(0.16)}" stroke="${g(Math.min(255, rib + 30))}" stroke-width="${(H * 0.018).toFixed(1)}" fill="none"/>`);
        }
        p.push(`<rect x="${s(0.47)}" y="${t(0.1)}" width="${s(0.06)}" height="${t(0.9)}" fill="${g(Math.min(255, tissue + 30))}"/>`);
        p.push(`<ellipse cx="${s(0.54)}" cy="${t(0.62)}" rx="${s(0.12)}" ry="${t(0.14)}" fill="${g(tissue)}"/>`);
        p.push(`<rect x="0" y="${t(0.85)}" width="${W}" height="${t(0.15)}" fill="${g(tissue - 20)}"/>`);
        const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}"><defs><filter id="b"><feGaussianBlur stdDeviation="${(H * 0.008).toFixed(1)}"/></filter></defs><g filter="url(#b)">${p.join('')}</g></svg>`;
        return finish(sharp(await svgToPng(svg)), fmt, mode);
      },
    });
  }
  return items;
}

// ---------------------------------------------------------------------------------------------------------
// Screenshots of the project's own web page (covid-ct serve + Debian chromium through playwright-core)

const SHOTS = [
  { tag: 'desktop-full', viewport: [1280, 900], fullPage: true },
  { tag: 'desktop-view', viewport: [1280, 900], fullPage: false },
  { tag: 'laptop-view', viewport: [1024, 768], fullPage: false },
  { tag: 'small-full', viewport: [800, 600], fullPage: true },
  { tag: 'phone-view', viewport: [390, 844], fullPage: false },
  { tag: 'phone-full', viewport: [390, 844], fullPage: true },
  { tag: 'crop-top', viewport: [1280, 900], clip: [0, 0, 1280, 300] },
  { tag: 'crop-middle', viewport: [1280, 900], clip: [200, 250, 700, 500] },
  { tag: 'crop-card', viewport: [1024, 768], selector: '#model-card' },
  { tag: 'crop-drop', viewport: [1024, 768], selector: '#drop' },
] as const;

function screenshotItems(): Item[] {
  return SHOTS.map((s, i) => ({
    file: `screenshot/${s.tag}.${i % 3 === 2 ? 'jpg' : 'png'}`, kind: 'screenshot', source: 'covid-ct serve + chromium',
    make: async () => { throw new Error('made by makeScreenshots'); },
  }));
}

async function waitForServer(url: string, child: ChildProcess): Promise<void> {
  const until = Date.now() + 60_000;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`covid-ct serve exited with code ${child.exitCode}`);
    try { if ((await fetch(url)).ok) return; } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error('covid-ct serve did not answer within 60 s');
}

async function makeScreenshots(todo: Item[]): Promise<void> {
  if (!existsSync(CHROMIUM)) { missing.push(`${CHROMIUM} (screenshots; apt-get install chromium)`); return; }
  const main = path.join(ROOT, 'dist/src/cli/main.js');
  const port = 3917, url = `http://127.0.0.1:${port}/`;
  const server = spawn(process.execPath, [main, 'serve', '--port', String(port)], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  const { chromium } = await import('playwright-core');
  let browser;
  try {
    await waitForServer(url, server);
    browser = await chromium.launch({
      executablePath: CHROMIUM, headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    for (const item of todo) {
      const s = SHOTS.find((x) => item.file.includes(`/${x.tag}.`))!;
      const page = await browser.newPage({ viewport: { width: s.viewport[0], height: s.viewport[1] } });
      await page.goto(url);
      await page.waitForSelector('body[data-ready="1"]', { timeout: 60_000 }).catch(() => undefined);
      const type = item.file.endsWith('.jpg') ? 'jpeg' : 'png';
      let buf: Buffer;
      if ('selector' in s) buf = await page.locator(s.selector).first().screenshot({ type });
      else if ('clip' in s) buf = await page.screenshot({ type, clip: { x: s.clip[0], y: s.clip[1], width: s.clip[2], height: s.clip[3] } });
      else buf = await page.screenshot({ type, fullPage: s.fullPage });
      await page.close();
      // Full pages can be very long: keep the longest side within 1200 px.
      const m = await sharp(buf).metadata();
      if (Math.max(m.width ?? 0, m.height ?? 0) > 1200) buf = await sharp(buf).resize(1200, 1200, { fit: 'inside' }).toFormat(type).toBuffer();
      await writeAtomic(path.join(OUT, item.file), buf);
      log(`  ${item.file}`);
    }
  } finally {
    await browser?.close();
    server.kill('SIGTERM');
  }
}

// ---------------------------------------------------------------------------------------------------------

async function writeAtomic(file: string, buf: Buffer): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, buf);
  await rename(tmp, file);
}

function patternItems(): Item[] {
  const items: Item[] = [];
  for (const spec of PATTERNS) {
    for (let i = 0; i < spec.count; i++) {
      const r = rngFor(`${spec.kind}/${i}`);
      const [w, h] = drawSize(r);
      const fmt = FORMATS[i % 2], mode = MODES[(i + Math.floor(i / 2)) % 3];
      items.push({
        file: `${spec.kind}/${spec.kind}_${i}_${w}x${h}.${ext(fmt)}`, kind: spec.kind, source: 'synthetic',
        make: async () => {
          const made = await spec.make(r, w, h, i);
          if (Buffer.isBuffer(made)) return finish(sharp(made), fmt, mode);
          return encode(raster(w, h, made), w, h, 3, fmt, mode);
        },
      });
    }
  }
  for (const kind of ['text-paragraph', 'text-code', 'text-table']) {
    for (let i = 0; i < 8; i++) {
      const r = rngFor(`${kind}/${i}`);
      let [w, h] = drawSize(r);
      w = Math.max(w, 160); h = Math.max(h, 120);
      const fmt = FORMATS[(i >> 1) % 2], mode = MODES[i % 3];
      items.push({
        file: `${kind}/${kind}_${i}_${i % 2 === 0 ? 'dark-on-light' : 'light-on-dark'}.${ext(fmt)}`, kind, source: 'synthetic (SVG text, DejaVu fonts)',
        make: async () => finish(sharp(await svgToPng(textItem(r, kind, i, w, h))), fmt, mode),
      });
    }
  }
  return items;
}

async function main(): Promise<void> {
  await mkdir(OUT, { recursive: true });
  const items: Item[] = [...patternItems(), ...systemItems()];
  if (!values['no-xray']) items.push(...xrayItems());
  const shots = values['no-screenshots'] ? [] : screenshotItems();
  const all = [...items, ...shots];
  const seen = new Set<string>();
  for (const it of all) { if (seen.has(it.file)) throw new Error(`duplicate output name ${it.file}`); seen.add(it.file); }
  log(`non-CT set: ${all.length} images into ${OUT}`);
  let made = 0, kept = 0, failed = 0;
  for (const [i, it] of items.entries()) {
    const dest = path.join(OUT, it.file);
    if (existsSync(dest)) { kept++; continue; }
    try {
      await writeAtomic(dest, await it.make());
      made++;
    } catch (e) {
      failed++;
      log(`  failed ${it.file}: ${(e as Error).message}`);
    }
    if ((i + 1) % 25 === 0 || i === items.length - 1) log(`  ${i + 1}/${items.length} (${made} made, ${kept} kept)`);
  }
  const todoShots = shots.filter((s) => !existsSync(path.join(OUT, s.file)));
  kept += shots.length - todoShots.length;
  if (todoShots.length) {
    log(`screenshots: ${todoShots.length} (covid-ct serve on port 3917 + chromium)`);
    try { await makeScreenshots(todoShots); made += todoShots.filter((s) => existsSync(path.join(OUT, s.file))).length; } catch (e) { failed += todoShots.length; log(`  screenshots failed: ${(e as Error).message}`); }
  }
  const present = all.filter((it) => existsSync(path.join(OUT, it.file)));
  const csvField = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  const manifest = ['path,kind,source', ...present.map((it) => [it.file, it.kind, it.source].map(csvField).join(','))].join('\n') + '\n';
  await writeAtomic(path.join(OUT, 'manifest.csv'), Buffer.from(manifest));
  const perKind = new Map<string, number>();
  for (const it of present) perKind.set(it.kind, (perKind.get(it.kind) ?? 0) + 1);
  log(`done: ${present.length} images (${made} made, ${kept} already there, ${failed} failed) in ${OUT}`);
  log('  ' + [...perKind].map(([k, n]) => `${k} ${n}`).join(', '));
  if (missing.length) log(`fewer images than possible; missing:\n  ${missing.join('\n  ')}`);
}

await main();
