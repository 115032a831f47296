/**
 * The error a plugin throws to stop a gating hook point with its own advice. parako reports
 * `message` and, as the operator's next step, `next` (otherwise a generic one: fix what the
 * plugin reports, or remove it). Any other thrown error stops the point the same way.
 */
export class PluginError extends Error {
  readonly next?: string;

  constructor(message: string, options: {next?: string; cause?: unknown} = {}) {
    super(message, options.cause === undefined ? undefined : {cause: options.cause});
    this.name = 'PluginError';
    this.next = options.next;
  }
}
