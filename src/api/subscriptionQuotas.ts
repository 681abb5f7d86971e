import { GraphQLError, type ExecutionArgs, type ExecutionResult } from 'graphql';
import type { SubscriptionQuotas } from '../auth/SubscriptionQuotas.js';
import { SwitchyardError } from '../errors.js';
import type { ApiContext, ServerContext } from './context.js';

type Subscribe = (args: ExecutionArgs) => Promise<AsyncGenerator<ExecutionResult, void, void> | ExecutionResult> | AsyncGenerator<ExecutionResult, void, void> | ExecutionResult;

/**
 * Counts every subscription against its caller's quotas (auth/SubscriptionQuotas):
 * a yoga plugin, so that graphql-ws operations (websocket.ts runs them through
 * yoga's subscribe) and HTTP (SSE) subscriptions are counted alike, whatever
 * the field. A subscription is counted from before its resolver runs until
 * its stream ends, however it ends: completed, stopped by the client or its
 * socket closing, or failed. A refusal is the subscription's result, with
 * LIMIT_EXCEEDED. Subscriptions that another node forwards here are not
 * counted again: they count on the node their client is connected to.
 */
export function useSubscriptionQuotas(quotas: SubscriptionQuotas) {
  return {
    onSubscribe({ args, subscribeFn, setSubscribeFn }: { args: ExecutionArgs; subscribeFn: Subscribe; setSubscribeFn: (subscribe: Subscribe) => void }) {
      const context = args.contextValue as Partial<ApiContext & ServerContext>;
      const principal = context.guard?.access.principal;
      if (!principal || context.internalConnection) return;
      setSubscribeFn(async (subscribeArgs) => {
        let release: () => void;
        try {
          release = quotas.startSubscription(principal);
        } catch (error) {
          if (!(error instanceof SwitchyardError)) throw error;
          return { errors: [new GraphQLError(error.message, { originalError: error, extensions: { code: error.code } })] };
        }
        try {
          const result = await subscribeFn(subscribeArgs);
          if (!(Symbol.asyncIterator in result)) {
            // The subscription was refused (an error result): it holds nothing.
            release();
            return result;
          }
          return releasing(result, release);
        } catch (error) {
          release();
          throw error;
        }
      });
    },
  };
}

/**
 * The stream as it is, calling `release` once when it ends: done, stopped
 * (return), thrown into, or failed (a rejected next, which for-await loops do
 * not follow with return()).
 */
function releasing<T>(source: AsyncGenerator<T, void, void>, release: () => void): AsyncGenerator<T, void, void> {
  const settle = <R>(result: IteratorResult<T, R>) => {
    if (result.done) release();
    return result;
  };
  const fail = (error: unknown): never => {
    release();
    throw error;
  };
  const stream = {
    next: () => source.next().then(settle, fail),
    return: (value) => {
      release();
      return source.return(value);
    },
    throw: (error) => {
      release();
      return source.throw(error);
    },
    [Symbol.asyncIterator]() {
      return stream;
    },
  } as AsyncGenerator<T, void, void>;
  return stream;
}
