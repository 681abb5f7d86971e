import { EventEmitter } from 'node:events';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AccessPolicy } from '../auth/access.js';
import { ErrorCode, SwitchyardError, badRequest } from '../errors.js';
import { recorderFull } from '../placement/refusals.js';
import type { Logger } from '../logger.js';
import type { TrackRegistry } from '../tracks/TrackRegistry.js';
import type { RecordingConfig } from './config.js';
import { containerFor, type Container } from './containers.js';
import { FfmpegRecorder, type RecorderEnd } from './FfmpegRecorder.js';
import { recordedSources, type RemoteRecordingSources } from './recordedSources.js';
import { finishFile, probeFile } from './finish.js';
import { Recording, type RecordingTarget } from './Recording.js';
import type { RecordingSnapshot } from './sessionNodeMirror.js';
import type { RecordingStore } from './storage/RecordingStore.js';

export interface RecordingRequest {
  readonly sessionId: string;
  /** One track; null for every media track of the session, in one file. */
  readonly trackName: string | null;
  readonly storage: 'local' | 's3' | null;
  /** Simulcast: the spatial layer to record (0 lowest); the top one when null. */
  readonly spatialLayer: number | null;
}

export interface RecordingsOptions {
  config: RecordingConfig;
  tracks: TrackRegistry;
  stores: { local: RecordingStore; s3?: RecordingStore | undefined };
  /** An app's own choice of storage (APPS_FILE recordingStorage), before the node's RECORDINGS_STORAGE. */
  appStorage?: (appId: string) => 'local' | 's3' | undefined;
  /** In a cluster: tracks of other nodes, piped here to be recorded. */
  remote?: RemoteRecordingSources | undefined;
  /** New recording ids, naming this node in a cluster (calls about a recording reach it). */
  newId: () => string;
  logger: Logger;
}

/** What a spool entry records about its recording, so that a node that died mid-recording finishes the file when it starts again. */
interface Manifest {
  id: string;
  appId: string;
  owner: string | null;
  target: RecordingTarget;
  storage: 'local' | 's3';
  extension: string;
  format: Container['format'];
  contentType: string;
  createdAt: string;
}

/** Whether ffmpeg wrote anything past a header: a file of a recording stopped before any media is empty or a bare header. */
async function hasMedia(path: string): Promise<boolean> {
  try {
    return (await stat(path)).size > 1024;
  } catch {
    return false;
  }
}

/** Finished recordings stay readable this long (recording(id)); their files stay where they were stored. */
const FINISHED_KEPT_MS = 24 * 60 * 60 * 1000;

/**
 * The node's recordings: one ffmpeg per recording muxes the tracks as they
 * are (FfmpegRecorder) into a spool file under RECORDINGS_DIR/.spool, with a
 * manifest beside it; when it ends the file is finished (duration and index
 * written), probed, and stored (the directory, or S3). A spool left by a
 * node that died is finished the same way when the node starts again.
 */
export class Recordings extends EventEmitter<{ started: [recording: Recording]; state: [recording: Recording] }> {
  private readonly recordings = new Map<string, Recording>();
  private readonly recorders = new Map<string, FfmpegRecorder>();
  private readonly finishing = new Set<Promise<void>>();
  /** Starts under way, by app: they count against the limits too. */
  private readonly starting = new Map<string, number>();

  constructor(private readonly options: RecordingsOptions) {
    super();
  }

  private get spool(): string {
    return join(this.options.config.dir, '.spool');
  }

