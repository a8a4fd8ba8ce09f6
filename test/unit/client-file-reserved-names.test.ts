import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatClientFileError, parseClientFile } from '../../src/config/client-loader';
import { runCli } from '../../src/cli/main';

/** The shipped examples, renamed to acme so the id matches the file name. */
const REST = readFileSync(join(__dirname, '../../config/clients/example-rest.yaml'), 'utf8').replace('id: example-rest', 'id: acme');
const AMO = readFileSync(join(__dirname, '../../config/clients/example-amocrm.yaml'), 'utf8').replace('id: example-amocrm', 'id: acme');

function edit(text: string, from: string, to: string): string {
  if (!text.includes(from)) throw new Error(`fixture: '${from}' is not in the file`);
  return text.replace(from, to);
}

function errorsOf(text: string): string[] {
  const r = parseClientFile('acme.yaml', text);
  return r.ok ? [] : r.errors.map(formatClientFileError);
}

const reserved = (name: string, where: string) => `'${name}' is not allowed as ${where}: __proto__, constructor, prototype are reserved names in a client file`;

let protoBefore: string[];
beforeEach(() => {
  protoBefore = Reflect.ownKeys(Object.prototype).map(String).sort();
});
afterEach(() => {
  expect(Reflect.ownKeys(Object.prototype).map(String).sort()).toEqual(protoBefore);
  expect(({} as Record<string, unknown>).x).toBeUndefined();
});

