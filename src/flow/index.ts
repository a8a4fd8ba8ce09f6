export * from './abort';
export * from './backoff';
export * from './circuit-breaker';
export * from './rate-limiter';
export * from './retry-after';
export { LuaScript } from './lua-script';
