import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from '../support/harness';
import { ensureBuilt, spawnService, type ServiceProcess } from '../support/processes';
import { cleanupPrefix, REDIS_URL, redisClient, testPrefix } from '../support/redis';

/**
 * A second `serve` on a port that is taken must not keep running without its HTTP side (no health,
 * no metrics, workers nobody can see): it exits 1 with a message that names the port.
 */
describe('lead-export serve when HTTP_PORT is taken', () => {
  let dir: string;
  let prefix: string;
  let children: ServiceProcess[] = [];

  beforeAll(() => ensureBuilt(), 180_000);
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'le-port-'));
    prefix = testPrefix('port');
  });
  afterEach(async () => {
    await Promise.all(children.map((c) => c.stop(5_000)));
    children = [];
    const r = redisClient();
    await cleanupPrefix(r, prefix);
    r.disconnect();
    await rm(dir, { recursive: true, force: true });
  });

  it('the second process exits with code 1 naming the port; the first keeps serving', async () => {
    const env = { REDIS_URL, QUEUE_PREFIX: prefix, CLIENTS_DIR: dir, LOG_LEVEL: 'info', HTTP_HOST: '127.0.0.1' };
    const first = spawnService({ ...env, HTTP_PORT: '0' });
    children.push(first);
    const url = await eventually(() => {
      for (const line of first.output) {
        if (!line.startsWith('{')) continue;
        const rec = JSON.parse(line) as { msg?: string; url?: string };
        if (rec.msg === 'http server listening' && rec.url) return rec.url;
      }
      return null;
    }, 'the first serve to listen', 30_000);
    const port = new URL(url).port;

    const second = spawnService({ ...env, HTTP_PORT: port });
    children.push(second);
    const exited = new Promise<number | null>((resolve) => second.child.once('exit', (code) => resolve(code)));
    const code = await Promise.race([exited, new Promise<'running'>((r) => setTimeout(() => r('running'), 30_000).unref())]);
    expect(code).toBe(1);
    expect(second.output).toContain(`lead-export: HTTP_PORT ${port} is already in use on 127.0.0.1 (another lead-export serve?): stop that process or set another HTTP_PORT`);

    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect(first.child.exitCode).toBeNull();
  });
});
