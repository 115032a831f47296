import {open, rename} from 'node:fs/promises';
import {dirname} from 'node:path';

/** Durably records a directory's entries (a rename or a new file) so a power loss cannot undo them. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes a small file durably: temp name, fsync, rename, fsync the directory. */
export async function writeFileAtomic(file: string, text: string, mode = 0o644): Promise<void> {
  const temp = `${file}.tmp-${process.pid}`;
  const handle = await open(temp, 'w', mode);
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, file);
  await fsyncDir(dirname(file));
}
