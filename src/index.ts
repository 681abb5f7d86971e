export { startSwitchyard, type Switchyard } from './app.js';
export { loadConfig, type Config } from './config/config.js';
export { ErrorCode, SwitchyardError } from './errors.js';
