// @ts-check
// The room session: one Worker per session, its requests and events, and reconnection as a new session.
//
// The page holds the Worker's opaque resume blob (to reconnect, and in sessionStorage when the person chose to stay in
// on refresh) and opaque member handles; the keys stay inside the Worker.
import { WorkerBridge } from './bridge.js';
import { ErrorCode, Event, FailureCode } from './codes.js';

const RECONNECT_DELAYS_MS = [500, 1000, 2000, 4000, 8000, 15000, 30000];

/** The Worker's events for the page: the core's, under their Rust names, and the Worker's own. */
const FORWARDED = [
  ...Object.values(Event).filter((name) => name !== Event.Ended),
  'members',
  'progress',
  'sendProgress',
  'prepared',
  'lookalikeUnavailable',
];

/** Refusals of a rejoin that mean the room is over for good, not that the network is still down. */
/** @type {Set<string>} */
const FINAL = new Set([ErrorCode.ROOM_GONE, ErrorCode.ROOM_NOT_FOUND, ErrorCode.BAD_TOKEN, FailureCode.LINK_EXPIRED, 'unverifiable']);

/**
 * @typedef {{relayUrl: string, testDeriveHoldMs: number}} Config
 * @typedef {Record<string, ((data: any) => void) | undefined>} Handlers
 */

export class RoomSession {
  /** @type {Config} */
  #config;
  /** @type {WorkerBridge | null} */
  #bridge = null;
  /** @type {Handlers} */
  #handlers;
  /** @type {string | null} */
  #resume = null;
  /** @type {number | null} */
  #expiresAt = null;
  #closing = false;
  #reconnecting = false;

  /**
   * @param {Config} config from config.js
   * @param {Handlers} handlers callbacks by event name: the core's events (codes.js `Event`), and members, progress,
   *   sendProgress, prepared, reconnecting, reconnected, failed
   */
  constructor(config, handlers) {
    this.#config = config;
    this.#handlers = handlers;
  }

  /** The room's expiry in milliseconds since the epoch, once known. */
  get expiresAt() {
    return this.#expiresAt;
  }

  /** The opaque resume blob of the current session, once joined. */
  get resumeBlob() {
    return this.#resume;
  }

  /**
   * Takes the Worker's resume blob for the room's new secrets after a lock, so that a reconnect rejoins under them:
   * the old ones no longer open the room.
   * @param {string} blob
   */
  adoptResume(blob) {
    this.#resume = blob;
  }

