import type {Hook} from '@oclif/core';
import semver from 'semver';

import {ExitCode} from '../core/errors.js';
import {printResult} from './print-result.js';

/**
 * oclif's `command_not_found` hook: `parako update 1.4.0` reaches here as the command
 * "update:1.4.0". Says what was meant in the operator's words (exit 2, as for any usage
 * error) instead of oclif's "command update:1.4.0 not found".
 */
const hook: Hook.CommandNotFound = async function (options) {
  const [first = '', ...rest] = options.id.split(':');
  const known = options.config.commandIDs.includes(first);
  const extra = rest.join(' ');
  let message: string;
  let next: string;
  if (known && first === 'update' && semver.valid(extra.replace(/^v/, '')) !== null) {
    message = `update takes the version as a flag, not as an argument ("${extra}")`;
    next = `parako update --version ${extra.replace(/^v/, '')}`;
  } else if (known && first === 'rollback' && semver.valid(extra.replace(/^v/, '')) !== null) {
    message = `rollback takes the version as a flag, not as an argument ("${extra}")`;
    next = `parako rollback --to ${extra}`;
  } else if (options.config.commandIDs.some((id) => id.startsWith(`${first}:`))) {
    // A topic such as `plugins`: the second word is a subcommand that does not exist.
    message = `"${first} ${rest[0] ?? ''}" is not a parako command`;
    next = `parako ${first} --help lists its commands`;
  } else if (known) {
    message = `${first} takes no argument "${extra}"`;
    next = `parako ${first} --help shows its flags`;
  } else {
    message = `"${options.id.split(':').join(' ')}" is not a parako command`;
    next = 'parako --help lists the commands';
  }
  printResult({code: ExitCode.usage, outcome: 'failed', message, next, from: null, to: null, reason: 'usage'}, options.argv?.includes('--json') === true);
  process.exitCode = ExitCode.usage;
};

export default hook;
