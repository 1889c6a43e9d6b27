/** The API's bounded queue: never more jobs at once than its concurrency, first come first served, and
 * admission refused (with a Retry-After estimate) once concurrency + maxWaiting requests are in. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { QueueFullError, WorkQueue } from '../src/server/queue.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('jobs never overlap beyond the concurrency and run in arrival order', async () => {
  for (const concurrency of [1, 2, 3]) {
    const q = new WorkQueue({ concurrency, maxWaiting: 100 });
    let running = 0, peak = 0;
    const started: number[] = [];
    await Promise.all(Array.from({ length: 12 }, (_, i) => q.run(async () => {
      started.push(i);
      running++; peak = Math.max(peak, running);
      await sleep(5 + (i % 3) * 3);
      running--;
      if (i === 7) throw new Error('a failing job frees its slot too');
    }).catch(() => undefined)));
    assert.equal(peak, concurrency);
    assert.deepEqual(started, [...started].sort((a, b) => a - b));
    assert.equal(q.active, 0);
  }
});

test('admission stops at concurrency + maxWaiting and reopens when a request is released', () => {
  const q = new WorkQueue({ concurrency: 1, maxWaiting: 2 });
  const releases = [q.admit(), q.admit(), q.admit()];
  assert.equal(q.pending, 3);
  assert.throws(() => q.admit(), (e: unknown) => e instanceof QueueFullError && e.retryAfterSeconds >= 1);
  releases[0]();
  releases[0](); // releasing twice counts once
  assert.equal(q.pending, 2);
  const again = q.admit();
  assert.equal(q.pending, 3);
  again(); releases[1](); releases[2]();
  assert.equal(q.pending, 0);
});

test('uploads in progress are capped per client address and in total, and a client is forgotten once done', async () => {
  const { UploadGate, UploadsFullError } = await import('../src/server/uploads.js');
  const gate = new UploadGate({ maxUploads: 3, maxUploadsPerClient: 2 });
  const a1 = gate.enter('10.0.0.1'), a2 = gate.enter('10.0.0.1');
  assert.throws(() => gate.enter('10.0.0.1'), (e: unknown) => e instanceof UploadsFullError && e.perClient && /2 at once/.test(e.message));
  const b1 = gate.enter('10.0.0.2');
  assert.throws(() => gate.enter('10.0.0.3'), (e: unknown) => e instanceof UploadsFullError && !e.perClient);
  assert.deepEqual([gate.inProgress, gate.clients], [3, 2]);
  a1(); a1(); // leaving twice counts once
  assert.equal(gate.inProgress, 2);
  const c1 = gate.enter('10.0.0.3');
  a2(); b1(); c1();
  assert.deepEqual([gate.inProgress, gate.clients], [0, 0], 'nothing kept per past client');
});
