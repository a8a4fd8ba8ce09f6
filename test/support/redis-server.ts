import { spawn, type ChildProcess } from 'node:child_process';
import { freePort, redisAnswers } from '../../src/demo/local-redis';
import { eventually } from './harness';

/**
 * A private redis-server for tests that kill Redis (durability, outages): its own port and data
 * folder, AOF with an fsync on every write, so a SIGKILL loses nothing that was acknowledged.
 */
export interface TestRedisServer {
  readonly port: number;
  readonly url: string;
  readonly running: boolean;
  start(): Promise<void>;
  /** SIGKILL: no shutdown, no final save beyond what AOF already wrote. */
  kill(): Promise<void>;
}

export async function testRedisServer(dir: string, port?: number): Promise<TestRedisServer> {
  const p = port ?? (await freePort());
  let child: ChildProcess | null = null;
  return {
    port: p,
    url: `redis://127.0.0.1:${p}`,
    get running() {
      return child !== null;
    },
    async start() {
      if (child) return;
      child = spawn('redis-server', ['--port', String(p), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--maxmemory-policy', 'noeviction'], { stdio: 'ignore' });
      await eventually(() => redisAnswers(`redis://127.0.0.1:${p}`, 300), 'redis-server to answer');
    },
    async kill() {
      const c = child;
      child = null;
      if (!c || c.exitCode !== null) return;
      c.kill('SIGKILL');
      await new Promise((r) => c.once('exit', r));
    },
  };
}
