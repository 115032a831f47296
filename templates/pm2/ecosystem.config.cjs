// pm2 ecosystem file for an app that parako installs in /opt/parako-id (docs/supervisors/pm2.md).
//
// Start it once as the user that runs the app, then save the process list so pm2 brings it
// back after a reboot:
//
//   sudo -u parako -H pm2 start /opt/parako-id/runtime/ecosystem.config.cjs
//   sudo -u parako -H pm2 save
//   sudo pm2 startup systemd -u parako --hp /home/parako    # once per host
//
// and tell parako about it in /opt/parako-id/parako.json:
//
//   "supervisor": {"type": "pm2", "apps": ["parako-id"], "runAs": "parako"}
//
// Keep this file outside releases/ (runtime/ is the operator's and parako never touches it),
// so that it stays the same from one release to the next.
module.exports = {
  apps: [
    {
      name: 'parako-id', // what supervisor.apps names

      // Through the `current` link, never releases/vX.Y.Z: pm2 remembers these paths, and on
      // `pm2 reload` the new processes start from wherever `current` points by then.
      script: '/opt/parako-id/current/server.js',
      cwd: '/opt/parako-id/current',

      // Cluster mode: pm2 holds the listening socket and replaces the instances one at a time,
      // so a reload drops no connection. Two or more instances keep one serving while the
      // other restarts; 'max' is one per CPU.
      exec_mode: 'cluster',
      instances: 2,

      // A new instance counts as started when it calls process.send('ready') once it listens;
      // only then is the old one stopped. Without a 'ready' within listen_timeout (ms), pm2
      // goes ahead anyway, so give the app's slowest start-up here.
      wait_ready: true,
      listen_timeout: 10000,

      // On reload the old instance gets SIGINT; it should stop accepting, finish the requests
      // in flight and exit. After kill_timeout (ms) pm2 sends SIGKILL. templates/pm2/server.js
      // next to this file is an app that does all of this (ready, drain, close, exit): 0 failed
      // requests over 5 update + rollback cycles under load (docs/supervisors.md#zero-downtime).
      kill_timeout: 8000,

      // A process that dies within min_uptime counts as an unstable start; after
      // max_restarts of those pm2 marks it "errored" and stops trying. parako reads that state
      // (and any restart within its own settle window) as a failed release and rolls back.
      min_uptime: 5000,
      max_restarts: 10,

      // The app's settings. Secrets belong in runtime/.env (read by the app), not here.
      env: {
        NODE_ENV: 'production',
        PORT: '9007', // parako.json health.url: http://127.0.0.1:9007/health
      },

      // pm2 keeps logs in ~/.pm2/logs; parako shows their last lines when a release fails.
      // Rotate them with `pm2 install pm2-logrotate`.
      time: true,
    },
  ],
};