  /** Starts recording; answers once ffmpeg listens (STARTING, then RECORDING when media flows). */
  async start(access: AccessPolicy, request: RecordingRequest): Promise<Recording> {
    const p = access.principal;
    if (p.kind === 'client' && !p.grant.record) throw new SwitchyardError(ErrorCode.FORBIDDEN, 'this token may not record (grant.record)');
    const storage = request.storage ?? this.options.appStorage?.(access.appId) ?? this.options.config.defaultStorage;
    const store = storage === 's3' ? this.options.stores.s3 : this.options.stores.local;
    if (!store) throw badRequest('this server has no object storage for recordings (RECORDINGS_S3_BUCKET)');
    this.checkLimits(access.appId);
    const sources = await recordedSources(access, request.sessionId, request.trackName, this.options.tracks, this.options.remote);
    const container = containerFor(sources.map((s) => s.mimeType));
    const target: RecordingTarget = { sessionId: request.sessionId, trackName: request.trackName, trackNames: sources.map((s) => s.name) };
    const recording = new Recording(this.options.newId(), access.appId, access.owner, target, storage);
    recording.format = container.extension;
    const manifest: Manifest = { id: recording.id, appId: recording.appId, owner: recording.owner, target, storage, extension: container.extension, format: container.format, contentType: container.contentType, createdAt: recording.createdAt.toISOString() };
    this.starting.set(access.appId, (this.starting.get(access.appId) ?? 0) + 1);
    let recorder: FfmpegRecorder;
    try {
      await mkdir(this.spool, { recursive: true });
      await writeFile(join(this.spool, `${recording.id}.json`), JSON.stringify(manifest));
      recorder = await FfmpegRecorder.start(sources, this.writtenPath(manifest), { spatialLayer: request.spatialLayer ?? undefined }).catch(
        // Once more on fresh ports: a port another process took between the probe and ffmpeg's bind is not this recording's fault.
        () => FfmpegRecorder.start(sources, this.writtenPath(manifest), { spatialLayer: request.spatialLayer ?? undefined }),
      );
    } catch (error) {
      await rm(join(this.spool, `${recording.id}.json`), { force: true });
      await rm(this.writtenPath(manifest), { force: true });
      this.options.logger.warn({ err: error, recording: recording.id }, 'could not start a recording');
      const missing = (error as { code?: string }).code === 'ENOENT' || /ENOENT|FFMPEG_PATH/.test(String(error));
      throw new SwitchyardError(ErrorCode.UNAVAILABLE, missing ? 'the recorder could not start: ffmpeg is not installed on this node (FFMPEG_PATH)' : 'the recorder could not start; retry', { cause: error });
    } finally {
      const left = (this.starting.get(access.appId) ?? 1) - 1;
      if (left > 0) this.starting.set(access.appId, left);
      else this.starting.delete(access.appId);
    }
    // A track of another node comes through a pipe, which stays while this recording consumes it.
    for (const [i, source] of sources.entries()) if (source.remote) this.options.remote?.tracks.hold(request.sessionId, source.name, recorder.consumers[i]!);
    this.track(recording);
    this.recorders.set(recording.id, recorder);
    this.emit('started', recording);
    // Audio alone flows at once (before this listens); video once its first key frame went out.
    if (recorder.started) recording.set('RECORDING');
    else recorder.once('recording', () => recording.set('RECORDING'));
    recorder.once('ended', (end) => {
      this.recorders.delete(recording.id);
      this.finishLater(recording, manifest, end);
    });
    this.options.logger.info({ recording: recording.id, session: target.sessionId, tracks: target.trackNames, format: container.extension, storage }, 'recording started');
    return recording;
  }

  /** Stops a recording (it finishes and is stored); a finished one is answered as it is. */
  stop(access: AccessPolicy, id: string): Recording | undefined {
    const recording = this.get(access, id);
    if (recording && recording.open) this.recorders.get(id)?.stop();
    return recording;
  }

  get(access: AccessPolicy, id: string): Recording | undefined {
    const recording = this.recordings.get(id);
    return recording && this.visible(access, recording) ? recording : undefined;
  }

  list(access: AccessPolicy, sessionId: string | null): Recording[] {
    return [...this.recordings.values()].filter((r) => this.visible(access, r) && (sessionId === null || r.target.sessionId === sessionId));
  }

  /** The recordings running on this node (not those of its sessions that run on other nodes). */
  get active(): readonly Recording[] {
    return [...this.recordings.values()].filter((r) => r.open && !r.elsewhere);
  }

  /**
   * Another node records a session of this node and says how it goes
   * (sessionNodeMirror): known here from now on, it is listed with the
   * session's recordings and its changes are told to recordingEvents.
   */
  mirror(snapshot: RecordingSnapshot): void {
    let recording = this.recordings.get(snapshot.id);
    if (recording && !recording.elsewhere) return;
    if (!recording) {
      const target: RecordingTarget = { sessionId: snapshot.sessionId, trackName: snapshot.trackName, trackNames: snapshot.trackNames };
      recording = new Recording(snapshot.id, snapshot.appId, snapshot.owner, target, snapshot.storage);
      recording.elsewhere = true;
      this.track(recording);
    }
    const { reason, sizeBytes, durationMs, location, format } = snapshot;
    // set() tells the change (and ignores any after the end); the same state only refreshes the figures.
    if (snapshot.state !== recording.state) recording.set(snapshot.state, { reason, sizeBytes, durationMs, location, format });
    else Object.assign(recording, { reason, sizeBytes, durationMs, location, format });
  }

  /** The ffmpeg process of an open recording (tests, diagnostics). */
  recorderPid(id: string): number | undefined {
    return this.recorders.get(id)?.pid;
  }

  /** Finishes what a node that stopped without finishing left in the spool (documented in docs/recording.md). */
  async recover(): Promise<Recording[]> {
    let names: string[];
    try {
      names = await readdir(this.spool);
    } catch {
      return [];
    }
    const recovered: Recording[] = [];
    for (const name of names.filter((n) => n.endsWith('.json'))) {
      try {
        const manifest = JSON.parse(await readFile(join(this.spool, name), 'utf8')) as Manifest;
        if (this.recordings.has(manifest.id)) continue;
        const recording = new Recording(manifest.id, manifest.appId, manifest.owner, manifest.target, manifest.storage);
        recording.format = manifest.extension;
        this.track(recording);
        await this.finish(recording, manifest, { stopped: false, code: null, signal: null, stderr: 'the node stopped while recording' });
        recovered.push(recording);
      } catch (error) {
        this.options.logger.error({ err: error, file: name }, 'could not recover a recording left in the spool');
      }
    }
    return recovered;
  }

