import type { ConnectionQuality, Switchyard } from '@switchyard/client';

const TEXT: Record<ConnectionQuality, string> = {
  EXCELLENT: 'Excellent connection',
  GOOD: 'Good connection',
  POOR: 'Poor connection',
  LOST: 'No media getting through',
  UNKNOWN: '',
};
const FIRST_LEVEL_POLL_MS = 2000;

/**
 * Shows this participant's connection quality as Switchyard judges it
 * (docs/call-quality.md). `qualitychange` tells of every change after the
 * first level a session reaches, not of that first one, so the level is read
 * (`sfu.quality()`) until media has given it one; from then on the events
 * keep it current. Returns a function that stops.
 */
export function showQuality(sfu: Switchyard, element: HTMLElement): () => void {
  let known = false;
  const show = (quality: ConnectionQuality) => {
    element.dataset.quality = quality;
    element.textContent = TEXT[quality];
    element.hidden = quality === 'UNKNOWN';
  };
  const stopEvents = sfu.on('qualitychange', ({ quality }) => {
    known = true;
    show(quality);
  });
  const read = () => {
    if (known) return clearInterval(timer);
    void sfu.quality().then(
      (quality) => {
        if (known) return;
        show(quality);
        known = quality !== 'UNKNOWN';
      },
      () => undefined,
    );
  };
  const timer = setInterval(read, FIRST_LEVEL_POLL_MS);
  read();
  return () => {
    clearInterval(timer);
    stopEvents();
    element.hidden = true;
  };
}
