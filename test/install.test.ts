/**
 * Install hygiene (issue 12.6): onnxruntime-node's CUDA download is skipped by a supported switch, not by the
 * unknown .npmrc key npm warns about on every command.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO } from './helpers.js';

test('onnxruntime-node\'s install script is denied in allowScripts, skipped by ONNXRUNTIME_NODE_INSTALL in CI, and no .npmrc key is unknown to npm', () => {
  const pkg = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8'));
  assert.equal(pkg.allowScripts['onnxruntime-node'], false);
  const npmrc = path.join(REPO, '.npmrc');
  if (existsSync(npmrc)) assert.doesNotMatch(readFileSync(npmrc, 'utf8'), /onnxruntime-node-install/);
  assert.match(readFileSync(path.join(REPO, '.ci/run'), 'utf8'), /^export ONNXRUNTIME_NODE_INSTALL=skip$/m);
  // The variable really is what the package's install script reads: with it, the script exits at once, downloads
  // nothing and leaves the binary folder as it was (the CPU runtime only).
  const ort = path.join(REPO, 'node_modules/onnxruntime-node');
  const bin = path.join(ort, 'bin/napi-v6/linux/x64');
  const before = existsSync(bin) ? readdirSync(bin).sort() : [];
  const r = spawnSync(process.execPath, [path.join(ort, 'script/install.js')], {
    cwd: ort, env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip', npm_config_local_prefix: '', npm_package_json: '' }, encoding: 'utf8', timeout: 30_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout + r.stderr, '');
  assert.deepEqual(existsSync(bin) ? readdirSync(bin).sort() : [], before);
  assert.ok(!before.some((f) => f.includes('cuda')), 'no CUDA provider was downloaded');
});
