import type { AdapterDefinition } from './types';
import { restAdapter } from './rest';
import { amocrmAdapter } from './amocrm';

/**
 * Every CRM kind lead-export can talk to. Adding a CRM means adding a folder under adapters/ and a
 * line here; the client-file schema and the CLI pick it up from this list.
 */
export const ADAPTERS: ReadonlyArray<AdapterDefinition<unknown, unknown>> = [
  restAdapter as AdapterDefinition<unknown, unknown>,
  amocrmAdapter as AdapterDefinition<unknown, unknown>,
];

export function findAdapter(kind: string): AdapterDefinition<unknown, unknown> | undefined {
  return ADAPTERS.find((a) => a.kind === kind);
}
