/**
 * Public types of the fake HRDrom core: the receiving side of the progress write-back contract
 * (docs/progress-contract.md), for tests. Kept apart from the server so
 * callers can import the shapes without the machinery.
 */
import type { FunnelStage, ProgressEvent } from '../../../src/domain/progress';

export interface FakeHrdromOptions {
  /** The bearer token HRDrom expects (`Authorization: Bearer <token>`). Required, not empty. */
  token: string;
  /** Default 0 (a free port); the port actually bound is kept for up() after down(). */
  port?: number;
  /** Added before every answer (default 0). Events are recorded on arrival, before this wait. */
  latencyMs?: number;
  /** 1 to 500 (the contract's limit, and the default); a larger request gets 413 too_many_events. */
  maxEventsPerRequest?: number;
}

/** 504 is allowed too: it is what a proxy in front of HRDrom answers when HRDrom is slow. */
export type ServerErrorStatus = 500 | 502 | 503 | 504;

export type FaultSpec =
  /** Answered in place of HRDrom (a proxy or overload): nothing is recorded. */
  | { type: 'status'; status: ServerErrorStatus | 429; headers?: Record<string, string>; body?: unknown }
  /** Never answered; the socket stays open until the caller gives up, or down()/close(). Nothing recorded. */
  | { type: 'timeout' }
  /** The connection is reset (RST) once the body is in. Nothing recorded. */
  | { type: 'reset' }
  /**
   * A valid request is recorded as usual, then answered with this status instead of 200: the caller
   * must resend, and then gets `duplicate` for what was recorded. Only valid requests match it.
   */
  | { type: 'accept-then-status'; status: ServerErrorStatus; headers?: Record<string, string>; body?: unknown }
  /** Handled as usual, answered `ms` later (on top of latencyMs). */
  | { type: 'latency'; ms: number };

/**
 * Which requests a fault hits; every given criterion must hold. Without one, a fault hits the next
 * POST /v1/lead-progress. The event criteria need a valid body and hold when any event matches.
 */
export interface FaultMatch {
  /** Compared case-insensitively. Default POST. */
  method?: string;
  /** Tested against the path without the query string. Default /v1/lead-progress exactly. */
  path?: RegExp;
  clientId?: string;
  leadId?: string;
  eventId?: string;
}

export interface InjectFaultOptions {
  /** How many matching requests get the fault. Default 1. */
  times?: number;
  match?: FaultMatch;
}

export interface RecordedRequest {
  /** Arrival of the request line, in epoch milliseconds (fractional, monotonic). */
  at: number;
  method: string;
  /** Without the query string. */
  path: string;
  /** Lower-cased names; repeated headers joined with ', '. They carry the token: never log them. */
  headers: Record<string, string>;
  /** Length of `events` when the body had an events array (valid or not), else 0. */
  eventCount: number;
  /** The event ids of a valid batch, in request order; empty when the body was refused. */
  eventIds: string[];
  /** Set as the answer is written; 0 until then, and for requests never answered (timeout, reset, down()). */
  status: number;
  /** The fault this request got, if any. */
  fault?: FaultSpec['type'];
  /** From arrival until the response finished or the connection went away; 0 while in flight. */
  durationMs: number;
}

/** An accepted event, as the caller sent it, with the time its request had fully arrived. */
export interface ReceivedEvent extends ProgressEvent {
  /** Epoch milliseconds (fractional, monotonic): events() is in this order. */
  receivedAt: number;
}

/** Returns a reason to answer the event `rejected` (and not record it), or undefined to accept it. */
export type RejectPredicate = (event: ProgressEvent) => string | undefined;

/** One change (client, lead, stage, changedAt instant) accepted under more than one eventId. */
export interface ContentDuplicate {
  clientId: string;
  leadId: string;
  stage: FunnelStage;
  /** As first received. */
  changedAt: string;
  eventIds: string[];
}

export interface FakeHrdromStats {
  /** Every request received, health checks and refused ones included. */
  requests: number;
  /** Results answered `accepted` (including in requests then answered 5xx by accept-then-status). */
  accepted: number;
  duplicates: number;
  rejected: number;
  /**
   * Duplicates whose content differs from the event first accepted under that eventId (another
   * client, lead, stage or changedAt): the sender reused an id for a different change.
   */
  conflictingDuplicates: number;
  /** Whole requests refused by the contract's checks: 400, 401, 413, 415. */
  refused: number;
  /** Injected faults served. */
  faults: number;
  /** 500s caused by a rejectWhen predicate that threw (the body says why); nothing was recorded. */
  internalErrors: number;
}

export interface FakeHrdrom {
  readonly url: string;
  readonly port: number;
  /** Every request, in arrival order. */
  readonly requests: ReadonlyArray<RecordedRequest>;
  /** How many events are recorded (duplicates and rejections not counted). */
  readonly accepted: number;
  /** Accepted events in arrival order, each once (copies). */
  events(): ReceivedEvent[];
  eventsFor(clientId: string, leadId: string): ReceivedEvent[];
  injectFault(fault: FaultSpec, opts?: InjectFaultOptions): void;
  clearFaults(): void;
  /** Replaces the predicate; undefined accepts everything again. */
  rejectWhen(predicate: RejectPredicate | undefined): void;
  setLatency(ms: number): void;
  /** Lead keys (`<clientId>.<leadId>`) whose accepted events did not arrive in changedAt order. */
  outOfOrderLeads(): string[];
  /** The same change accepted under two or more eventIds. */
  duplicatesByContent(): ContentDuplicate[];
  /** Stops listening and destroys every socket: connections are refused until up(). */
  down(): Promise<void>;
  /** Listens again, on the same port. */
  up(): Promise<void>;
  close(): Promise<void>;
  stats(): FakeHrdromStats;
}
