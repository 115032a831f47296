// parako-id's template app: plain Node, no dependencies. It serves /health with {app, version}
// (read from the release's release.json) on the listening socket that systemd hands it
// (templates/systemd/parako-id.socket), or, without one, on PORT from runtime/.env.
//
// Socket activation is what makes parako's restart invisible to clients: systemd keeps the
// socket open while this process stops and the next release starts, so new connections wait in
// the kernel's backlog and the next process accepts them (docs/supervisors/systemd.md).
'use strict';

const {readFileSync} = require('node:fs');
const {createServer} = require('node:http');
const net = require('node:net');
const {join} = require('node:path');

const {app, version} = JSON.parse(readFileSync(join(__dirname, 'release.json'), 'utf8'));
/** The first passed descriptor (SD_LISTEN_FDS_START in sd-daemon.h). */
const SD_LISTEN_FDS_START = 3;
/**
 * Node calls listen(2) again on the socket it takes, with its own backlog (511 unless told),
 * and the kernel applies it to the one socket systemd shares: keep this equal to Backlog= in
 * parako-id.socket.
 */
const BACKLOG = 4096;
/**
 * After SIGTERM, how long a keep-alive connection may stay idle before it is closed. Each
 * restart waits for it when a client keeps an idle connection open, so it is short.
 */
const IDLE_GRACE_MS = 1000;
/** Stop waiting for slow requests after this; below TimeoutStopSec= (30 s), so we exit 0, not SIGKILLed. */
const DRAIN_MS = 20_000;

let draining = false;

const server = createServer((req, res) => {
  const body = JSON.stringify({app, version});
  // Once stopping, every answer closes its connection, so no client reuses a keep-alive
  // connection this process is about to close.
  if (draining) res.setHeader('connection', 'close');
  res.writeHead(req.url === '/health' ? 200 : 404, {'content-type': 'application/json', 'content-length': Buffer.byteLength(body)});
  res.end(body);
});

const fd = systemdSocket();
if (fd === undefined) {
  const port = Number(process.env.PORT);
  const host = process.env.HOST || '127.0.0.1';
  server.listen({port, host, backlog: BACKLOG}, () => console.log(`${app} v${version} listening on ${host}:${port} (no socket from systemd)`));
} else {
  server.listen({fd, backlog: BACKLOG}, () => console.log(`${app} v${version} serving the socket systemd passed (fd ${fd})`));
}

process.once('SIGTERM', () => {
  draining = true;
  console.log(`${app} v${version} stopping: finishing the requests in flight`);
  // Stop accepting. This closes only this process's descriptor of the socket: systemd holds
  // its own, so the socket stays open and connections arriving from now on wait in the backlog
  // for the next release. net.Server's close, not http.Server's: the latter (Node >= 19) also
  // closes idle connections at once, and a client that is just sending a request on one (its
  // next on a kept-alive connection, or its first on one accepted a moment ago) gets ECONNRESET.
  net.Server.prototype.close.call(server, () => {
    console.log(`${app} v${version} stopped`);
    process.exit(0);
  });
  // A client that keeps using its connection gets `connection: close` on its next answer and
  // goes away (above); one that stays idle this long is not using it, and is closed.
  setTimeout(() => server.closeIdleConnections(), IDLE_GRACE_MS).unref();
  setTimeout(() => {
    console.log(`${app} v${version}: requests still open after ${DRAIN_MS / 1000} s; closing them`);
    server.closeAllConnections();
  }, DRAIN_MS).unref();
});

/**
 * The listening socket systemd passed, as sd_listen_fds(3) finds it: LISTEN_FDS descriptors
 * from fd 3 on, meant for this process only if LISTEN_PID is its pid (a child that inherited
 * the variables must not take them). The variables are removed so child processes do not.
 */
function systemdSocket() {
  const forUs = process.env.LISTEN_PID === String(process.pid);
  const count = Number(process.env.LISTEN_FDS || 0);
  for (const name of ['LISTEN_PID', 'LISTEN_FDS', 'LISTEN_FDNAMES']) delete process.env[name];
  if (!forUs || count === 0) return undefined;
  if (count !== 1) {
    // More than one ListenStream= (or a second socket unit): this template serves exactly one.
    console.error(`${app} v${version}: systemd passed ${count} sockets; this server takes exactly one (one ListenStream= in parako-id.socket)`);
    process.exit(1);
  }
  return SD_LISTEN_FDS_START;
}
