/**
 * What the systemd plugin tells parako besides its hook: which `supervisor` sections it
 * accepts (and how a mistake is named), the dry run's restart lines, and the commands an
 * operator pastes to stop and start the units.
 */
import {describe, expect, it} from 'vitest';

import {validateSettings} from 'parako';

import provider from '../src/provides.js';
import type {SystemdSettings} from '../src/settings.js';

const install = {app: 'parako-id', dir: '/opt/parako-id'};

/** The problems parako reports for a section, as the operator reads them. */
const problems = async (section: unknown): Promise<string[]> => (await validateSettings(provider.settings!, section)).problems;

describe('the supervisor section', () => {
  it('accepts the examples of docs/supervisors/systemd.md', async () => {
    expect(await problems({type: 'systemd', units: ['parako-id']})).toEqual([]);
    expect(await problems({type: 'systemd', units: ['parako-id'], settleSeconds: 15})).toEqual([]);
  });

  it('names the key at fault', async () => {
    expect(await problems({type: 'systemd', units: []})).toEqual(['supervisor.units: Too small: expected array to have >=1 items']);
    expect(await problems({type: 'systemd', units: ['parako-id', '']})).toEqual(['supervisor.units.1: Too small: expected string to have >=1 characters']);
    expect(await problems({type: 'systemd', units: ['parako-id.socket']})).toEqual([
      'supervisor.units.0: name the service, not its socket (parako-id, not parako-id.socket): parako restarts these units, and restarting a socket closes it',
    ]);
    expect(await problems({type: 'systemd', units: ['parako-id'], settleSeconds: 601})).toEqual(['supervisor.settleSeconds: Too big: expected number to be <=600']);
    expect(await problems({type: 'systemd', unit: 'parako-id'})).toEqual(['supervisor.units: Invalid input: expected array, received undefined', 'supervisor: unknown key "unit"']);
  });

  it('gives editors a JSON Schema of the section', () => {
    expect(provider.settings!.jsonSchema).toMatchObject({type: 'object', required: ['type', 'units'], additionalProperties: false});
  });
});

describe('what the plugin says about the units', () => {
  const settings: SystemdSettings = {type: 'systemd', units: ['parako-id', 'parako-id-worker.service']};

  it('lists each unit for the dry run, as the plan printed them before plugins said it', () => {
    expect(provider.supervisor!.describe(settings, install)).toEqual(['systemd unit parako-id', 'systemd unit parako-id-worker.service']);
  });

  it('gives systemctl lines to stop, start and restart every unit', () => {
    expect(provider.supervisor!.commands(settings, install)).toEqual({
      stop: 'systemctl stop parako-id parako-id-worker.service',
      start: 'systemctl start parako-id parako-id-worker.service',
      restart: 'systemctl restart parako-id parako-id-worker.service',
    });
  });

  it('quotes a unit name the shell would split or expand', () => {
    const odd: SystemdSettings = {type: 'systemd', units: ['my app', "it's", 'app@$HOME']};
    expect(provider.supervisor!.commands(odd, install).stop).toBe(`systemctl stop 'my app' 'it'\\''s' 'app@$HOME'`);
  });
});