describe('reserved names (__proto__, constructor, prototype) in a client file', () => {
  it('the shipped examples are valid to begin with', () => {
    expect(errorsOf(REST)).toEqual([]);
    expect(errorsOf(AMO)).toEqual([]);
  });

  it.each([
    // mapping targets, whole or as a segment
    ['a target __proto__.x (the field report)', '  comment: comment', '  comment: comment\n  __proto__.x: leadId', `acme.yaml: mapping.__proto__.x: ${reserved('__proto__', 'a target key segment')}`],
    ['a target segment constructor', '  comment: comment', '  comment: comment\n  contact.constructor: leadId', `acme.yaml: mapping.contact.constructor: ${reserved('constructor', 'a target key segment')}`],
    ['a target prototype', '  comment: comment', '  comment: comment\n  prototype: leadId', `acme.yaml: mapping.prototype: ${reserved('prototype', 'a key')}`],
    // lead paths: plain, from, template placeholders
    ['a lead path extra.__proto__', '  comment: comment', '  comment: extra.__proto__', `acme.yaml: mapping.comment: ${reserved('__proto__', 'a lead path segment')}`],
    ['a from path extra.constructor', '  city: { from: candidate.city, default: "" }', '  city: { from: extra.constructor, default: "" }', `acme.yaml: mapping.city.from: ${reserved('constructor', 'a lead path segment')}`],
    ['a template placeholder', '  pipeline: { const: recruiting }', '  pipeline: { template: "x {{extra.prototype}}" }', `acme.yaml: mapping.pipeline.template: template placeholder {{extra.prototype}}: ${reserved('prototype', 'a lead path segment')}`],
    // value maps and const objects
    ['a value map key', 'map: { hh: HeadHunter,', 'map: { constructor: HeadHunter,', `acme.yaml: mapping.source.map.constructor: ${reserved('constructor', 'a key')}`],
    ['a const object key', '  pipeline: { const: recruiting }', '  pipeline: { const: { __proto__: { x: 1 } } }', `acme.yaml: mapping.pipeline.const.__proto__: ${reserved('__proto__', 'a key')}`],
    // response paths
    ['create.idPath', '    idPath: id\n    idempotencyHeader', '    idPath: data.constructor\n    idempotencyHeader', `acme.yaml: settings.create.idPath: ${reserved('constructor', 'a response path segment')}`],
    ['duplicate.idPath', 'duplicate: { status: 409, idPath: id }', 'duplicate: { status: 409, idPath: __proto__ }', `acme.yaml: settings.create.duplicate.idPath: ${reserved('__proto__', 'a response path segment')}`],
    ['lookup.itemsPath', '    itemsPath: items', '    itemsPath: data.prototype', `acme.yaml: settings.lookup.itemsPath: ${reserved('prototype', 'a response path segment')}`],
    ['batch.resultsPath', '    resultsPath: results', '    resultsPath: __proto__.results', `acme.yaml: settings.batch.resultsPath: ${reserved('__proto__', 'a response path segment')}`],
    ['auth.accessTokenPath', '    accessTokenPath: access_token', '    accessTokenPath: constructor.name', `acme.yaml: settings.auth.accessTokenPath: ${reserved('constructor', 'a response path segment')}`],
    // names the adapter turns into object keys
    ['batch.itemsField', '    itemsField: items', '    itemsField: __proto__', `acme.yaml: settings.batch.itemsField: ${reserved('__proto__', 'a field name')}`],
    ['lookup.queryParam', '    queryParam: external_id', '    queryParam: constructor', `acme.yaml: settings.lookup.queryParam: ${reserved('constructor', 'a field name')}`],
    ['create.idempotencyHeader', 'idempotencyHeader: Idempotency-Key', 'idempotencyHeader: __proto__', `acme.yaml: settings.create.idempotencyHeader: ${reserved('__proto__', 'a header name')}`],
    ['refresh.tokenField', 'tokenField: refresh_token }', 'tokenField: prototype }', `acme.yaml: settings.auth.refresh.tokenField: ${reserved('prototype', 'a field name')}`],
    // plain keys at any depth, including records the schemas accept freely
    ['a statusMap key', '  new: new', '  __proto__: new', `acme.yaml: statusMap.__proto__: ${reserved('__proto__', 'a key')}`],
    ['a top-level key', 'paused: false', 'paused: false\nconstructor: 1', `acme.yaml: constructor: ${reserved('constructor', 'a key')}`],
    ['a deep key', '    path: /api/candidates\n    idPath: id', '    path: /api/candidates\n    prototype: { a: 1 }\n    idPath: id', `acme.yaml: settings.create.prototype: ${reserved('prototype', 'a key')}`],
    ['a quoted key', '  new: new', '  "__proto__": new', `acme.yaml: statusMap.__proto__: ${reserved('__proto__', 'a key')}`],
  ])('refuses %s, naming the file and the key path', (_what, from, to, expected) => {
    expect(errorsOf(edit(REST, from, to))).toEqual([expected]);
  });

  it('refuses them in an amoCRM file too', () => {
    expect(errorsOf(edit(AMO, '  "142": hired', '  constructor: hired'))).toEqual([`acme.yaml: statusMap.constructor: ${reserved('constructor', 'a key')}`]);
    expect(errorsOf(edit(AMO, '    externalId: 500', '    externalId: 500\n    __proto__: 520'))).toEqual([`acme.yaml: mapping.fields.__proto__: ${reserved('__proto__', 'a key')}`]);
    expect(errorsOf(edit(AMO, '    - hrdrom', '    - { prototype: 1 }'))).toEqual([`acme.yaml: mapping.tags[0].prototype: ${reserved('prototype', 'a key')}`]);
  });

  it('finds them inside YAML merge keys and anchors, and behind an alias used as a key', () => {
    // YAML 1.1 files merge `<<`; the merged source is checked where its anchor is.
    const merged = `%YAML 1.1\n---\n${edit(REST, 'retry:\n', 'defaults: &d { __proto__: { x: 1 } }\nretry:\n  <<: *d\n')}`;
    expect(errorsOf(merged)).toEqual([`acme.yaml: defaults.__proto__: ${reserved('__proto__', 'a key')}`]);
    const inline = `%YAML 1.1\n---\n${edit(REST, 'retry:\n', 'retry:\n  <<: { constructor: 1 }\n')}`;
    expect(errorsOf(inline)).toEqual([`acme.yaml: retry.<<.constructor: ${reserved('constructor', 'a key')}`]);
    const aliasKey = edit(REST, 'statusMap:\n', 'label: &k prototype\nstatusMap:\n  *k : new\n');
    expect(errorsOf(aliasKey)).toEqual([`acme.yaml: statusMap.prototype: ${reserved('prototype', 'a key')}`]);
  });

  it('lists every reserved key of a file, in file order', () => {
    const text = edit(edit(REST, '  new: new', '  constructor: new'), 'paused: false', 'paused: false\n__proto__: 1');
    expect(errorsOf(text)).toEqual([`acme.yaml: __proto__: ${reserved('__proto__', 'a key')}`, `acme.yaml: statusMap.constructor: ${reserved('constructor', 'a key')}`]);
  });

  it('after a refused file, every other file still loads (nothing leaked into Object.prototype)', () => {
    expect(errorsOf(edit(REST, '  comment: comment', '  comment: comment\n  __proto__.x: leadId'))).not.toEqual([]);
    expect(errorsOf(REST)).toEqual([]);
    expect(errorsOf(AMO)).toEqual([]);
  });

  it('in a YAML 1.2 file (the default), `<<` is an ordinary key, so the schema calls it unknown', () => {
    expect(errorsOf(edit(REST, 'retry:\n', 'defaults: &d { jitter: 0.2 }\nretry:\n  <<: *d\n'))).toEqual([
      "acme.yaml: retry: unknown field(s) '<<': check the spelling",
      "acme.yaml: unknown field(s) 'defaults': check the spelling",
    ]);
  });

  it('a target key that is not a dot path still says what a target key is', () => {
    expect(errorsOf(edit(REST, '  comment: comment', '  comment: comment\n  "bad key": leadId'))).toEqual([
      'acme.yaml: mapping.bad key: target keys are dot paths of letters, digits, _ $ -',
    ]);
  });
});

