import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { runCli } from '../../src/cli/main';
import { restClient } from '../support/harness';

/** `clients check <path>` says what the path is and why it cannot be checked. */
describe('lead-export clients check <path>', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'le-check-path-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const run = async (args: string[], env: NodeJS.ProcessEnv = {}) => {
    const out: string[] = [];
    const err: string[] = [];
    process.exitCode = undefined;
    const code = await runCli(args, { out: (s) => out.push(s), err: (s) => err.push(s) }, env);
    process.exitCode = undefined;
    return { code, out: out.join(''), err: err.join('') };
  };

  it.each(['missing.yaml', 'missing.yml'])('a %s that does not exist: the FILE is not found, not the folder', async (name) => {
    const file = join(dir, name);
    expect(await run(['clients', 'check', file])).toEqual({ code: 1, out: '1 file(s) checked, 1 error(s)\n', err: `${file}: cannot read the file (not found)\n` });
  });

  it('a path that is neither a client file nor a folder, and does not exist', async () => {
    const p = join(dir, 'nothing-here');
    expect(await run(['clients', 'check', p])).toEqual({
      code: 1,
      out: '0 file(s) checked, 1 error(s)\n',
      err: `${p}: cannot read it (not found): give a client file (*.yaml, *.yml) or a folder of them\n`,
    });
  });

  it('an existing file the service would never read', async () => {
    const p = join(dir, 'acme.json');
    await writeFile(p, '{}');
    const r = await run(['clients', 'check', p]);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`${p}: not a client file: the service reads only *.yaml and *.yml files whose names do not start with "."\n`);
  });

  it('something that exists but is neither a file nor a folder', async () => {
    const r = await run(['clients', 'check', '/dev/null']);
    expect(r).toEqual({ code: 1, out: '0 file(s) checked, 1 error(s)\n', err: '/dev/null: neither a file nor a folder: give a client file (*.yaml, *.yml) or a folder of them\n' });
  });

  it('a folder that does not exist (also the default CLIENTS_DIR) is still named as a folder', async () => {
    const p = join(dir, 'clients');
    expect((await run(['clients', 'check', p])).err).toBe(`${p}: cannot read it (not found): give a client file (*.yaml, *.yml) or a folder of them\n`);
    expect((await run(['clients', 'check'], { CLIENTS_DIR: p })).err).toBe(`${p}: cannot read it (not found): give a client file (*.yaml, *.yml) or a folder of them\n`);
  });

  it('an existing file and an existing folder are checked as before', async () => {
    await writeFile(join(dir, 'acme.yaml'), stringify(restClient('acme', 'https://crm.acme.example')));
    expect(await run(['clients', 'check', join(dir, 'acme.yaml')])).toEqual({ code: 0, out: 'acme.yaml: ok (rest, enabled)\n1 file(s) checked, 0 error(s)\n', err: '' });
    expect(await run(['clients', 'check', dir])).toEqual({ code: 0, out: 'acme.yaml: ok (rest, enabled)\n1 file(s) checked, 0 error(s)\n', err: '' });
  });
});
