// f8net serve's static server: paths outside the folder refused (.., encoded, links), MIME types, methods.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, mkdirSync, writeFileSync, symlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { startStaticServer, resolveRequestPath, type StaticServer } from '../../src/node/static-server.js';

function get(port: number, path: string, method = 'GET'): Promise<{ status: number; type: string }> {
  return new Promise((ok, fail) => {
    const r = request({ host: '127.0.0.1', port, path, method }, (res) => {
      res.resume();
      ok({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? '') });
    });
    r.on('error', fail);
    r.end();
  });
}

describe('static server', () => {
  let dir: string;
  let root: string;
  let s: StaticServer;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'f8net-serve-'));
    root = join(dir, 'site');
    mkdirSync(join(root, 'sub'), { recursive: true });
    writeFileSync(join(root, 'index.html'), '<p>hi</p>');
    writeFileSync(join(root, 'app.js'), 'export {}');
    writeFileSync(join(root, 'sub', 'index.html'), 'sub');
    writeFileSync(join(dir, 'secret.txt'), 'secret');
    symlinkSync(join(dir, 'secret.txt'), join(root, 'link.txt'));
    s = await startStaticServer({ root, port: 0 });
  });
  afterAll(async () => {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('binds 127.0.0.1 and serves files with their MIME types', async () => {
    expect(s.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(await get(s.port, '/')).toEqual({ status: 200, type: 'text/html; charset=utf-8' });
    expect((await get(s.port, '/app.js')).type).toBe('text/javascript; charset=utf-8');
    expect((await get(s.port, '/sub')).status).toBe(200);
    expect((await get(s.port, '/app.js', 'HEAD')).status).toBe(200);
  });

  it('refuses paths outside its folder, bad paths and other methods', async () => {
    for (const p of ['/../secret.txt', '/%2e%2e/secret.txt', '/sub/../../secret.txt', '/..%2fsecret.txt', '/link.txt']) expect((await get(s.port, p)).status, p).toBe(403);
    expect((await get(s.port, '/%zz')).status).toBe(400);
    expect((await get(s.port, '/a%00b')).status).toBe(400);
    expect((await get(s.port, '/missing.js')).status).toBe(404);
    expect((await get(s.port, '/app.js', 'POST')).status).toBe(405);
    expect(resolveRequestPath(root, '/../../etc/passwd')).toEqual({ status: 403 });
  });

  it('names a busy port in one line', async () => {
    await expect(startStaticServer({ root, port: s.port })).rejects.toThrow(/--port \d+: already in use on 127\.0\.0\.1/);
  });
});
