import { createHash, timingSafeEqual } from 'node:crypto';
import type { AppConfig } from '../config/apps.js';
import { ErrorCode, SwitchyardError } from '../errors.js';
import type { ClientGrant } from './grant.js';
import { decodeJwt } from 'jose';
import { MAX_TOKEN_LIFETIME_SECONDS, TokenError, verifyClientToken } from './tokens.js';

/** Who is calling: an app's backend (its secret), or a browser holding a client token of the app. */
export type Principal =
  | { kind: 'app'; appId: string }
  | {
      kind: 'client';
      appId: string;
      tokenId: string;
      /** Sessions created with this token belong to this key: the token's subject, or the token itself. */
      owner: string;
      grant: ClientGrant;
      /** A graphql-ws connection opened with this token is closed at this moment (ms since the epoch): connectionDeadline. */
      expiresAt: number;
    };

/** The one app of development mode, open to requests without credentials. */
export const DEVELOPMENT_APP: AppConfig = { id: 'dev', secret: 'switchyard-development-secret-do-not-deploy' };

const digest = (value: string) => createHash('sha256').update(value).digest();

export const unauthenticated = (message: string) => new SwitchyardError(ErrorCode.UNAUTHENTICATED, message);

/**
 * Turns the credentials of a request (HTTP Authorization header, or the
 * graphql-ws connectionParams) into a Principal, or refuses with UNAUTHENTICATED.
 */
export class Authenticator {
  private readonly apps: Map<string, AppConfig>;
  /** Development mode without apps: no credentials means the development app's backend. */
  readonly open: boolean;

  constructor(apps: AppConfig[]) {
    this.open = apps.length === 0;
    this.apps = new Map((this.open ? [DEVELOPMENT_APP] : apps).map((app) => [app.id, app]));
  }

  async authenticate(authorization: string | null | undefined): Promise<Principal> {
    if (authorization == null || authorization === '') {
      if (this.open) return { kind: 'app', appId: DEVELOPMENT_APP.id };
      throw unauthenticated('missing credentials: send Authorization: Bearer <app secret or client token>');
    }
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!match) throw unauthenticated('the Authorization header must be "Bearer <app secret or client token>"');
    const credential = match[1] as string;
    const app = this.appWithSecret(credential);
    if (app) return { kind: 'app', appId: app.id };
    try {
      const token = await verifyClientToken(credential, (id) => this.apps.get(id)?.secret);
      return {
        kind: 'client',
        appId: token.appId,
        tokenId: token.tokenId,
        owner: token.subject ?? token.tokenId,
        grant: token.grant,
        // The token verified: its iat is the one jose checked against the 24-hour lifetime.
        expiresAt: connectionDeadline(token.expiresAt, Number(decodeJwt(credential).iat) * 1000),
      };
    } catch (error) {
      if (error instanceof TokenError) throw unauthenticated(`invalid credentials: ${error.message}`);
      throw error;
    }
  }

  /** Reads the credentials of a graphql-ws connection: { authorization: "Bearer …" } or { token: "…" }. */
  authenticateConnection(params: Readonly<Record<string, unknown>> | undefined, header: string | undefined): Promise<Principal> {
    return this.authenticate(connectionCredential(params, header));
  }

  /** Compares against every secret in constant time, so timing tells nothing about which one nearly matched. */
  private appWithSecret(credential: string): AppConfig | undefined {
    const given = digest(credential);
    let found: AppConfig | undefined;
    for (const app of this.apps.values()) {
      if (timingSafeEqual(given, digest(app.secret))) found = app;
    }
    return found;
  }
}

/**
 * When a connection opened with a token must close (ms since the epoch): at
 * its exp, but no later than 24 hours after it was issued. Tokens older than
 * that are refused at connect time (tokens.ts), so a connection must not
 * outlive that either, however far away the token's exp is.
 */
export function connectionDeadline(expiresAtMs: number, issuedAtMs: number): number {
  const latest = issuedAtMs + MAX_TOKEN_LIFETIME_SECONDS * 1000;
  return Number.isFinite(latest) ? Math.min(expiresAtMs, latest) : expiresAtMs;
}

/** The Authorization value a graphql-ws connection brings: from connectionParams (`authorization` or `token`), else the upgrade request's header. */
export function connectionCredential(params: Readonly<Record<string, unknown>> | undefined, header: string | undefined): string | undefined {
  const fromParams = params?.authorization ?? params?.Authorization ?? (params?.token ? `Bearer ${String(params.token)}` : undefined);
  return typeof fromParams === 'string' ? fromParams : header;
}
