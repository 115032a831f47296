// A graceful HTTP server for pm2 cluster mode: start from this when you write (or check) your
// app's start-up and shutdown for zero-downtime reloads (docs/supervisors/pm2.md, step 4;
// templates/pm2/ecosystem.config.cjs). `npm run bench -- downtime` releases this very file as
// the app's server.js and measures the reloads under load (docs/supervisors.md#zero-downtime).
//
// What a reload needs from the app, in the order pm2 asks for it:
//   1. say `ready` once it listens (wait_ready): pm2 stops the old instance only then;
//   2. on SIGINT, keep answering for a short drain, telling each keep-alive client that this
//      connection closes (`Connection: close`), so no client sends a request on a socket the
//      server is about to close (that race is what turns a reload into "socket hang up");
//   3. then stop accepting, close the sockets left idle, let the requests in flight finish,
//      and exit before pm2's kill_timeout.
//
// CommonJS without a package.json, so it runs as `node server.js` from the release dir.
'use strict';

const {createServer} = require('node:http');
const net = require('node:net');
const {readFileSync} = require('node:fs');
const {join} = require('node:path');

const PORT = Number(process.env.PORT || 9007);
const HOST = process.env.HOST || '127.0.0.1';
// Longer than the gap between two requests on one of your clients' keep-alive connections
// (a proxy's upstream pool), shorter than kill_timeout minus your slowest request.
const DRAIN_MS = Number(process.env.DRAIN_MS || 1000);
// Below the ecosystem file's kill_timeout (8000), so the app exits on its own terms.
const HARD_STOP_MS = Number(process.env.HARD_STOP_MS || 7000);

// The release this process runs: parako's release.json sits next to this file.
const release = JSON.parse(readFileSync(join(__dirname, 'release.json'), 'utf8'));

let stopping = false;

const server = createServer((req, res) => {
  // While draining, every answer tells the client to open its next connection elsewhere (pm2
  // hands new connections to the new instance).
  if (stopping) res.setHeader('connection', 'close');
  if (req.url === '/health') {
    const body = JSON.stringify({app: release.app, version: release.version, pid: process.pid});
    res.writeHead(200, {'content-type': 'application/json', 'content-length': Buffer.byteLength(body)});
    res.end(body);
    return;
  }
  // Your app's routes go here.
  res.writeHead(404, {'content-type': 'text/plain'});
  res.end('not found\n');
});

server.listen(PORT, HOST, () => {
  console.log(`${release.app} v${release.version} listening on ${HOST}:${PORT} (pid ${process.pid})`);
  // pm2 (wait_ready: true) stops the old instance only once the new one says this.
  if (process.send) process.send('ready');
});

function stop(signal) {
  if (stopping) return;
  stopping = true;
  console.log(`${release.app} v${release.version} stopping on ${signal}: draining for ${DRAIN_MS} ms`);
  setTimeout(() => {
    // No new connections from here on. net.Server's close, not http.Server's: since Node 19
    // the latter also closes idle connections at once, and that includes one accepted a moment
    // ago whose first request is still on its way (its client would get ECONNRESET). The
    // callback runs once every connection has ended.
    net.Server.prototype.close.call(server, () => process.exit(0));
    // What is still open after the drain: kept-alive sockets whose clients sent nothing during
    // it, and requests in flight (answered with `Connection: close`). Close the idle ones once
    // a connection accepted just before the close has had time to deliver its request.
    setTimeout(() => server.closeIdleConnections(), 500);
  }, DRAIN_MS);
  // A client that keeps a request open for ever must not hold the reload up to SIGKILL.
  setTimeout(() => {
    server.closeAllConnections();
    process.exit(0);
  }, HARD_STOP_MS).unref();
}

// pm2 sends SIGINT on reload, restart and stop; a plain `kill` or systemd sends SIGTERM.
process.once('SIGINT', () => stop('SIGINT'));
process.once('SIGTERM', () => stop('SIGTERM'));
