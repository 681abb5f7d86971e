const params = new URLSearchParams(location.search);

/**
 * Where Switchyard runs: `?sfu=` in the page's address (so one build can be
 * pointed at any node; the end-to-end test does), else VITE_SWITCHYARD_URL
 * at build time, else the address `npm start` listens on.
 */
export const SFU_URL: string = (params.get('sfu') ?? import.meta.env.VITE_SWITCHYARD_URL ?? 'http://127.0.0.1:4000').replace(/\/$/, '');

/**
 * How the page gets a client token for a production node (one with APPS
 * configured): for example `() => fetch('/api/switchyard-token').then((r) => r.text())`,
 * from your backend, which mints short-lived ones (mintClientToken; `npm run token`).
 * A development node needs none: undefined. Apollo's HTTP and WebSocket
 * links and the SDK all call it, so a refreshed token is used on the next
 * request and reconnection.
 */
export const getToken: (() => Promise<string>) | undefined = undefined;
