// The fake provider on its own worker thread inside the bench process. On its own event loop it does
// not share a thread with the load generator: on a 2-core machine one thread doing both the client's
// and the server's TLS would saturate first, at the same rate direct and through the meter, and hide
// the meter's cost (throughput would read ~1.0x whatever the meter did). `--fake-inline` runs it on
// the main thread instead, for comparison.
import { parentPort, workerData } from 'node:worker_threads';
import type { TestPki } from '../test/helpers/pki.js';
import { startBenchFake } from './fake.js';

export type FakeWorkerIn = { type: 'close' };
export type FakeWorkerOut = { type: 'ready'; port: number } | { type: 'closed' };

const port = parentPort;
if (!port) throw new Error('fake-worker must run as a worker thread');
const fake = await startBenchFake((workerData as { pki: TestPki }).pki);

port.on('message', (m: FakeWorkerIn) => {
  if (m.type === 'close') {
    void fake.close().then(() => {
      port.postMessage({ type: 'closed' } satisfies FakeWorkerOut);
      port.close();
    });
  }
});
port.postMessage({ type: 'ready', port: fake.port } satisfies FakeWorkerOut);
