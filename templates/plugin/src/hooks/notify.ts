/**
 * notify: runs after every update and rollback, also a failed one, with the outcome. This
 * one writes it to parako's log (.parako/parako.log, which keeps `info` lines); replace the
 * body to post it to your chat or pager. A notify failure is logged and never changes
 * parako's exit code.
 */
import {defineHook} from 'parako';

export default defineHook('notify', ({ctx}) => {
  const {outcome, code, message, from, to, durationMs} = ctx.outcome;
  ctx.log.info({operation: ctx.operation, app: ctx.app, outcome, code, from, to, durationMs}, message);
});
