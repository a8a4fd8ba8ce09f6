import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { parseDocument, type Document } from 'yaml';
import { ADAPTERS, findAdapter, registryVersion } from '../../adapters/registry';
import { toFieldIssues } from '../domain/zod-issues';
import { buildClientSchema, type ClientConfig } from './client-schema';
import { findReservedKeys } from './reserved-keys';

/** One problem in one client file, as `clients check` prints it: `acme.yaml: mapping.phone: Required`. */
export interface ClientFileError {
  file: string;
  path: string;
  message: string;
}

export type ClientFileResult = { ok: true; file: string; config: ClientConfig } | { ok: false; file: string; errors: ClientFileError[] };

let cached: { version: number; schema: ReturnType<typeof buildClientSchema> } | undefined;

/** The client-file schema for the kinds registered now (rebuilt only when the registry changed). */
function clientSchema(): ReturnType<typeof buildClientSchema> {
  const version = registryVersion();
  if (cached?.version !== version) cached = { version, schema: buildClientSchema(ADAPTERS) };
  return cached.schema;
}

export function formatClientFileError(e: ClientFileError): string {
  return e.path ? `${e.file}: ${e.path}: ${e.message}` : `${e.file}: ${e.message}`;
}

/** The first line of a YAML library message; a blown stack is said in words ops can act on. */
function yamlMessage(message: string): string {
  const first = message.split('\n')[0].replace(/:\s*$/, '');
  return `YAML error: ${first.replace(/^Maximum call stack size exceeded/, 'the document is nested too deeply')}`;
}

function yamlError(name: string, message: string): ClientFileResult {
  return { ok: false, file: name, errors: [{ file: name, path: '', message: yamlMessage(message) }] };
}

/**
 * Parses and validates one client file's text. `file` is the file name, used for messages and the id
 * check. Never throws: every problem comes back as a named error.
 */
export function parseClientFile(file: string, text: string): ClientFileResult {
  const name = basename(file);
  let doc: Document;
  try {
    doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  } catch (err) {
    // The parser recurses per nesting level; a pathologically deep file can exhaust the stack.
    return yamlError(name, String((err as Error).message));
  }
  if (doc.errors.length > 0) {
    return {
      ok: false,
      file: name,
      errors: doc.errors.map((e) => ({ file: name, path: '', message: yamlMessage(e.message) })),
    };
  }
  // Before any JavaScript object is built from the file: a reserved key is refused, never converted.
  const reserved = findReservedKeys(doc);
  if (reserved.length > 0) return { ok: false, file: name, errors: reserved.map((i) => ({ file: name, ...i })) };
  let raw: unknown;
  try {
    raw = doc.toJS();
  } catch (err) {
    // e.g. "Excessive alias count" (a billion-laughs file), a bad merge source, a stack exhausted by nesting.
    return yamlError(name, String((err as Error).message));
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return { ok: false, file: name, errors: [{ file: name, path: '', message: 'the file must hold a YAML mapping (id:, name:, adapter:, …)' }] };
  }
  const res = clientSchema().safeParse(raw);
  if (!res.success) {
    return { ok: false, file: name, errors: toFieldIssues(res.error).map((i) => ({ file: name, ...i })) };
  }
  const config = res.data as ClientConfig;
  const errors: ClientFileError[] = [];
  const expectedId = basename(name, extname(name));
  if (config.id !== expectedId) {
    errors.push({ file: name, path: 'id', message: `must match the file name: the file is ${name}, so id must be '${expectedId}'` });
  }
  const def = findAdapter(config.adapter);
  if (def) {
    const max = def.capabilities(config.settings).maxBatchSize;
    if (config.batch.size !== undefined && config.batch.size > max) {
      errors.push({ file: name, path: 'batch.size', message: `must be at most ${max} for adapter ${config.adapter}` });
    }
  }
  if (errors.length) return { ok: false, file: name, errors };
  return { ok: true, file: name, config };
}

export async function loadClientFile(path: string): Promise<ClientFileResult> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    return { ok: false, file: basename(path), errors: [{ file: basename(path), path: '', message: `cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'error'})` }] };
  }
  return parseClientFile(path, text);
}

export function isClientFileName(name: string): boolean {
  return /\.(ya?ml)$/.test(name) && !name.startsWith('.');
}

export interface ClientsDirResult {
  configs: ClientConfig[];
  results: ClientFileResult[];
  errors: ClientFileError[];
}

/** Loads every *.yaml / *.yml in the folder. A bad file is reported and skipped, never fatal here. */
export async function loadClientsDir(dir: string): Promise<ClientsDirResult> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter(isClientFileName).sort();
  } catch (err) {
    const e = { file: dir, path: '', message: `cannot read the clients folder (${(err as NodeJS.ErrnoException).code ?? 'error'})` };
    return { configs: [], results: [], errors: [e] };
  }
  const results = await Promise.all(names.map((n) => loadClientFile(join(dir, n))));
  const configs: ClientConfig[] = [];
  const errors: ClientFileError[] = [];
  for (const r of results) {
    if (r.ok) configs.push(r.config);
    else errors.push(...r.errors);
  }
  return { configs, results, errors };
}

/**
 * What `clients check [path]` reads: one client file, or a folder of them. A path that does not
 * exist, or is neither, is reported as what it is, so a typo in a file name does not read as a
 * broken folder. `errors` are problems with the path itself; a file's own problems are in its result.
 */
export async function loadClientsPath(target: string): Promise<{ results: ClientFileResult[]; errors: ClientFileError[] }> {
  const found = await stat(target).then(
    (st) => ({ st }),
    (err: NodeJS.ErrnoException) => ({ code: err.code ?? 'error' }),
  );
  if ('code' in found) {
    const { code } = found;
    const why = code === 'ENOENT' ? 'not found' : code;
    if (isClientFileName(basename(target))) {
      return { results: [{ ok: false, file: target, errors: [{ file: target, path: '', message: `cannot read the file (${why})` }] }], errors: [] };
    }
    return { results: [], errors: [{ file: target, path: '', message: `cannot read it (${why}): give a client file (*.yaml, *.yml) or a folder of them` }] };
  }
  const { st } = found;
  if (st.isDirectory()) {
    const { results, errors } = await loadClientsDir(target);
    // With results, `errors` only repeats the files' own errors; without, it is the folder's.
    return { results, errors: results.length > 0 ? [] : errors };
  }
  if (st.isFile()) {
    if (!isClientFileName(basename(target))) {
      return {
        results: [],
        errors: [{ file: target, path: '', message: 'not a client file: the service reads only *.yaml and *.yml files whose names do not start with "."' }],
      };
    }
    return { results: [await loadClientFile(target)], errors: [] };
  }
  return { results: [], errors: [{ file: target, path: '', message: 'neither a file nor a folder: give a client file (*.yaml, *.yml) or a folder of them' }] };
}
