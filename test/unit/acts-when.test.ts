import {describe, expect, it} from 'vitest';

import {actsWhen, describeVerdict} from '../../src/hooks/acts-when.js';

const pm2Host = {app: 'demo-app', supervisor: {type: 'pm2', apps: ['web']}, keepReleases: 3};

describe('actsWhen', () => {
  it('a plugin whose condition matches parako.json acts', () => {
    const verdict = actsWhen({'supervisor.type': 'pm2'}, pm2Host);
    expect(verdict).toEqual({acts: true, everyRun: false, why: 'supervisor.type is "pm2" in parako.json'});
    expect(describeVerdict(verdict)).toBe('acts: supervisor.type is "pm2" in parako.json');
  });

  it('a plugin whose condition names another value is idle, saying what parako.json has and what it needs', () => {
    const verdict = actsWhen({'supervisor.type': 'systemd'}, pm2Host);
    expect(verdict).toEqual({acts: false, why: 'supervisor.type is "pm2" in parako.json, this plugin acts when it is "systemd"'});
    expect(describeVerdict(verdict)).toBe('idle: supervisor.type is "pm2" in parako.json, this plugin acts when it is "systemd"');
  });

  it('a plugin whose key parako.json does not set is idle, naming the key', () => {
    expect(actsWhen({'backup.type': 'postgres'}, pm2Host)).toEqual({
      acts: false,
      why: 'parako.json sets no backup.type, this plugin acts when it is "postgres"',
    });
  });

  it('every condition must match', () => {
    const verdict = actsWhen({'supervisor.type': 'pm2', 'backup.type': 'sqlite'}, pm2Host);
    expect(verdict).toMatchObject({acts: false, why: 'parako.json sets no backup.type, this plugin acts when it is "sqlite"'});
    expect(actsWhen({'supervisor.type': 'pm2', app: 'demo-app'}, pm2Host)).toMatchObject({acts: true});
  });

  it('a value that is not a string never matches, and a path does not reach into prototypes', () => {
    expect(actsWhen({keepReleases: '3'}, pm2Host)).toEqual({acts: false, why: 'keepReleases is 3 in parako.json, this plugin acts when it is "3"'});
    expect(actsWhen({supervisor: 'pm2'}, pm2Host)).toMatchObject({acts: false, why: 'supervisor is an object in parako.json, this plugin acts when it is "pm2"'});
    expect(actsWhen({'app.constructor.name': 'String'}, pm2Host)).toMatchObject({acts: false, why: expect.stringContaining('sets no app.constructor.name')});
  });

  it('true means "is set": a plugin acts when the host gives it a section of its own, and says which', () => {
    const key = 'plugins.@parako/plugin-notify-webhook';
    const withSection = {...pm2Host, plugins: {'@parako/plugin-notify-webhook': {url: 'https://hooks.example.com/x'}}};
    const acting = actsWhen({[key]: true}, withSection);
    expect(acting).toEqual({acts: true, everyRun: false, why: 'plugins.@parako/plugin-notify-webhook is set in parako.json'});
    expect(describeVerdict(acting)).toBe('acts: plugins.@parako/plugin-notify-webhook is set in parako.json');
    for (const host of [pm2Host, {...pm2Host, plugins: {}}, {...pm2Host, plugins: {'@parako/plugin-notify-webhook': null}}, {...pm2Host, plugins: {'parako-plugin-other': {}}}]) {
      const idle = actsWhen({[key]: true}, host);
      expect(idle, JSON.stringify(host)).toEqual({acts: false, why: 'parako.json sets no plugins.@parako/plugin-notify-webhook'});
      expect(describeVerdict(idle)).toBe('idle: parako.json sets no plugins.@parako/plugin-notify-webhook');
    }
    // Any value counts as set, an empty section too: the plugin's schema judges what is in it.
    expect(actsWhen({[key]: true}, {plugins: {'@parako/plugin-notify-webhook': {}}})).toMatchObject({acts: true});
    expect(actsWhen({'supervisor.type': 'pm2', [key]: true}, withSection)).toMatchObject({
      acts: true,
      why: 'supervisor.type is "pm2", plugins.@parako/plugin-notify-webhook is set in parako.json',
    });
  });

  it('a package name with a dot in it is reached as one key under plugins', () => {
    const host = {plugins: {'parako-plugin-chat.v2': {room: 'ops'}}};
    expect(actsWhen({'plugins.parako-plugin-chat.v2': true}, host)).toMatchObject({acts: true});
    expect(actsWhen({'plugins.parako-plugin-chat.v2.room': 'ops'}, host)).toMatchObject({acts: true});
    expect(actsWhen({'plugins.parako-plugin-chat': true}, host)).toMatchObject({acts: false, why: 'parako.json sets no plugins.parako-plugin-chat'});
  });

  it('without a parako.json every plugin that declares a condition is idle', () => {
    expect(actsWhen({'supervisor.type': 'pm2'}, null)).toEqual({acts: false, why: 'no parako.json'});
    expect(actsWhen({'plugins.@parako/plugin-notify-webhook': true}, null)).toEqual({acts: false, why: 'no parako.json'});
  });

  it('a plugin that declares no condition acts on every run, with or without a parako.json', () => {
    for (const config of [pm2Host, null]) {
      const verdict = actsWhen(undefined, config);
      expect(verdict).toMatchObject({acts: true, everyRun: true});
      expect(describeVerdict(verdict)).toBe('acts on every run: declares no condition');
    }
    expect(actsWhen({}, pm2Host)).toMatchObject({acts: true, everyRun: true});
  });

  it('a malformed declaration is a problem of that plugin, not a crash', () => {
    for (const declaration of ['pm2', ['supervisor.type'], null, 42, {'supervisor.type': ['pm2', 'systemd']}, {'supervisor.type': 2}, {'': 'pm2'}, {'plugins.x': false}, {'': true}]) {
      const verdict = actsWhen(declaration, pm2Host);
      expect(verdict, JSON.stringify(declaration)).toMatchObject({acts: false, problem: true});
      expect(describeVerdict(verdict)).toMatch(/^PROBLEM: its package.json has parako.actsWhen .*, which is not a map of parako.json paths to strings or true/);
    }
  });
});
