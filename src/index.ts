/**
 * The library surface of lead-export, for HRDrom core and for tools:
 *   import { LeadProducer } from 'lead-export';
 */
export { LeadProducer, IntakeUnavailableError, MAX_BATCH, type EnqueueResult, type LeadProducerOptions } from './queue/producer';
export {
  LeadV1Schema,
  makeLeadV1Schema,
  parseLead,
  assertLead,
  leadJsonSchema,
  leadJobId,
  type LeadV1,
  type LeadV1Input,
  type LeadParseResult,
  type ParseLeadOptions,
  type Clock,
} from './domain/lead';
export * from './domain/lead-limits';
export { MAX_INTAKE_BODY_BYTES } from './api/intake-routes';
export { LeadExportError, DeliveryError, InputError, type ErrorKind, type DeliveryErrorKind, type FieldIssue } from './domain/errors';
export { startService, type RunningService, type ServiceRoles } from './service';
export { loadServiceConfig, type ServiceConfig } from './config/service-config';
export { parseClientFile, loadClientsDir, type ClientFileError } from './config/client-loader';
export type { CrmAdapter, AdapterDefinition, AdapterContext, PushItem, PushOutcome } from '../adapters/types';
export { openApiDocument } from './api/openapi';
