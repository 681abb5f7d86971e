/// <reference types="vite/client" />

interface ImportMetaEnv {
  /** The Switchyard node the page talks to (default http://127.0.0.1:4000; `?sfu=` overrides). */
  readonly VITE_SWITCHYARD_URL?: string;
}
