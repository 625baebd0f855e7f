// ~/.halton-meter/ca-bundle.pem: the system roots plus the meter's CA, named by SSL_CERT_FILE,
// REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, GIT_SSL_CAINFO and AWS_CA_BUNDLE. Those variables replace the
// default store, so a missing bundle (or one without the meter's CA) breaks every such client.
import { renderCaBundle, systemRootsPem } from '../../service/ca-bundle.js';
import { readText } from '../../service/files.js';
import { tilde } from '../steps.js';
import { initFix } from './facts.js';
import { fail, ok, warn, type Check } from './types.js';

export const caBundleCheck: Check = {
  id: 'ca-bundle',
  title: 'CA bundle',
  run(f) {
    const { paths } = f.ctx.config;
    const where = tilde(paths.caBundle, paths.home);
    if (!f.trusted) return warn(`${where} not checked: no CA certificate (see CA)`, null);
    const text = readText(paths.caBundle);
    const users = 'SSL_CERT_FILE, REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE name it';
    if (text === null) return fail(`${where} is missing: ${users}, so Python, curl and git clients cannot verify anything`, initFix(f));
    if (!text.includes(f.trusted.pem.trim())) return fail(`${where} does not hold the meter's CA: clients using it (${users}) cannot verify the meter`, initFix(f));
    if (text !== renderCaBundle(systemRootsPem(), f.trusted.pem)) {
      return warn(`${where} holds the meter's CA, but the system roots changed since init wrote it`, initFix(f));
    }
    return ok(`${where}: the system roots and the meter's CA`);
  },
};
