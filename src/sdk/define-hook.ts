import type {HookContext, HookPoint, HookResult} from './contract.js';

/** The context a hook at `P` receives: `outcome` is there for notify, `backup` for pre-swap. */
export type HookContextAt<P extends HookPoint> = HookContext & {point: P} & (P extends 'notify' ? {outcome: NonNullable<HookContext['outcome']>} : unknown);

/**
 * A typed hook for one point. The returned function is what the hook module default-exports;
 * a plain JavaScript function of the same shape works the same.
 */
export function defineHook<P extends HookPoint>(
  point: P,
  run: (options: {ctx: HookContextAt<P>}) => Promise<HookResult> | HookResult,
): (options: {ctx: HookContext}) => Promise<HookResult> {
  return async (options) => {
    if (options.ctx.point !== point) {
      throw new Error(`this hook was written for ${point} but is registered under ${options.ctx.point} in oclif.hooks`);
    }
    return run(options as {ctx: HookContextAt<P>});
  };
}
