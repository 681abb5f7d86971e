export { startSwitchyard, type Switchyard } from './app.js';
export { loadConfig, type Config } from './config/config.js';
export { ErrorCode, SwitchyardError } from './errors.js';
export { mintClientToken, verifyClientToken, type MintOptions } from './auth/tokens.js';
export type { ClientGrant, GrantInput } from './auth/grant.js';
