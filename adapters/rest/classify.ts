import type { CrmResponse } from '../types';
import { DeliveryError } from '../../src/domain/errors';
import { snippet } from '../../src/domain/text';
import { readResponsePath } from './mapping';

/**
 * How a home-made REST CRM's non-2xx answer is read. 429 never gets here (the HTTP layer holds the
 * whole client on it); 401 is handled by the auth session first.
 */
export function failureKind(status: number): 'auth' | 'account' | 'transient' | 'rejected' {
  if (status === 401 || status === 403) return 'auth';
  if (status === 402) return 'account';
  if (status === 408 || status === 425 || status >= 500) return 'transient';
  return 'rejected';
}

/** The CRM's own reason, as short text: the configured error path, else the body. */
export function reasonOf(res: CrmResponse, errorPath?: string): string {
  const picked = errorPath ? readResponsePath(res.body, errorPath) : res.body;
  const text = picked === undefined ? res.text : typeof picked === 'string' ? picked : JSON.stringify(picked);
  return `HTTP ${res.status}: ${snippet(text || '(empty body)')}`;
}

/**
 * Throws the client-wide error for a whole-request failure. The message names the request and the
 * status only; the CRM's words (which may echo the lead or our headers) go to `crmDetail`.
 */
export function throwForStatus(res: CrmResponse, what: string, errorPath?: string): never {
  const kind = failureKind(res.status);
  const crmDetail = reasonOf(res, errorPath);
  if (kind === 'rejected') throw new DeliveryError('rejected', `${what} rejected: HTTP ${res.status}`, { status: res.status, crmDetail });
  throw new DeliveryError(kind, `${what} failed: HTTP ${res.status}`, {
    status: res.status,
    retryAfterMs: res.retryAfterMs,
    uncertain: kind === 'transient' && what.includes('create'),
    crmDetail,
  });
}
