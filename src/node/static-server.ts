/**
 * The static server behind `f8net serve`: Node's http serving one folder (the built page,
 * dist/web) on 127.0.0.1 unless told otherwise. GET and HEAD only; a path that resolves
 * outside the folder (`..`, encoded `%2e%2e`, a symbolic link pointing out) is refused with
 * 403, a missing one gets 404, a malformed one 400.
 *
 * @example
 *   const s = await startStaticServer({ root: 'dist/web', port: 0 });
 *   console.log(s.url); // http://127.0.0.1:40123/
 *   await s.close();
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createReadStream, realpathSync, statSync } from 'node:fs';
import { extname, join, resolve, sep } from 'node:path';
import { F8Error } from '../runtime/errors.js';

export const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wgsl': 'text/plain; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
  '.bin': 'application/octet-stream',
  '.safetensors': 'application/octet-stream',
};

export interface StaticServerOptions {
  root: string;
  /** 0 picks a free port. */
  port: number;
  host?: string;
  /** Called once per request with method, path and status (the CLI logs them). */
  onRequest?(method: string, path: string, status: number): void;
}

export interface StaticServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** The file under `root` that `urlPath` names, or the HTTP status explaining why there is none. */
export function resolveRequestPath(root: string, urlPath: string): { file: string } | { status: 400 | 403 | 404 } {
  let path: string;
  try {
    path = decodeURIComponent(urlPath.split('?')[0].split('#')[0]);
  } catch {
    return { status: 400 };
  }
  if (path.includes('\0') || !path.startsWith('/')) return { status: 400 };
  if (path.endsWith('/')) path += 'index.html';
  const full = resolve(root, `.${path}`);
  if (full !== root && !full.startsWith(root + sep)) return { status: 403 };
  let real: string;
  try {
    real = realpathSync(full);
  } catch {
    return { status: 404 };
  }
  // A link inside the folder must not lead out of it.
  if (!real.startsWith(realpathSync(root) + sep)) return { status: 403 };
  try {
    if (statSync(real).isDirectory()) return resolveRequestPath(root, `${path}/`);
  } catch {
    return { status: 404 };
  }
  return { file: real };
}

export async function startStaticServer(o: StaticServerOptions): Promise<StaticServer> {
  const root = resolve(o.root);
  try {
    if (!statSync(root).isDirectory()) throw new Error('not a folder');
  } catch {
    throw new F8Error('BAD_INPUT', `${o.root}: no such folder to serve`);
  }
  const host = o.host ?? '127.0.0.1';
  const send = (req: IncomingMessage, res: ServerResponse, status: number, text: string) => {
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
    res.end(req.method === 'HEAD' ? undefined : text);
    o.onRequest?.(req.method ?? '?', req.url ?? '?', status);
  };
  const server = createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return send(req, res, 405, 'only GET and HEAD\n');
    }
    const r = resolveRequestPath(root, req.url ?? '/');
    if ('status' in r) return send(req, res, r.status, { 400: 'bad request path\n', 403: 'forbidden: outside the served folder\n', 404: 'not found\n' }[r.status]);
    const size = statSync(r.file).size;
    res.writeHead(200, {
      'Content-Type': MIME[extname(r.file).toLowerCase()] ?? 'application/octet-stream',
      'Content-Length': size,
      'Cache-Control': 'no-cache',
      'X-Content-Type-Options': 'nosniff',
    });
    o.onRequest?.(req.method, req.url ?? '/', 200);
    if (req.method === 'HEAD') return res.end();
    createReadStream(r.file).on('error', () => res.destroy()).pipe(res);
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      fail(new F8Error('BAD_INPUT', e.code === 'EADDRINUSE' ? `--port ${o.port}: already in use on ${host}; pick another (or 0 for a free one)` : `cannot listen on ${host}:${o.port}: ${e.message}`)),
    );
    server.listen(o.port, host, () => ok());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : o.port;
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}/`,
    port,
    close: () => new Promise<void>((ok) => {
      server.closeAllConnections?.();
      server.close(() => ok());
    }),
  };
}

/** dist/web of this package (the page `npm run build` makes), found above this file in src/ and dist/src/. */
export function builtPageDir(from: string): string {
  let d = from;
  for (let i = 0; i < 5; i++) {
    const cand = join(d, 'dist', 'web');
    try {
      if (statSync(join(cand, 'index.html')).isFile()) return cand;
    } catch {
      /* keep looking upward */
    }
    d = resolve(d, '..');
  }
  throw new F8Error('IO', "the page is not built (no dist/web/index.html): run 'npm run build'");
}
