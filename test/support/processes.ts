import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '../..');
const CLI = join(ROOT, 'dist/src/cli/main.js');

/**
 * Multi-process tests run the compiled service (`npm test` type-checks with tsc first, which also
 * emits dist/). When a test file is run alone on a stale tree, compile once here.
 */
export function ensureBuilt(): void {
  if (existsSync(CLI) && statSync(CLI).mtimeMs >= newestSource()) return;
  const r = spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tsc failed:\n${r.stdout}${r.stderr}`);
}

export interface ServiceProcess {
  child: ChildProcess;
  output: string[];
  /** Sends SIGTERM and waits for the exit (SIGKILL after the grace period). */
  stop(graceMs?: number): Promise<number | null>;
  /** kill -9: no shutdown at all. */
  kill(): Promise<void>;
}

/** Starts `lead-export serve` in a child process with the given environment. */
export function spawnService(env: NodeJS.ProcessEnv, args: string[] = ['serve', '--role', 'worker']): ServiceProcess {
  ensureBuilt();
  const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env: { HTTP_PORT: '0', HTTP_HOST: '127.0.0.1', ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const collect = (b: Buffer) => output.push(...b.toString('utf8').split('\n').filter(Boolean));
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return {
    child,
    output,
    async stop(graceMs = 15_000) {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
    async kill() {
      if (child.exitCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** The newest modification time of any TypeScript file the service is built from. */
function newestSource(): number {
  let newest = 0;
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  for (const d of ['src', 'adapters', 'test/support']) walk(join(ROOT, d));
  return newest;
}
