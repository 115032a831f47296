/**
 * Text from outside parako reaches root's terminal escaped, never obeyed: the unsigned
 * index, release.json, a migration's output and a plugin's words. An index whose `app` clears
 * the screen, prints a fake "updated" line and hides the rest must show up as visible
 * `\x1b[2J…`, cut short, on stdout, stderr and in --json alike (docs/operations.md).
 */
import {writeFile} from 'node:fs/promises';
import {join} from 'node:path';

import {describe, expect, it} from 'vitest';

import type {CliResult} from '../fixtures/cli.js';
import {makeRecordingPlugin} from '../fixtures/plugin.js';
import type {SignedWorld} from '../fixtures/signed-world.js';
import {currentTarget, expectExit, jsonOf, parako, useInstalledWorlds} from './helpers.js';

const worlds = useInstalledWorlds();
let world: SignedWorld;

/** Clear the screen, home the cursor, fake success, conceal what follows (SGR 8), and a CSI spelled as the C1 control. */
const FAKE_SUCCESS = '\x1b[2J\x1b[Hupdated v1.0.0 -> v1.0.1\n\x1b[8m\u009b8m\r';
/** How it must look instead: every control written out, the data's newline too where it sits inside a line. */
const FAKE_SUCCESS_SHOWN = '\\x1b[2J\\x1b[Hupdated v1.0.0 -> v1.0.1\\x0a\\x1b[8m\\x9b8m\\x0d';

/**
 * What a terminal would obey: C0 controls but tab and newline (ESC and CR among them), DEL, C1
 * controls, bidi overrides and isolates, zero-width characters. A C1 control arrives as its
 * UTF-8 encoding (0xC2 0x9B for CSI), which decodes back to U+009B here.
 */
const OBEYED = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/;

function expectNothingObeyed(result: CliResult): void {
  for (const [name, text] of [['stdout', result.stdout], ['stderr', result.stderr]] as const) {
    const found = OBEYED.exec(text);
    const where = found === null ? null : `U+${found[0].codePointAt(0)!.toString(16).padStart(4, '0')} in ${JSON.stringify(text.slice(Math.max(0, found.index - 40), found.index + 40))}`;
    expect(where, `${name} carries a control character`).toBeNull();
    expect(text, `${name} shows a line the data made up`).not.toMatch(/^updated v1\.0\.0 -> v1\.0\.1/m);
  }
}

