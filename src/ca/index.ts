// Public surface of the CA module: the daemon and `init` import from here, never from the files.
export { CA_FILE_NAMES, caPaths, ensureCa, loadCa } from './ca.js';
export type { CaClockOptions, CaPaths, EnsureCaResult, LoadedCa } from './ca.js';
export { LeafCache, normalizeHost } from './leaf-cache.js';
export type { LeafCacheOptions, LeafPem, SniCallback } from './leaf-cache.js';
