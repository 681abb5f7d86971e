import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode } from '../../errors.js';
import { sendJson } from '../http/messages.js';
import { handleResource, type IngestProtocolOptions } from './ingestProtocol.js';
import { handleWhepEndpoint } from './whep.js';
import { handleWhipEndpoint } from './whip.js';

/** Stream names travel in URLs and tags: unreserved URL characters, 1 to 64. */
const STREAM = /^[A-Za-z0-9._~-]{1,64}$/;
const SESSION_ID = /^[A-Za-z0-9-]{1,64}$/;

/**
 * Routes of the WHIP and WHEP protocols; false for other paths:
 * POST /whip/{stream}, /whip/resources/{sessionId};
 * POST /whep/{stream}, POST /whep/sessions/{sessionId}, /whep/resources/{sessionId}.
 */
export function whipWhepRoutes(options: IngestProtocolOptions) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    const url = new URL(req.url ?? '/', 'http://switchyard.internal');
    const parts = url.pathname.split('/').slice(1);
    const protocol = parts[0];
    if (protocol !== 'whip' && protocol !== 'whep') return false;
    let decoded: string[];
    try {
      decoded = parts.map((p) => decodeURIComponent(p));
    } catch {
      return notFound(req, res); // malformed percent-encoding names nothing
    }
    const [, first, second, ...rest] = decoded;
    if (rest.length > 0 || first === undefined) return notFound(req, res);
    if (first === 'resources') {
      if (second === undefined || !SESSION_ID.test(second)) return notFound(req, res);
      await handleResource(req, res, second, options);
      return true;
    }
    if (protocol === 'whep' && first === 'sessions') {
      if (second === undefined || !SESSION_ID.test(second)) return notFound(req, res);
      await handleWhepEndpoint(req, res, { sessionId: second }, url, options);
      return true;
    }
    if (second !== undefined || !STREAM.test(first) || first === 'sessions') return notFound(req, res);
    if (protocol === 'whip') await handleWhipEndpoint(req, res, first, url, options);
    else await handleWhepEndpoint(req, res, { stream: first }, url, options);
    return true;
  };
}

function notFound(req: IncomingMessage, res: ServerResponse): true {
  req.resume();
  sendJson(res, 404, {
    code: ErrorCode.BAD_REQUEST,
    message: 'not a WHIP or WHEP URL: POST /whip/{stream}, /whep/{stream} or /whep/sessions/{sessionId}; stream names are 1 to 64 of A-Z a-z 0-9 . _ ~ -',
  });
  return true;
}
