import type { AdapterDefinition } from './types';
import { LeadExportError } from '../src/domain/errors';
import { restAdapter } from './rest';
import { amocrmAdapter } from './amocrm';

/**
 * Every CRM kind lead-export can talk to. Adding a CRM means adding a folder under adapters/ and one
 * `registerAdapter(...)` line at the end of this file; the client-file schema (`adapter:` and the
 * kind's `settings:`/`mapping:`), `clients check` and the CLI's per-kind commands all read this list.
 *
 * The list is live: a kind registered later (a test registers its own) is seen by everything that
 * reads it afterwards. The client-file schema is rebuilt when `registryVersion()` changes.
 */

/** A kind becomes an `adapter:` value and a CLI command name: keep it to what both can hold. */
const KIND_PATTERN = /^[a-z][a-z0-9-]{0,31}$/;

/**
 * The CLI's own top-level commands: a kind becomes `lead-export <kind> …`, so it may not take one of
 * these names (test/unit/adapter-registry.test.ts keeps this list in step with the CLI).
 */
export const RESERVED_KINDS: ReadonlySet<string> = new Set(['serve', 'clients', 'enqueue', 'failed', 'replay', 'schema', 'probe', 'help']);

const registered: Array<AdapterDefinition<unknown, unknown>> = [];
let version = 0;

/** The registered kinds, in registration order. The same array every time, so it stays current. */
export const ADAPTERS: ReadonlyArray<AdapterDefinition<unknown, unknown>> = registered;

/**
 * Adds a CRM kind. Refuses a kind that is already registered (two definitions of one `adapter:` value
 * would make client files ambiguous) and a kind that cannot be a CLI command name.
 */
export function registerAdapter<TSettings, TMapping>(def: AdapterDefinition<TSettings, TMapping>): void {
  const kind: unknown = def?.kind;
  if (typeof kind !== 'string' || !KIND_PATTERN.test(kind)) {
    throw new LeadExportError('config', `cannot register adapter kind ${JSON.stringify(kind)}: a kind is 1-32 characters of a-z 0-9 -, starting with a letter`);
  }
  if (RESERVED_KINDS.has(kind)) {
    throw new LeadExportError('config', `cannot register adapter kind '${kind}': it is the name of a lead-export command (lead-export ${kind}); choose another kind`);
  }
  if (findAdapter(kind)) {
    throw new LeadExportError('config', `cannot register adapter kind '${kind}': it is already registered (kinds: ${registered.map((a) => a.kind).join(', ')})`);
  }
  registered.push(def as AdapterDefinition<unknown, unknown>);
  version += 1;
}

export function findAdapter(kind: string): AdapterDefinition<unknown, unknown> | undefined {
  return registered.find((a) => a.kind === kind);
}

/** Changes whenever a kind is registered: caches built from the list (the client schema) compare it. */
export function registryVersion(): number {
  return version;
}

registerAdapter(restAdapter);
registerAdapter(amocrmAdapter);
