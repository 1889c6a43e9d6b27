/**
 * The official COVID-CT split, read from its six split files. This module only reads the lists; whether the
 * files exist and decode is the dataset check's job (src/data/check.ts).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { LABELS, SPLITS, type DatasetEntry, type Label, type Split } from '../types.js';
import { UserError } from '../util/errors.js';

/** Image folder of each class, under `images/`. */
export const CLASS_DIRS: Readonly<Record<Label, string>> = { COVID: 'CT_COVID', NonCOVID: 'CT_NonCOVID' };

/** The folder holding the images of one class. */
export function imageDir(dataDir: string, label: Label): string {
  return path.join(dataDir, 'images', CLASS_DIRS[label]);
}

/** Path of a split file relative to the data folder, e.g. `splits/trainCT_COVID.txt`. */
export function splitFileName(split: Split, label: Label): string {
  return `splits/${split}${CLASS_DIRS[label]}.txt`;
}

/** The six split files in a fixed order (train, val, test; COVID before NonCOVID). */
export function splitFiles(): { split: Split; label: Label; file: string }[] {
  return SPLITS.flatMap((split) => LABELS.map((label) => ({ split, label, file: splitFileName(split, label) })));
}

/** File names listed in a split file: one per line, whitespace trimmed (also \r), blank lines skipped. */
export function parseSplitFile(text: string): string[] {
  return text.split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
}

/** Throws a UserError naming the first part of the expected layout that is missing. */
export function assertLayout(dataDir: string): void {
  if (!existsSync(dataDir)) throw new UserError(`data folder not found: ${dataDir}`);
  const needed = [...LABELS.map((l) => imageDir(dataDir, l)), ...splitFiles().map((s) => path.join(dataDir, s.file))];
  for (const p of needed) {
    if (!existsSync(p)) throw new UserError(`${dataDir} does not look like the COVID-CT dataset: missing ${p}`);
  }
}

/**
 * Every listed image, in split-file order (train, val, test; COVID before NonCOVID within a split). The label
 * comes from which split file lists it. Names listed twice stay twice: the check reports them.
 */
export async function loadDataset(dataDir: string): Promise<DatasetEntry[]> {
  const root = path.resolve(dataDir);
  assertLayout(root);
  const entries: DatasetEntry[] = [];
  for (const { split, label, file } of splitFiles()) {
    const names = parseSplitFile(await readFile(path.join(root, file), 'utf8'));
    const dir = imageDir(root, label);
    for (const name of names) entries.push({ name, path: path.join(dir, name), label, split });
  }
  return entries;
}

/** The entries of one split, in their original order. */
export function entriesOf(entries: readonly DatasetEntry[], split: Split): DatasetEntry[] {
  return entries.filter((e) => e.split === split);
}

/**
 * sha256 (hex) of each split file, keyed by its path relative to the data folder (`splits/trainCT_COVID.txt`),
 * so that a model card records exactly which split a model was trained and scored on.
 */
export async function splitFileHashes(dataDir: string): Promise<Record<string, string>> {
  const root = path.resolve(dataDir);
  assertLayout(root);
  const out: Record<string, string> = {};
  for (const { file } of splitFiles()) {
    out[file] = createHash('sha256').update(await readFile(path.join(root, file))).digest('hex');
  }
  return out;
}
