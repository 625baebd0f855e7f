// Every doctor check, in the order they are printed: from the configuration through the files and
// the processes to the self-test. Adding a check is one file here and one line in CHECKS.
import { errorMessage } from '../../core/errors.js';
import { caBundleCheck } from './ca-bundle.js';
import { caCheck } from './ca.js';
import { certifiCheck } from './certifi.js';
import { configCheck } from './config.js';
import { daemonCheck } from './daemon.js';
import { databaseCheck } from './database.js';
import { edgeCheck } from './edge.js';
import { envFilesCheck } from './env-files.js';
import type { Facts } from './facts.js';
import { installModeCheck } from './install-mode.js';
import { lingerCheck } from './linger.js';
import { portsCheck } from './ports.js';
import { selftestCheck } from './selftest.js';
import type { Check, CheckOutcome, CheckResult } from './types.js';
import { unitsCheck } from './units.js';

export const CHECKS: readonly Check[] = [
  configCheck,
  installModeCheck,
  caCheck,
  caBundleCheck,
  envFilesCheck,
  certifiCheck,
  portsCheck,
  edgeCheck,
  daemonCheck,
  unitsCheck,
  lingerCheck,
  databaseCheck,
  selftestCheck,
];

async function runOne(check: Check, facts: Facts): Promise<CheckResult | null> {
  let out: CheckOutcome | null;
  try {
    out = await check.run(facts);
  } catch (e) {
    // A check that cannot look is not evidence that the layer is broken.
    out = { status: 'warn', detail: `could not check: ${errorMessage(e)}`, fix: null };
  }
  return out && { id: check.id, title: check.title, ...out };
}

/**
 * Runs the checks. All but the self-test run at once (they only read); the self-test runs last, so
 * the rows it writes are not in the database check's count.
 */
export async function runChecks(facts: Facts, checks: readonly Check[] = CHECKS): Promise<CheckResult[]> {
  const last = checks.filter((c) => c.id === selftestCheck.id);
  const first = await Promise.all(checks.filter((c) => c.id !== selftestCheck.id).map((c) => runOne(c, facts)));
  const rest = [];
  for (const c of last) rest.push(await runOne(c, facts));
  return [...first, ...rest].filter((r): r is CheckResult => r !== null);
}