  #engine() {
    if (this.#bridge?.alive) return this.#bridge;
    const bridge = new WorkerBridge();
    for (const name of FORWARDED) {
      bridge.on(name, (data) => {
        if (bridge === this.#bridge) this.#handlers[name]?.(data);
      });
    }
    bridge.on(Event.Ended, (data) => {
      if (bridge !== this.#bridge) return;
      this.#closing = true;
      this.#handlers[Event.Ended]?.(data);
    });
    bridge.on('disconnected', (data) => {
      if (bridge === this.#bridge) this.#onDisconnected(data);
    });
    bridge.on('failed', (data) => {
      // While reconnecting, a Worker that cannot start (its script cannot be fetched while the network is down) is one
      // more failed attempt: its pending resume is rejected, and the loop tries again with a fresh Worker.
      if (bridge === this.#bridge && !this.#reconnecting) this.#handlers.failed?.(data);
    });
    this.#bridge = bridge;
    bridge.request('configure', { relayUrl: this.#config.relayUrl, testDeriveHoldMs: this.#config.testDeriveHoldMs })
      .catch(() => {});
    return bridge;
  }

  /**
   * The core's one alias rule: null when it accepts the alias, else why not ('Empty', 'TooLong' or 'Disguising').
   * @param {string} alias
   * @returns {Promise<string | null>}
   */
  aliasProblem(alias) {
    return this.#engine().request('aliasProblem', { alias });
  }

  /**
   * Checks a link without a password: {expiresAt} or an error with code link_invalid or link_expired.
   * @param {string} link
   */
  checkLink(link) {
    return this.#engine().request('checkLink', { link });
  }

  /**
   * Asks the relay whether a link's room is live, gone or unknown: `"live"`, `"gone"`, `"unknown"`, or null when the
   * relay did not say.
   * @param {string} link
   * @returns {Promise<string | null>}
   */
  peek(link) {
    return this.#engine().request('peek', { link });
  }

  /**
   * Creates a room; resolves with {link, room, self, members, resume, limits}.
   * @param {{alias: string, roomName: string, password: string, lifetime: number}} args
   */
  async create(args) {
    return this.#entered(await this.#engine().request('create', args));
  }

  /**
   * Joins a room from its link; resolves like create.
   * @param {{link: string, alias: string, password: string}} args
   */
  async join(args) {
    return this.#entered(await this.#engine().request('join', args));
  }

  /**
   * Starts, before the click, what a join of `link` with `password` needs and can do without the alias: the Worker
   * stretches the password and opens the socket. A later call with another link or password replaces it (the older
   * derivation is stopped and its result never used); an empty password only stops it. Nothing is sent to the relay
   * before `join`.
   * @param {string} link
   * @param {string} password
   * @returns {Promise<boolean>} whether a derivation runs
   */
  prepare(link, password) {
    return this.#engine().request('prepare', { link, password }).catch(() => false);
  }

  /**
   * Rejoins as a new session from a resume blob (refresh or reconnect).
   * @param {string} blob
   */
  async resume(blob) {
    return this.#entered(await this.#engine().request('resume', { blob }));
  }

  /** @param {any} result */
  #entered(result) {
    this.#resume = result.resume;
    this.#expiresAt = result.room.expiresAt;
    this.#closing = false;
    return result;
  }

  /**
   * Sends a request to the Worker of the session in the room; while the connection is being restored there is none,
   * and the request fails with the code `offline` instead of reaching a Worker that is still rejoining.
   * @param {string} op
   * @param {object} [args]
   * @param {Transferable[]} [transfer]
   */
  #inRoom(op, args, transfer) {
    if (this.#reconnecting || !this.#bridge) {
      return Promise.reject(Object.assign(new Error('reconnecting'), { code: 'offline' }));
    }
    return this.#bridge.request(op, args, transfer);
  }

  /**
   * Sends a text to the room; resolves once it is sealed and on its way.
   * @param {string} text
   */
  send(text) {
    return this.#inRoom('send', { text });
  }

  /**
   * Sends a text that only `member` can read.
   * @param {number} member
   * @param {string} text
   */
  whisper(member, text) {
    return this.#inRoom('whisper', { member, text });
  }

  /**
   * Sends a file as encrypted chunks, to the room or whispered to one member; the Worker receives a copy of the bytes.
   * @param {string} name
   * @param {string} type
   * @param {ArrayBuffer} bytes
   * @param {number | null} [to]
   * @param {number} [id] the page's id for the upload, named by its progress events and by `cancelUpload`
   * @param {string} [caption] text shown with the file, formatted like a message
   */
  attach(name, type, bytes, to = null, id = 0, caption = '') {
    return this.#inRoom('attach', { id, name, type, bytes, to, caption });
  }

  /**
   * Stops an upload still being sent; resolves with whether there was one.
   * @param {number} id
   */
  cancelUpload(id) {
    return this.#inRoom('cancelUpload', { id });
  }

  /** @param {number} member */
  kick(member) {
    return this.#inRoom('kick', { member });
  }

  /**
   * Hands ownership of the room to `member` (the owner only).
   * @param {number} member
   */
  transfer(member) {
    return this.#inRoom('transfer', { member });
  }

  /**
   * Remove and lock (the owner only): removes `member` when given, and moves the room to a new link opened by
   * `password`; resolves with the new link and the new resume blob.
   * @param {number | null} member
   * @param {string} password
   * @returns {Promise<import('./events.js').LockResult>}
   */
  lock(member, password) {
    return this.#inRoom('lock', { member, password });
  }

  /**
   * Purges the room; resolves with {confirmed}: whether the relay confirmed it.
   * @returns {Promise<{confirmed: boolean}>}
   */
  async purge() {
    const purged = this.#inRoom('purge');
    // An offline purge sent nothing, so the reconnect loop goes on; one that reached the Worker ends this session.
    if (!this.#reconnecting) this.#closing = true;
    return purged;
  }

  /**
   * Says the farewell (if any), leaves, and ends the Worker.
   * @param {string} farewell
   */
  async leave(farewell) {
    this.#closing = true;
    try {
      await this.#bridge?.request('leave', { farewell });
    } finally {
      this.destroy();
    }
  }

  /** Cancels whatever the Worker is doing (a derivation, a join) by ending it. */
  cancel() {
    this.#bridge?.terminate();
    this.#bridge = null;
  }

  /** Ends the Worker and forgets the resume blob: nothing of the session stays in this page. */
  destroy() {
    this.#closing = true;
    this.#bridge?.terminate();
    this.#bridge = null;
    this.#resume = null;
    this.#expiresAt = null;
  }

  /** @param {unknown} data */
  async #onDisconnected(data) {
    if (this.#closing || this.#reconnecting || !this.#resume) return;
    this.#reconnecting = true;
    this.#bridge?.terminate();
    this.#bridge = null;
    this.#handlers.reconnecting?.(data);
    for (let attempt = 0; !this.#closing; attempt += 1) {
      if (this.#expiresAt !== null && Date.now() >= this.#expiresAt) {
        this.#reconnecting = false;
        this.#handlers[Event.Ended]?.({ type: Event.Ended, reason: { type: 'Expired' } });
        return;
      }
      const delay = RECONNECT_DELAYS_MS[Math.min(attempt, RECONNECT_DELAYS_MS.length - 1)];
      await new Promise((resolve) => setTimeout(resolve, delay));
      if (this.#closing) break;
      try {
        const result = await this.resume(this.#resume);
        this.#reconnecting = false;
        this.#handlers.reconnected?.(result);
        return;
      } catch (error) {
        this.#bridge?.terminate();
        this.#bridge = null;
        const { code } = /** @type {{code?: string}} */ (error);
        if (code && FINAL.has(code)) {
          this.#reconnecting = false;
          this.#closing = true;
          this.#handlers[Event.Ended]?.({ type: Event.Ended, reason: { type: 'Refused', code } });
          return;
        }
      }
    }
    this.#reconnecting = false;
  }
}