describe('hostile YAML gets a named error, never a crash', () => {
  it('thousands of nesting levels', () => {
    const deep = `${'['.repeat(5000)}x${']'.repeat(5000)}`;
    expect(errorsOf(edit(REST, 'paused: false', `paused: false\ndeep: ${deep}`))).toEqual([expect.stringMatching(/^acme\.yaml: YAML error: the document is nested too deeply at line \d+, column \d+$/)]);
  });

  it('aliases that expand to a huge document (billion laughs)', () => {
    const lines = ['a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]'];
    for (let i = 1; i < 9; i++) {
      const [name, prev] = [String.fromCharCode(97 + i), String.fromCharCode(96 + i)];
      lines.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(', ')}]`);
    }
    expect(errorsOf(lines.join('\n'))).toEqual(['acme.yaml: YAML error: Excessive alias count indicates a resource exhaustion attack']);
  });

  it('a merge of something that is not a mapping', () => {
    expect(errorsOf(`%YAML 1.1\n---\n${edit(REST, 'retry:\n', 'retry:\n  <<: 1\n')}`)).toEqual(['acme.yaml: YAML error: Merge sources must be maps or map aliases']);
  });
});

describe('lead-export clients check on such a file', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'le-safety-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('prints file: path: message and exits 1 for the one-line field report', async () => {
    await writeFile(join(dir, 'acme.yaml'), edit(REST, '  comment: comment', '  comment: comment\n  __proto__.x: leadId'));
    const out: string[] = [];
    const err: string[] = [];
    process.exitCode = undefined;
    const code = await runCli(['clients', 'check', dir], { out: (s) => out.push(s), err: (s) => err.push(s) }, {});
    process.exitCode = undefined;
    expect(code).toBe(1);
    expect(err.join('')).toBe(`acme.yaml: mapping.__proto__.x: ${reserved('__proto__', 'a target key segment')}\n`);
    expect(out.join('')).toBe('1 file(s) checked, 1 error(s)\n');
  });
});
