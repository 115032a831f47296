/** pre-swap: dump the database before anything changes it, or stop the update (src/backup.ts). */
import {backup} from '../backup.js';

export default backup.preSwap;