  /** The node stops: every recording is asked to finish, and finishing (storage included) gets up to `timeoutMs`. */
  async stopAll(timeoutMs: number): Promise<void> {
    for (const recorder of this.recorders.values()) recorder.stop();
    const deadline = new Promise((resolve) => setTimeout(resolve, timeoutMs).unref());
    const waitForRecorders = new Promise<void>((resolve) => {
      const check = () => (this.recorders.size === 0 ? resolve() : setTimeout(check, 50).unref());
      check();
    });
    await Promise.race([waitForRecorders.then(() => Promise.all([...this.finishing])), deadline]);
    // What did not finish in time stays in the spool: the next start finishes it.
    for (const recorder of this.recorders.values()) recorder.kill();
  }

  private checkLimits(appId: string): void {
    const { maxPerNode, maxPerApp } = this.options.config;
    const active = this.active;
    // Worded as placement knows it: in a cluster the call goes to a node with room.
    const starting = [...this.starting.values()].reduce((sum, n) => sum + n, 0);
    if (active.length + starting >= maxPerNode) throw recorderFull(maxPerNode);
    if (active.filter((r) => r.appId === appId).length + (this.starting.get(appId) ?? 0) >= maxPerApp) throw new SwitchyardError(ErrorCode.LIMIT_EXCEEDED, `the app has ${maxPerApp} recordings running already (MAX_RECORDINGS_PER_APP)`);
  }

  private visible(access: AccessPolicy, recording: Recording): boolean {
    return recording.appId === access.appId && (access.principal.kind === 'app' || recording.owner === access.owner);
  }

  private track(recording: Recording): void {
    this.recordings.set(recording.id, recording);
    recording.on('state', () => {
      this.emit('state', recording);
      if (recording.finished) setTimeout(() => this.recordings.delete(recording.id), FINISHED_KEPT_MS).unref();
    });
  }

  private writtenPath(manifest: Pick<Manifest, 'id' | 'extension'>): string {
    return join(this.spool, `${manifest.id}.part.${manifest.extension}`);
  }

  private finishLater(recording: Recording, manifest: Manifest, end: RecorderEnd): void {
    const work = this.finish(recording, manifest, end).finally(() => this.finishing.delete(work));
    this.finishing.add(work);
  }

  /** The file finished, probed and stored; the recording DONE, or FAILED with why (a file cut short is still stored). */
  private async finish(recording: Recording, manifest: Manifest, end: RecorderEnd): Promise<void> {
    recording.set('FINISHING');
    const written = this.writtenPath(manifest);
    const finished = join(this.spool, `${manifest.id}.${manifest.extension}`);
    try {
      if (!(await hasMedia(written))) {
        recording.set('FAILED', { reason: 'nothing was recorded: it ended before any media reached the file (a video track sends a key frame first, audio within 2 s)' });
        return;
      }
      try {
        await finishFile(written, finished, { format: manifest.format, extension: manifest.extension as Container['extension'], contentType: manifest.contentType });
      } catch (error) {
        // ffmpeg's words name the node's paths: for the log only.
        this.options.logger.error({ err: error, recording: recording.id }, 'could not finish a recording file');
        throw new Error('ffmpeg could not read the file written');
      }
      const probed = await probeFile(finished);
      const day = recording.createdAt.toISOString().slice(0, 10);
      const key = `${recording.appId}/${day}/${recording.id}.${manifest.extension}`;
      let saved: { location: string; size: number };
      let notStored: string | null = null;
      try {
        const store = recording.storage === 's3' ? this.options.stores.s3 : this.options.stores.local;
        if (!store) throw new Error('no object storage is configured any more (RECORDINGS_S3_BUCKET)');
        saved = await store.save(finished, key, manifest.contentType);
      } catch (error) {
        if (recording.storage !== 's3') throw error;
        // Object storage refused it: the file is kept in RECORDINGS_DIR rather than lost, and the recording says so.
        saved = await this.options.stores.local.save(finished, key, manifest.contentType);
        notStored = `it could not be stored in S3 (${error instanceof Error ? error.message : String(error)}); kept at ${saved.location}`;
      }
      const how = [end.signal ?? (end.code !== null ? `exit ${end.code}` : null), end.stderr || null].filter(Boolean).join(': ');
      const cut = end.stopped ? null : `the recorder ended without being asked to (${how}); the file holds the recording up to then`;
      const reason = [cut, notStored].filter(Boolean).join('; ') || null;
      recording.set(reason ? 'FAILED' : 'DONE', { reason, sizeBytes: saved.size, durationMs: probed.durationMs, location: saved.location });
      this.options.logger.info({ recording: recording.id, state: recording.state, location: saved.location, bytes: saved.size, ms: probed.durationMs }, 'recording finished');
    } catch (error) {
      this.options.logger.error({ err: error, recording: recording.id }, 'could not finish a recording');
      recording.set('FAILED', { reason: `the file could not be finished or stored: ${error instanceof Error && !/\/|Command failed/.test(error.message) ? error.message : 'see the node\'s log'}` });
    } finally {
      await rm(written, { force: true });
      await rm(finished, { force: true });
      await rm(join(this.spool, `${manifest.id}.json`), { force: true });
    }
  }
}
