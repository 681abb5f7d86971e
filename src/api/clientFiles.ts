import { readFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CorsPolicy } from './cors.js';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** The project root: the nearest folder above this module whose package.json is Switchyard's (src/ and dist/src/ alike). */
function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'switchyard') return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the Switchyard project root');
    dir = parent;
  }
}

/**
 * Serves what `npm run build` makes of client/: the SDK at /sdk/switchyard.js
 * (applications may load it from their SFU; pages of the origins CORS allows
 * may import it from theirs) and, when enabled, the room demo at /demo/.
 * Returns false for any other path.
 */
export function createClientFiles(options: { demo: boolean; cors?: CorsPolicy; directory?: string }) {
  const root = options.directory ?? join(projectRoot(), 'dist/client');
  return async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    const path = (req.url ?? '/').split('?')[0] as string;
    let file: string | undefined;
    const sdk = path === '/sdk/switchyard.js' || path === '/sdk/switchyard.js.map';
    if (sdk) file = join(root, path.slice('/sdk/'.length));
    else if (options.demo && (path === '/demo' || path === '/demo/')) file = join(root, 'demo/index.html');
    else if (options.demo && path.startsWith('/demo/') && FILE_NAME.test(path.slice('/demo/'.length))) file = join(root, 'demo', path.slice('/demo/'.length));
    if (!file) return false;
    const cors = sdk && options.cors ? options.cors.headers(req.headers.origin, 'GET, HEAD') : {};
    if (sdk && req.method === 'OPTIONS') {
      // A preflight: module scripts need none, fetch() with extra headers does.
      res.writeHead(204, { ...cors, allow: 'GET, HEAD, OPTIONS', 'content-length': '0' }).end();
      return true;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...cors, allow: sdk ? 'GET, HEAD, OPTIONS' : 'GET, HEAD' }).end();
      return true;
    }
    if (path === '/demo') {
      // Relative asset URLs in the page need the trailing slash.
      res.writeHead(308, { location: '/demo/' + (req.url?.includes('?') ? req.url.slice(req.url.indexOf('?')) : '') }).end();
      return true;
    }
    try {
      const body = await readFile(file);
      res.writeHead(200, { ...cors, 'content-type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-cache' });
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch {
      res.writeHead(404, { ...cors, 'content-type': 'text/plain; charset=utf-8' }).end('not built: run npm run build (it builds client/ into dist/client)\n');
    }
    return true;
  };
}
