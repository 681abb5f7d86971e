import { costLimitPlugin } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesPlugin } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthPlugin } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesPlugin } from '@escape.tech/graphql-armor-max-directives';
import { maxTokensPlugin } from '@escape.tech/graphql-armor-max-tokens';

/**
 * Limits on the shape of GraphQL documents (GraphQL Armor), so that one
 * request cannot make the server parse or execute without bound. The limits
 * leave room for every operation in the docs; their errors carry
 * LIMIT_EXCEEDED (see errors.ts).
 */
export const DOCUMENT_LIMITS = {
  tokens: 2_000,
  depth: 10,
  aliases: 15,
  directives: 20,
  cost: 5_000,
} as const;

/** How GraphQL Armor words its rejections ("... limit of 15 exceeded, found 20."). */
const LIMIT_PATTERN = /\blimit of \d+ exceeded\b/i;

export const isLimitError = (message: string) => LIMIT_PATTERN.test(message);

export function armorPlugins() {
  return [
    maxTokensPlugin({ n: DOCUMENT_LIMITS.tokens, exposeLimits: true }),
    maxDepthPlugin({ n: DOCUMENT_LIMITS.depth, flattenFragments: true, exposeLimits: true }),
    maxAliasesPlugin({ n: DOCUMENT_LIMITS.aliases, exposeLimits: true }),
    maxDirectivesPlugin({ n: DOCUMENT_LIMITS.directives, exposeLimits: true }),
    costLimitPlugin({ maxCost: DOCUMENT_LIMITS.cost, exposeLimits: true }),
  ];
}
