import { randomBytes } from 'node:crypto';
import { copyFile, constants, mkdir, open, rename, rm, stat, unlink } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { RecordingStore } from './RecordingStore.js';

/**
 * A directory of this node (RECORDINGS_DIR): a finished recording is moved
 * there under its key. A rename when the recording was written on the same
 * filesystem (nothing copied, atomic); across filesystems (EXDEV: a tmpfs
 * scratch directory, another disk), a copy to a hidden temporary name, flushed,
 * then renamed into place, so that a crash never leaves a half-copied file
 * under the final name.
 */
export class LocalStore implements RecordingStore {
  readonly kind = 'local' as const;
  /** The directory, absolute. */
  readonly dir: string;

  constructor(dir: string) {
    if (!dir) throw new Error('LocalStore: a directory is needed');
    this.dir = resolve(dir);
  }

  /** The absolute path a key is kept at; throws for keys that would leave the directory. */
  pathOf(key: string): string {
    // Keys come from our own code (tenant/date/id), but a tenant name or an id
    // with '..' in it must never write outside the directory.
    if (!key || key.includes('\0') || key.includes('\\') || isAbsolute(key)) throw refused(key);
    if (key.split('/').some((part) => part === '..' || part === '.' || part === '')) throw refused(key);
    const path = join(this.dir, key);
    const rel = relative(this.dir, path);
    if (!rel || rel.startsWith(`..${sep}`) || rel === '..' || isAbsolute(rel)) throw refused(key);
    return path;
  }

  async save(localPath: string, key: string, _contentType: string): Promise<{ location: string; size: number }> {
    const target = this.pathOf(key);
    const source = resolve(localPath);
    if (source === target) return { location: target, size: (await stat(target)).size };
    await mkdir(dirname(target), { recursive: true });
    try {
      await rename(source, target);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
      await copyAcross(source, target);
      await unlink(source);
    }
    await syncDir(dirname(target));
    return { location: target, size: (await stat(target)).size };
  }
}

/** Copy to a temporary name beside the target, flush it to disk, rename it into place. */
async function copyAcross(source: string, target: string): Promise<void> {
  const temporary = join(dirname(target), `.${randomBytes(6).toString('hex')}.partial`);
  try {
    await copyFile(source, temporary, constants.COPYFILE_FICLONE);
    const handle = await open(temporary, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, target);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

/** Makes the new directory entry durable (best effort: not every filesystem lets a directory be opened and synced). */
async function syncDir(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // a rename that is not yet durable is still a rename
  }
}

function refused(key: string): Error {
  return new Error(`LocalStore: refusing key ${JSON.stringify(key)}: keys are relative paths inside the recordings directory, without '.', '..' or empty segments`);
}
