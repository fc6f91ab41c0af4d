// ESM entry point: `import { Sandbox, PycageError } from 'pycage'`. The
// implementation is CommonJS; this re-exports it so both module systems share
// one copy of the classes (instanceof PycageError holds across them).
import pycage from './index.js';

export const { Sandbox, PycageError } = pycage;
export default pycage;
