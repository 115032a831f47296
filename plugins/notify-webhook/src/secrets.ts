/**
 * The webhook URL and Matrix's access token, from parako.json (where `${VAR}` already brought
 * them in from the environment) or from a file only root can read, like ssh's private keys.
 */
import {open} from 'node:fs/promises';

import type {Secrets} from './message.js';
import type {NotifySettings} from './provides.js';

export async function readSecrets(settings: NotifySettings): Promise<Secrets> {
  const url = settings.url ?? (await urlFrom(settings.urlFile!));
  if (settings.format !== 'matrix') return {url};
  return {url, accessToken: settings.accessToken ?? (await readSecretFile(settings.accessTokenFile!, 'accessTokenFile'))};
}

/** parako.json's url was checked at start-up; a file's is checked here, and the message must not repeat it. */
async function urlFrom(path: string): Promise<string> {
  const url = await readSecretFile(path, 'urlFile');
  if (!/^https?:\/\//i.test(url) || !URL.canParse(url)) throw new Error(`urlFile ${path}: its first line is not an http:// or https:// URL`);
  return url;
}

/** The first line of a regular file that no user but its owner can read. */
export async function readSecretFile(path: string, key: string): Promise<string> {
  let file;
  try {
    file = await open(path, 'r');
  } catch (error) {
    throw new Error(`${key} ${path} cannot be read: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  try {
    const stat = await file.stat();
    if (!stat.isFile()) throw new Error(`${key} ${path} is not a regular file`);
    if ((stat.mode & 0o077) !== 0) {
      throw new Error(`${key} ${path} can be read by other users (mode ${(stat.mode & 0o777).toString(8).padStart(4, '0')}): chmod 600 ${path}`);
    }
    const line = (await file.readFile('utf8')).split('\n')[0]!.trim();
    if (line === '') throw new Error(`${key} ${path} is empty`);
    return line;
  } finally {
    await file.close();
  }
}
