import { readFile } from 'node:fs/promises';
import { LeadExportError } from '../domain/errors';
import { INLINE_SECRET_MESSAGE } from '../domain/secret-ref';

/**
 * Resolves `env:NAME` / `file:PATH` secret references (src/domain/secret-ref.ts) at use time, so a
 * rotated file or env var is picked up on the next call. A reference that cannot be read is a
 * `config` error that names the reference, never the value.
 */
export class EnvFileSecretResolver {
  constructor(private readonly env: NodeJS.ProcessEnv = process.env) {}

  async resolve(ref: string): Promise<string> {
    if (ref.startsWith('env:')) {
      const name = ref.slice(4);
      const value = this.env[name];
      if (value === undefined || value === '') {
        throw new LeadExportError('config', `secret ${ref}: environment variable ${name} is not set`);
      }
      return value;
    }
    if (ref.startsWith('file:')) {
      const path = ref.slice(5);
      try {
        return (await readFile(path, 'utf8')).trim();
      } catch (err) {
        throw new LeadExportError('config', `secret ${ref}: cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
      }
    }
    throw new LeadExportError('config', INLINE_SECRET_MESSAGE);
  }
}
