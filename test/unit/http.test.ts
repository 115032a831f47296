import {createRequire} from 'node:module';
import {createServer} from 'node:http';
import type {AddressInfo} from 'node:net';
import type * as Undici from 'undici';
import {describe, expect, it} from 'vitest';

import {createHttpClient, request, undiciParts} from '../../src/core/http.js';

const require = createRequire(import.meta.url);

describe('the HTTP client', () => {
  it("loads undici's agent, redirect interceptor and request from their own modules, and they are the very objects undici exports", () => {
    // Fails when an undici upgrade moves them: then http.ts falls back to the whole index,
    // slower to start; update the paths (or drop the shortcut) before pinning the new version.
    const parts = undiciParts();
    const whole = require('undici') as typeof Undici;
    expect(parts.EnvHttpProxyAgent).toBe(whole.EnvHttpProxyAgent);
    expect(parts.redirect).toBe(whole.interceptors.redirect);
    expect(parts.request).toBe(whole.Dispatcher.prototype.request);
    expect(require.resolve('undici/lib/api/api-request.js')).toMatch(/node_modules\/undici\/lib\/api\/api-request\.js$/);
  });

  it('request() sends the path and query, follows a redirect, and passes headers and the method', async () => {
    const seen: string[] = [];
    const server = createServer((req, res) => {
      seen.push(`${req.method} ${req.url} ${req.headers.accept}`);
      if (req.url === '/old?x=1') {
        res.writeHead(302, {location: '/new?y=2'}).end();
        return;
      }
      res.end('answered');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const response = await request(`${base}/old?x=1`, {dispatcher: createHttpClient(), headers: {accept: 'application/json'}});
      expect(response.statusCode).toBe(200);
      expect(await response.body.text()).toBe('answered');
      const head = await request(`${base}/plain`, {dispatcher: createHttpClient(), method: 'HEAD'});
      await head.body.dump();
      expect(seen).toEqual(['GET /old?x=1 application/json', 'GET /new?y=2 application/json', 'HEAD /plain undefined']);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
