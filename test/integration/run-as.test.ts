/**
 * A program parako runs as another user (here a migration with `migration.runAs`; plugins'
 * `ctx.exec` with `runAs` takes the same path, see test/unit/exec.test.ts) gets nothing of
 * root's that the operator did not name: not root's terminal (a session of its own, so no
 * /dev/tty and no keystrokes pushed into root's shell with TIOCSTI), not root's environment
 * (reset as sudo resets it, plus `migration.env`), not descriptors parako inherited. Through
 * the real CLI, as root, with the system user .ci/run creates.
 */
import {spawn, spawnSync} from 'node:child_process';
import {randomBytes} from 'node:crypto';
import {closeSync, openSync} from 'node:fs';
import {writeFile} from 'node:fs/promises';
import {join} from 'node:path';

import {describe, expect, it} from 'vitest';

import {cleanEnv, repoRoot} from '../fixtures/cli.js';
import type {SignedWorld} from '../fixtures/signed-world.js';
import {TEST_USER, testUserMissing} from '../fixtures/test-user.js';
import {FAST_ENV, currentTarget, expectExit, parako, useInstalledWorlds} from './helpers.js';

const userMissing = testUserMissing();
// script (util-linux) gives parako a terminal; perl (perl-base, always on Debian) calls ioctl.
const toolMissing = ['script', 'perl'].find((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);
const missing = userMissing !== false ? userMissing : toolMissing === undefined ? false : `no ${toolMissing} on PATH`;
if (missing !== false && process.env.CI === 'true') throw new Error(`CI must provide the test user, script and perl: ${missing}`);

const worlds = useInstalledWorlds();

/** v1.0.0 installed with `migration` in parako.json, and v1.1.0, whose migration is `command`, published. */
async function migrating(command: string, migration: Record<string, unknown> = {}): Promise<SignedWorld> {
  const world = await worlds.installed({migration: {runAs: TEST_USER, ...migration}});
  await world.publish({version: '1.1.0', migration: {command}});
  return world;
}

/** The lines the migration printed; parako shows each as "  | line". */
function migrationOutput(stdout: string): string[] {
  return stdout
    .split(/\r?\n/)
    .filter((line) => line.startsWith('  | '))
    .map((line) => line.slice(4));
}

function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** `parako update --migrate` in a terminal of its own (a pty from script), as from root's interactive shell. */
async function updateInTerminal(world: SignedWorld): Promise<{code: number | null; output: string}> {
  const parakoLine = [process.execPath, join(repoRoot, 'bin', 'run.js'), 'update', '--migrate', '--dir', world.dir].map(shellQuote).join(' ');
  const child = spawn('script', ['-qec', `exec ${parakoLine}`, '/dev/null'], {cwd: repoRoot, env: cleanEnv(FAST_ENV), stdio: ['ignore', 'pipe', 'pipe']});
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearTimeout(timer);
  return {code, output};
}

/** Fields 4 and 5 after the command name in /proc/<pid>/stat: session and controlling terminal (0: none). */
const sessionOf = (pid: string): string => `$(sed 's/.*) //' /proc/${pid}/stat | cut -d' ' -f4,5)`;

describe.skipIf(missing !== false)(`a migration run as another user (${TEST_USER})${missing ? ` (skipped: ${missing})` : ''}`, () => {
  it("cannot reach root's terminal: a session of its own, /dev/tty refused, nothing pushed into the terminal's input", async () => {
    const world = await migrating(
      [
        // The migration's shell, and parako (its parent): session and terminal.
        `echo "migration session ${sessionOf('$$')} parako session ${sessionOf('$PPID')}"`,
        `if (exec 3</dev/tty) 2>/dev/null; then echo 'tty opened'; else echo 'tty refused'; fi`,
        // TIOCSTI (0x5412) pushes input into the terminal, which root's shell reads once parako
        // exits. The word is built at run time so that parako's echo of this command has none.
        `perl -e 'my $w = reverse "DETCEJNI"; open(my $t, "+<", "/dev/tty") or die "no tty: $!\\n"; ioctl($t, 0x5412, $_) or die "TIOCSTI: $!\\n" for split //, "echo $w\\n"; print "pushed\\n"' 2>&1 || true`,
      ].join('; '),
    );
    const {code, output} = await updateInTerminal(world);
    expect(code, output).toBe(0);
    const said = migrationOutput(output);
    const sessions = said.find((line) => line.startsWith('migration session '));
    const [, ownSession, ownTty, parakoSession, parakoTty] = /^migration session (\d+) (\d+) parako session (\d+) (\d+)$/.exec(sessions ?? '') ?? [];
    expect(parakoTty, `parako had no terminal, so nothing is shown:\n${output}`).not.toBe('0');
    expect(ownSession, output).not.toBe(parakoSession);
    expect(ownTty, output).toBe('0');
    expect(said).toContain('tty refused');
    expect(said.some((line) => line.startsWith('no tty: '))).toBe(true);
    expect(output).not.toContain('INJECTED');
    expect(await currentTarget(world)).toBe('releases/v1.1.0');
  });

  it("gets none of root's environment but the reset set (PATH, HOME, USER, LOGNAME, SHELL, locale) and migration.env", async () => {
    const world = await migrating('env', {env: {DATABASE_URL: '${PARAKO_TEST_DATABASE_URL}', APP_ENV: 'production'}});
    const result = await parako(world, ['update', '--migrate'], {
      env: {SECRET_X: '1', AWS_SECRET_ACCESS_KEY: 'root-only', PARAKO_TEST_DATABASE_URL: 'postgres:///app', LANG: 'C.UTF-8'},
    });
    expectExit(result, 0);
    const env = Object.fromEntries(migrationOutput(result.stdout).map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
    const locale = Object.keys(cleanEnv()).filter((name) => /^(LANGUAGE|LC_[A-Z_]+|TZ)$/.test(name));
    // PWD: /bin/sh sets it for the command line it runs.
    expect(Object.keys(env).sort()).toEqual(['APP_ENV', 'DATABASE_URL', 'HOME', 'LANG', 'LOGNAME', 'PATH', 'PWD', 'SHELL', 'USER', ...locale].sort());
    expect(env).toMatchObject({DATABASE_URL: 'postgres:///app', APP_ENV: 'production', USER: TEST_USER, LOGNAME: TEST_USER, LANG: 'C.UTF-8'});
    expect(env.PATH).toBe('/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
  });

  it('cannot read a descriptor parako inherited (a file only root may read, open on fd 100 when parako started)', async () => {
    const world = await migrating(
      `perl -e 'open(my $f, "<&=", 100) or die "fd 100: $!\\n"; my $line = <$f>; print "fd 100 -> ", readlink("/proc/self/fd/100"), ": ", defined $line ? $line : "(nothing)\\n"' 2>&1 || true`,
    );
    const secretFile = join(world.root, 'root-only');
    const secret = `root-only-${randomBytes(8).toString('hex')}`;
    await writeFile(secretFile, `${secret}\n`, {mode: 0o600});
    const fd = openSync(secretFile, 'r');
    try {
      // Node puts fd at index 100 of parako's descriptors, without close-on-exec, as a shell's `exec 100<file` would.
      const stdio: Array<'ignore' | 'pipe' | number> = ['ignore', 'pipe', 'pipe', ...Array<'ignore'>(97).fill('ignore'), fd];
      const child = spawn(process.execPath, [join(repoRoot, 'bin', 'run.js'), 'update', '--migrate', '--dir', world.dir], {cwd: repoRoot, env: cleanEnv(FAST_ENV), stdio});
      let stdout = '';
      child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
      child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      expect(code, stdout).toBe(0);
      expect(migrationOutput(stdout)).toContain('fd 100 -> /dev/null: (nothing)');
      expect(stdout).not.toContain(secret);
    } finally {
      closeSync(fd);
    }
  });
});
