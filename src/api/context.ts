import type { SessionService } from '../session/SessionService.js';

/** What every resolver gets. */
export interface ApiContext {
  sessions: SessionService;
}
