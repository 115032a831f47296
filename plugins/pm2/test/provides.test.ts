/**
 * What the pm2 plugin tells parako besides its hook: which `supervisor` sections it accepts
 * (and how a mistake is named), the dry run's restart lines, and the commands an operator
 * pastes to stop and start the apps as their user.
 */
import {describe, expect, it} from 'vitest';

import {validateSettings} from 'parako';

import provider from '../src/provides.js';
import type {Pm2Settings} from '../src/settings.js';

const install = {app: 'parako-id', dir: '/opt/parako-id'};

/** The problems parako reports for a section, as the operator reads them. */
const problems = async (section: unknown): Promise<string[]> => (await validateSettings(provider.settings!, section)).problems;

describe('the supervisor section', () => {
  it('accepts the examples of docs/supervisors/pm2.md', async () => {
    expect(await problems({type: 'pm2', apps: ['parako-id'], runAs: 'parako'})).toEqual([]);
    expect(await problems({type: 'pm2', apps: ['parako-id'], runAs: 'parako', settleSeconds: 15})).toEqual([]);
    expect(await problems({type: 'pm2', apps: ['parako-id'], runAs: 'parako', home: '/srv/parako/.pm2', mode: 'restart'})).toEqual([]);
  });

  it('names the key at fault', async () => {
    expect(await problems({type: 'pm2', apps: []})).toEqual(['supervisor.apps: Too small: expected array to have >=1 items']);
    expect(await problems({type: 'pm2', apps: ['web'], runAs: 'web user'})).toEqual(['supervisor.runAs: must be a system user name']);
    expect(await problems({type: 'pm2', apps: ['web'], mode: 'graceful'})).toEqual(['supervisor.mode: Invalid option: expected one of "reload"|"restart"']);
    expect(await problems({type: 'pm2', apps: ['web'], user: 'web'})).toEqual(['supervisor: unknown key "user"']);
  });

  it('gives editors a JSON Schema of the section', () => {
    expect(provider.settings!.jsonSchema).toMatchObject({type: 'object', required: ['type', 'apps'], additionalProperties: false});
  });
});

describe('what the plugin says about the apps', () => {
  it('lists each app for the dry run, as the plan printed them before plugins said it', () => {
    expect(provider.supervisor!.describe({type: 'pm2', apps: ['parako-id', 'worker']}, install)).toEqual(['pm2 app parako-id', 'pm2 app worker']);
  });

  it('gives pm2 lines to stop, start and restart every app', () => {
    expect(provider.supervisor!.commands({type: 'pm2', apps: ['parako-id', 'worker']}, install)).toEqual({
      stop: 'pm2 stop parako-id worker',
      start: 'pm2 start parako-id worker',
      restart: 'pm2 restart parako-id worker',
    });
  });

  it("runs pm2 as runAs, with home as PM2_HOME, as the hook does", () => {
    const settings: Pm2Settings = {type: 'pm2', apps: ['parako-id'], runAs: 'parako', home: '/srv/parako/.pm2'};
    expect(provider.supervisor!.commands(settings, install).stop).toBe('runuser -u parako -- env PM2_HOME=/srv/parako/.pm2 pm2 stop parako-id');
    expect(provider.supervisor!.commands({...settings, home: undefined}, install).start).toBe('runuser -u parako -- pm2 start parako-id');
  });

  it('quotes an app name or a home the shell would split or expand', () => {
    const odd: Pm2Settings = {type: 'pm2', apps: ['my app', "it's", '$(reboot)'], home: '/srv/pm2 home'};
    expect(provider.supervisor!.commands(odd, install).restart).toBe(`env PM2_HOME='/srv/pm2 home' pm2 restart 'my app' 'it'\\''s' '$(reboot)'`);
  });
});
