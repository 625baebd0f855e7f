// The config layer's public surface. Dependency-free (Node built-ins and core/ only), so the edge
// process can import it.
export * from './types.js';
export { resolvePaths, type PathOverrides } from './paths.js';
export {
  loadConfig,
  ENV_VARS,
  LOG_LEVELS,
  type ConfigEnv,
  type ConfigFlags,
  type LoadOptions,
  type LoadedConfig,
} from './load.js';
export {
  readEffectivePorts,
  writeEffectivePorts,
  updateEffectivePorts,
  inspectEffectivePorts,
  mergeEffective,
  type EffectivePorts,
  type EffectivePortsState,
  type EffectivePortsPatch,
  type EffectivePortKey,
} from './effective-ports.js';
export { parseToml, TomlError, type TomlTable, type TomlValue } from './toml.js';
