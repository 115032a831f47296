/** post-verify in a dry run: which database would be dumped to which file (src/backup.ts). */
import {backup} from '../backup.js';

export default backup.postVerify;
