import {describe, expect, it} from 'vitest';

import {restoreCommand} from '../src/sqlite.js';

describe('the restore command', () => {
  it("stops and starts the app with the supervisor plugin's own commands", () => {
    const service = {stop: 'systemctl stop shop.service', start: 'systemctl start shop.service', restart: 'systemctl restart shop.service'};
    expect(restoreCommand('/opt/shop/backups/b.db', '/opt/shop/data/app.db', 'shop', service)).toBe(
      'systemctl stop shop.service && cp /opt/shop/backups/b.db /opt/shop/data/app.db && rm -f /opt/shop/data/app.db-wal /opt/shop/data/app.db-shm /opt/shop/data/app.db-journal && systemctl start shop.service',
    );
  });

  it('without a supervisor, leaves stopping and starting the app to the operator, and quotes odd paths', () => {
    expect(restoreCommand("/b/it's.db", '/d/app.db', 'shop')).toBe(`cp '/b/it'\\''s.db' /d/app.db && rm -f /d/app.db-wal /d/app.db-shm /d/app.db-journal  # with shop stopped; start it again afterwards`);
  });
});
