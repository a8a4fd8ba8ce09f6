import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { LeadExportError } from '../domain/errors';

/**
 * Secrets never sit in a client file: a secret field holds a reference, `env:NAME` (an environment
 * variable) or `file:PATH` (a file, e.g. a mounted Kubernetes/Docker secret). A reference can be
 * reviewed, committed and diffed; the secret itself stays where the platform keeps secrets.
 */
const SECRET_REF = /^(env:[A-Za-z_][A-Za-z0-9_]*|file:.+)$/;

export const INLINE_SECRET_MESSAGE =
  'inline secrets are not allowed: put the value in an environment variable and write env:NAME, or in a file and write file:/path/to/file';

export const secretRef = z
  .string({ message: 'Required: a secret reference (env:NAME or file:/path)' })
  .refine((v) => SECRET_REF.test(v), { message: INLINE_SECRET_MESSAGE });

export type SecretRef = z.infer<typeof secretRef>;

/** Resolves references at use time, so a rotated file or env var is picked up on the next call. */
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
