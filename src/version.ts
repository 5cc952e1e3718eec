/** flowtune's version, from package.json (`tune --version`; a queue worker refuses jobs of another version). */
import { readFileSync } from 'node:fs';

export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
