/**
 * POST /auth/login | /auth/refresh | /auth/logout, served in login mode only (404 otherwise).
 */
import { type AuthState, bearerToken } from './auth';
import { type Ctx, error, firstHeader, json, jsonObject, type MethodRoutes, type Reply } from './reply';

// Token answers must never be cached by a proxy between the client and the CRM.
const NO_STORE = { 'Cache-Control': 'no-store' };

export function authRoutes(auth: AuthState, path: string): MethodRoutes | undefined {
  switch (path) {
    case '/auth/login':
      return {
        POST: (ctx) => {
          const body = jsonObject(ctx);
          if ('reply' in body) return body.reply;
          const pair = auth.login(body.value.username, body.value.password, ctx.at);
          return pair ? json(200, pair, NO_STORE) : error(401, 'invalid_credentials');
        },
      };
    case '/auth/refresh':
      return {
        POST: (ctx) => {
          const body = jsonObject(ctx);
          if ('reply' in body) return body.reply;
          const pair = auth.refreshPair(body.value.refresh_token, ctx.at);
          return pair ? json(200, pair, NO_STORE) : error(401, 'invalid_refresh_token');
        },
      };
    case '/auth/logout':
      return { POST: (ctx) => logout(auth, ctx) };
    default:
      return undefined;
  }
}

function logout(auth: AuthState, ctx: Ctx): Reply {
  let body: unknown;
  // Without the refresh-token rule the body is ignored, whatever it holds, as before.
  if (auth.logoutRequiresRefreshToken && ctx.body.kind !== 'none') {
    const parsed = jsonObject(ctx);
    if ('reply' in parsed) return parsed.reply;
    body = parsed.value;
  }
  const failure = auth.logout(bearerToken(firstHeader(ctx.headers, 'authorization')), body);
  if (!failure) return { status: 204 };
  return failure.error === 'missing_parameter' ? error(400, failure.error, { parameter: 'refresh_token' }) : error(failure.status, failure.error);
}
