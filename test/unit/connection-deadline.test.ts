import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import type { WebSocket } from 'ws';
import { describe, expect, it } from 'vitest';
import { CLOSE_TOKEN_EXPIRED, closeWhenExpired } from '../../src/api/websocket.js';
import { Authenticator, connectionDeadline } from '../../src/auth/principal.js';

/** A graphql-ws connection lives until min(exp, iat + 24 h), and a far deadline never overflows setTimeout (issue 23). */
const ACME = { id: 'acme', secret: 'a'.repeat(40) };
const HOUR_MS = 60 * 60 * 1000;
const DAY_MS = 24 * HOUR_MS;

describe('connectionDeadline', () => {
  const iat = Date.UTC(2026, 0, 1);
  it('is the token\'s exp when it comes within 24 hours of iat', () => {
    expect(connectionDeadline(iat + HOUR_MS, iat)).toBe(iat + HOUR_MS);
    expect(connectionDeadline(iat + DAY_MS, iat)).toBe(iat + DAY_MS);
  });

  it('is iat + 24 hours when the exp is later, however much later', () => {
    expect(connectionDeadline(iat + DAY_MS + 1000, iat)).toBe(iat + DAY_MS);
    expect(connectionDeadline(iat + 365 * DAY_MS, iat)).toBe(iat + DAY_MS);
  });

  it('is what a client token\'s principal carries', async () => {
    const issuedAt = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ grant: { createSession: true } })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer(ACME.id)
      .setAudience('switchyard')
      .setJti(randomUUID())
      .setIssuedAt(issuedAt)
      .setExpirationTime(issuedAt + 30 * 24 * 3600)
      .sign(new TextEncoder().encode(ACME.secret));
    const principal = await new Authenticator([ACME]).authenticate(`Bearer ${token}`);
    expect(principal.kind === 'client' && principal.expiresAt).toBe(issuedAt * 1000 + DAY_MS);
  });
});

/** Stands in for the ws socket: what closeWhenExpired uses of it. */
function fakeSocket() {
  const socket = Object.assign(new EventEmitter(), {
    closedWith: undefined as number | undefined,
    close(code: number) {
      socket.closedWith = code;
      socket.emit('close');
    },
  });
  return socket;
}

describe('closeWhenExpired', () => {
  it('does not close a connection whose deadline is past what setTimeout can wait (2^31 - 1 ms, 24.8 days)', async () => {
    const socket = fakeSocket();
    closeWhenExpired(socket as unknown as WebSocket, Date.now() + 30 * DAY_MS);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(socket.closedWith).toBeUndefined();
    // Closing the socket stops the timer (vitest would otherwise wait for nothing).
    socket.emit('close');
  });

  it('closes with 4498 at the deadline', async () => {
    const socket = fakeSocket();
    const deadline = Date.now() + 100;
    closeWhenExpired(socket as unknown as WebSocket, deadline);
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(socket.closedWith).toBeUndefined();
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(socket.closedWith).toBe(CLOSE_TOKEN_EXPIRED);
  });
});