describe('an index from a hostile feed', () => {
  it('an app field with escapes and 10 KB of junk is quoted escaped and cut short, on the terminal and in --json', async () => {
    world = await worlds.installed();
    await world.publish({version: '1.0.1'});
    await world.feed.setIndex({...world.feed.generatedIndex(), app: FAKE_SUCCESS + 'j'.repeat(10_000)});

    const result = await parako(world, ['update']);
    expectExit(result, 3);
    expectNothingObeyed(result);
    expect(result.stderr).toContain(`is for app "${FAKE_SUCCESS_SHOWN}jjj`);
    const line = result.stderr.split('\n').find((l) => l.startsWith('parako: '))!;
    expect(line, 'the app field is cut after 200 printed characters').toMatch(/j…", but this host runs "demo-app"$/);
    expect(line.length).toBeLessThan(400);

    const json = await parako(world, ['update', '--json']);
    expectExit(json, 3);
    expectNothingObeyed(json);
    expect(String(jsonOf(json).message)).toContain(`is for app "${FAKE_SUCCESS_SHOWN}jjj`);
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
  });

  it('an index that is not JSON is quoted escaped where parako shows how it starts', async () => {
    world = await worlds.installed();
    world.feed.faults.contentOverride = {suffix: 'index.json', body: `${FAKE_SUCCESS}\x1b]0;root@prod\x07<html>${'x'.repeat(1000)}`};
    const result = await parako(world, ['update']);
    expectExit(result, 3);
    expectNothingObeyed(result);
    // Whitespace in the quote is folded to a space, as for an HTML page.
    expect(result.stderr).toContain('is not JSON (it starts with "\\x1b[2J\\x1b[Hupdated v1.0.0 -> v1.0.1 \\x1b[8m\\x9b8m');
    expect(result.stderr).toMatch(/…"\)$/m);
  });
});

describe('a signed release that carries escapes', () => {
  it('notes, breaking changes and the migration command are shown escaped by --dry-run and at the breaking-changes prompt', async () => {
    world = await worlds.installed();
    await world.publish({
      version: '1.1.0',
      notes: `Faster tokens${FAKE_SUCCESS}`,
      breaking: [`the /v1/tokens endpoint is removed\x1b[8m`, `evil\u202egpj.exe`],
      migration: {command: `true # \x1b[2Jmigrated`},
    });

    const plan = await parako(world, ['update', '--dry-run']);
    expectExit(plan, 0);
    expectNothingObeyed(plan);
    expect(plan.stdout).toContain('Faster tokens\\x1b[2J\\x1b[Hupdated v1.0.0 -> v1.0.1');
    expect(plan.stdout).toContain('the /v1/tokens endpoint is removed\\x1b[8m');
    expect(plan.stdout).toContain('evil\\u202egpj.exe');
    expect(plan.stdout).toContain('true # \\x1b[2Jmigrated');

    const prompt = await parako(world, ['update']);
    expectExit(prompt, 5);
    expectNothingObeyed(prompt);
    expect(prompt.stdout).toContain('  - the /v1/tokens endpoint is removed\\x1b[8m');
    expect(prompt.stdout).toContain('  - evil\\u202egpj.exe');
  });

  it("a migration's output lines are shown escaped", async () => {
    world = await worlds.installed();
    // printf makes the escapes at run time: the command itself is plain text.
    await world.publish({version: '1.1.0', migration: {command: "printf 'step 1\\033[2J\\033[Hupdated v1.0.0 -> v1.0.1\\r\\033[8mhidden\\n'"}});
    const result = await parako(world, ['update', '--migrate']);
    expectExit(result, 0);
    expectNothingObeyed(result);
    expect(result.stdout).toContain('  | step 1\\x1b[2J\\x1b[Hupdated v1.0.0 -> v1.0.1\\x0d\\x1b[8mhidden');
  });
});

describe('a plugin that says or vetoes with escapes', () => {
  it('a veto message is shown escaped, on stderr and in --json', async () => {
    world = await worlds.installed();
    await world.publish({version: '1.1.0'});
    const plugin = await makeRecordingPlugin(world.root, 'parako-plugin-window', {'pre-swap': {veto: `closed${FAKE_SUCCESS}!`}});

    const result = await parako(world, ['update'], {env: plugin.env});
    expectExit(result, 6);
    expectNothingObeyed(result);
    // A message may span lines, so the veto's own newline stays; what it hid is visible.
    expect(result.stderr).toContain('vetoed: closed\\x1b[2J\\x1b[Hupdated v1.0.0 -> v1.0.1\n\\x1b[8m\\x9b8m\\x0d!');

    const json = await parako(world, ['update', '--json'], {env: plugin.env});
    expectExit(json, 6);
    expectNothingObeyed(json);
    expect(String(jsonOf(json).message)).toContain(`vetoed: closed${FAKE_SUCCESS}!`);
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
  });

  it('ctx.say is shown escaped', async () => {
    world = await worlds.installed();
    await world.publish({version: '1.1.0'});
    const plugin = await makeRecordingPlugin(world.root, 'parako-plugin-chatty');
    await writeFile(
      join(plugin.root, 'hooks', 'post-verify.js'),
      `export default async function ({ctx}) { ctx.say(${JSON.stringify(`checked${FAKE_SUCCESS}`)}); }\n`,
    );
    const result = await parako(world, ['update'], {env: plugin.env});
    expectExit(result, 0);
    expectNothingObeyed(result);
    expect(result.stdout).toContain('[parako-plugin-chatty] checked\\x1b[2J\\x1b[Hupdated v1.0.0 -> v1.0.1\n\\x1b[8m\\x9b8m\\x0d');
  });
});
