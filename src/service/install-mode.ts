// ~/.halton-meter/install-mode: which supervisor init installed the meter under. `start`, `stop`,
// `restart`, `status`, `doctor` and `uninstall` read it; `init --supervisor auto` keeps it.
import { readText, writeTextIfChanged, type WriteOutcome } from './files.js';

export const INSTALL_MODES = ['systemd', 'process'] as const;
export type InstallMode = (typeof INSTALL_MODES)[number];

/** The recorded mode, null when init has not run (or the file holds something else). */
export function readInstallMode(path: string): InstallMode | null {
  const text = readText(path)?.trim();
  return (INSTALL_MODES as readonly string[]).includes(text ?? '') ? (text as InstallMode) : null;
}

export function writeInstallMode(path: string, mode: InstallMode): WriteOutcome {
  return writeTextIfChanged(path, `${mode}\n`, 0o644);
}
