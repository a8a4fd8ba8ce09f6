import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import IORedis from 'ioredis';

/**
 * Finds a Redis for the demo and the benchmarks: the one at REDIS_URL if it answers, else a private
 * redis-server on a free port (if one is installed), else a clear message saying what to install.
 */
export interface LocalRedis {
  url: string;
  started: boolean;
  stop(): Promise<void>;
}

export async function redisAnswers(url: string, timeoutMs = 1_500): Promise<boolean> {
  const r = new IORedis(url, { lazyConnect: true, connectTimeout: timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  r.on('error', () => undefined);
  try {
    await r.connect();
    return (await r.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export async function ensureRedis(url: string): Promise<LocalRedis> {
  if (await redisAnswers(url)) return { url, started: false, stop: async () => {} };
  const which = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  if (which.status !== 0) {
    throw new Error(
      `No Redis answers at ${url}, and redis-server is not installed.\n` +
        `  Debian/Ubuntu: sudo apt-get install -y redis-server   macOS: brew install redis\n` +
        `  or point REDIS_URL at a running Redis, e.g. REDIS_URL=redis://127.0.0.1:6379 npm run demo`,
    );
  }
  const port = await freePort();
  const child: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const privateUrl = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 50; i++) {
    if (await redisAnswers(privateUrl, 300)) {
      return {
        url: privateUrl,
        started: true,
        stop: async () => {
          child.kill('SIGTERM');
          await new Promise((r) => child.once('exit', r));
        },
      };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`started redis-server on port ${port}, but it did not answer`);
}
