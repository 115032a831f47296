/**
 * What the compose plugin tells parako besides its hook: which `supervisor` sections it
 * accepts (and how a mistake is named), the dry run's restart lines, and the commands an
 * operator pastes to stop and start the services.
 */
import {describe, expect, it} from 'vitest';

import {validateSettings} from 'parako';

import provider from '../src/provides.js';
import type {ComposeSettings} from '../src/settings.js';

const install = {app: 'parako-id', dir: '/opt/parako-id'};

/** The problems parako reports for a section, as the operator reads them. */
const problems = async (section: unknown): Promise<string[]> => (await validateSettings(provider.settings!, section)).problems;

describe('the supervisor section', () => {
  it('accepts the examples of docs/supervisors/compose.md', async () => {
    expect(await problems({type: 'compose', file: 'runtime/compose.yaml', services: ['parako-id']})).toEqual([]);
    expect(await problems({type: 'compose', file: 'current/compose.yaml', services: ['web', 'worker'], mode: 'up', settleSeconds: 10})).toEqual([]);
  });

  it('names the key at fault', async () => {
    expect(await problems({type: 'compose', services: ['web']})).toEqual(['supervisor.file: Invalid input: expected string, received undefined']);
    expect(await problems({type: 'compose', file: 'compose.yaml', services: []})).toEqual(['supervisor.services: Too small: expected array to have >=1 items']);
    expect(await problems({type: 'compose', file: 'compose.yaml', services: ['web'], mode: 'recreate'})).toEqual(['supervisor.mode: Invalid option: expected one of "restart"|"up"']);
    expect(await problems({type: 'compose', file: 'compose.yaml', services: ['web'], project: 'x'})).toEqual(['supervisor: unknown key "project"']);
  });

  it('gives editors a JSON Schema of the section', () => {
    expect(provider.settings!.jsonSchema).toMatchObject({type: 'object', required: ['type', 'file', 'services'], additionalProperties: false});
  });
});

describe('what the plugin says about the services', () => {
  const settings: ComposeSettings = {type: 'compose', file: 'runtime/compose.yaml', services: ['web', 'worker']};

  it('lists each service for the dry run, as the plan printed them before plugins said it', () => {
    expect(provider.supervisor!.describe(settings, install)).toEqual(['compose service web', 'compose service worker']);
  });

  it('gives docker compose lines for the project the hook restarts: the file from the install dir, its folder as project directory', () => {
    const project = '-f /opt/parako-id/runtime/compose.yaml --project-directory /opt/parako-id/runtime';
    expect(provider.supervisor!.commands(settings, install)).toEqual({
      stop: `docker compose ${project} stop web worker`,
      start: `docker compose ${project} start web worker`,
      restart: `docker compose ${project} restart web worker`,
    });
  });

  it('keeps an absolute file as it is', () => {
    expect(provider.supervisor!.commands({...settings, file: '/srv/stack/compose.yaml'}, install).stop).toBe(
      'docker compose -f /srv/stack/compose.yaml --project-directory /srv/stack stop web worker',
    );
  });

  it('quotes a path or a service name the shell would split or expand', () => {
    const odd: ComposeSettings = {type: 'compose', file: "it's here/compose.yaml", services: ['my web', '$(reboot)']};
    expect(provider.supervisor!.commands(odd, {app: 'parako-id', dir: '/opt/parako id'}).stop).toBe(
      `docker compose -f '/opt/parako id/it'\\''s here/compose.yaml' --project-directory '/opt/parako id/it'\\''s here' stop 'my web' '$(reboot)'`,
    );
  });
});
