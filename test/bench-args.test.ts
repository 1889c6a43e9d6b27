/**
 * The bench scripts' options (bench/args.ts): --help prints the script's header comment, and an unknown option or a
 * missing value gives a short message with the usage lines and exit code 2, never a stack trace.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { headerComment, readArgs, usageLines } from '../bench/args.js';
import { REPO } from './helpers.js';

const SOURCE = `/**
 * Counts the sheep.
 *
 *   node dist/bench/sheep.js [--field F] [--every N]
 *   npm run bench:sheep -- --every 2
 *
 * - --field F: which field.
 */
import x from 'y';
/** Not the header. */
`;

test('headerComment and usageLines read the first block comment', () => {
  const h = headerComment(SOURCE);
  assert.equal(h.split('\n')[0], 'Counts the sheep.');
  assert.ok(h.includes('- --field F: which field.'));
  assert.ok(!h.includes('Not the header'));
  assert.deepEqual(usageLines(h), ['node dist/bench/sheep.js [--field F] [--every N]', 'npm run bench:sheep -- --every 2']);
  assert.equal(headerComment('const a = 1;\n/** late */'), '');
});

const config = { options: { field: { type: 'string' }, every: { type: 'string', default: '4' }, quick: { type: 'boolean' } } } as const;

test('readArgs parses good options, answers --help, and explains bad ones', () => {
  const ok = readArgs(config, ['--field', 'north', '--quick'], 'node sheep.js', headerComment(SOURCE));
  assert.ok('run' in ok);
  assert.deepEqual({ ...ok.run.values }, { field: 'north', every: '4', quick: true });

  const help = readArgs(config, ['--every', '2', '--help'], 'node sheep.js', headerComment(SOURCE));
  assert.deepEqual(help, { exit: 0, text: headerComment(SOURCE) });

  const bad = readArgs(config, ['--feild', 'north'], 'node sheep.js', headerComment(SOURCE));
  assert.ok('exit' in bad && bad.exit === 2);
  const lines = bad.text.split('\n');
  assert.match(lines[0], /^node sheep\.js: .*'--feild'/);
  assert.ok(lines.includes('  node dist/bench/sheep.js [--field F] [--every N]'));

  const missing = readArgs(config, ['--every'], 'node sheep.js', '');
  assert.ok('exit' in missing && missing.exit === 2);
  assert.match(missing.text, /--every/);
  assert.ok(!missing.text.includes('usage:'), 'no usage lines when the header has none');
});

test('a bench script run with a misspelt option or --help answers briefly', () => {
  const script = path.join(REPO, 'dist/bench/degrade.bench.js');
  const bad = spawnSync(process.execPath, [script, '--evry', '2'], { cwd: REPO, encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /Unknown option '--evry'/);
  assert.match(bad.stderr, /npm run bench:degrade -- \[--every N\]/);
  assert.doesNotMatch(bad.stderr, /^\s+at /m, 'no stack trace');
  const help = spawnSync(process.execPath, [script, '--help'], { cwd: REPO, encoding: 'utf8' });
  assert.equal(help.status, 0);
  assert.match(help.stdout, /^Lung involvement and the shipped reading on degraded copies/);
  assert.equal(help.stderr, '');
});
