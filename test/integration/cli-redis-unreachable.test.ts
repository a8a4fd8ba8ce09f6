import { runCli } from '../../src/cli/main';
import { freePort } from '../../src/demo/local-redis';

/** The support commands need Redis: without it they say so in one line and exit 3, never a stack trace. */
test.each([
  [['clients', 'status', 'acme']],
  [['clients', 'pause', 'acme']],
  [['failed', 'acme']],
  [['replay', 'acme', '--all']],
])('lead-export %j with Redis unreachable: one clear line, exit 3', async (args) => {
  const port = await freePort();
  const out: string[] = [];
  const err: string[] = [];
  const errorsBefore = jest.spyOn(console, 'error');
  process.exitCode = undefined;
  const code = await runCli(args, { out: (s) => out.push(s), err: (s) => err.push(s) }, { REDIS_URL: `redis://127.0.0.1:${port}`, QUEUE_PREFIX: 'le-unreachable' });
  process.exitCode = undefined;
  expect(code).toBe(3);
  expect(out).toEqual([]);
  expect(err).toEqual([`lead-export: Redis at 127.0.0.1:${port} is unreachable (ECONNREFUSED): this command reads and changes client state there; check REDIS_URL, or try again when Redis answers\n`]);
  expect(errorsBefore).not.toHaveBeenCalled();
  errorsBefore.mockRestore();
});
