import { z } from 'zod';

/**
 * Secrets never sit in a client file: a secret field holds a reference, `env:NAME` (an environment
 * variable) or `file:PATH` (a file, e.g. a mounted Kubernetes/Docker secret). A reference can be
 * reviewed, committed and diffed; the secret itself stays where the platform keeps secrets.
 * (Resolved at use time by src/config/secret-ref.ts.)
 */
export const SECRET_REF = /^(env:[A-Za-z_][A-Za-z0-9_]*|file:.+)$/;

export const INLINE_SECRET_MESSAGE =
  'inline secrets are not allowed: put the value in an environment variable and write env:NAME, or in a file and write file:/path/to/file';

export const secretRef = z
  .string({ message: 'Required: a secret reference (env:NAME or file:/path)' })
  .refine((v) => SECRET_REF.test(v), { message: INLINE_SECRET_MESSAGE });

export type SecretRef = z.infer<typeof secretRef>;
