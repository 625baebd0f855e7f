// Writing the files init owns: only when the content changed (a second `init` must change nothing,
// not even an mtime), atomically (temp file + rename in the same directory) so a reader never sees
// half a file.
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { MeterError, errorMessage } from '../core/errors.js';

/** The file's text, or null when it does not exist or cannot be read. */
export function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

export type WriteOutcome = 'created' | 'updated' | 'unchanged';

/** Writes `text` to `path` unless it already holds exactly that. Throws MeterError('io'). */
export function writeTextIfChanged(path: string, text: string, mode = 0o644): WriteOutcome {
  const old = readText(path);
  if (old === text) return 'unchanged';
  writeTextAtomic(path, text, mode);
  return old === null ? 'created' : 'updated';
}

export function writeTextAtomic(path: string, text: string, mode = 0o644): void {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    writeFileSync(tmp, text, { mode });
    // writeFileSync's mode is filtered by the umask; the file must end up exactly as asked.
    chmodSync(tmp, mode);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new MeterError('io', `cannot write ${path}: ${errorMessage(e)}`, `check that ${dir} is a directory you can write to`);
  }
}

/** The permission bits of an existing file, or null. */
export function fileMode(path: string): number | null {
  try {
    return statSync(path).mode & 0o777;
  } catch {
    return null;
  }
}

/** Removes a file; returns whether it was there. */
export function removeFile(path: string): boolean {
  try {
    rmSync(path);
    return true;
  } catch {
    return false;
  }
}
