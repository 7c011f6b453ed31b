/* fairview-player.js: focused-view events for one <video> ad (docs/player-sdk.md).
 *
 * Sends the spec/attention.md §7.1 events of one delivery to fairview's collector.
 * Private by construction: no cookies, no storage, no navigator/screen/canvas reads,
 * no user agent, no wall-clock time. Durations use performance.now() only.
 */
(function (global) {
  "use strict";

  const HEARTBEAT_MS = 250;
  const FLUSH_MS = 1000;
  const FLUSH_EVENTS = 20;
  const MAX_BATCH = 100; // fetch keepalive and sendBeacon bodies are capped at 64 KB
  const MAX_BACKOFF_MS = 30000;
  const VISIBLE_RATIO = 0.5;
  // The collector refuses any other kind; a refused event would leave a gap in `seq`.
  const KINDS = new Set([
    "like", "follow", "share", "comment_open", "clickthrough", "profile_visit",
    "hashtag", "music", "anchor", "interactive_addon", "fullscreen", "skip",
  ]);

  const seconds = (x) => Math.round(x * 1000) / 1000;

  class Session {
    constructor(video, options) {
      if (!video || !options || !options.token) {
        throw new TypeError("FairviewPlayer.attach(video, {token, endpoint, duration_s})");
      }
      this.video = video;
      this.token = options.token;
      this.endpoint = options.endpoint || "/v1/events";
      this.durationS = options.duration_s;
      this.seq = 0;
      this.t0 = null; // performance.now() at the first frame
      this.closed = false;
      this.queue = []; // events not yet acknowledged by the collector
      this.sending = false;
      this.backoffMs = FLUSH_MS;
      this.nextTryAt = 0;
      this.inView = false;
      this.vis = false; // §7.6: a session starts as not visible until vis_on
      this.playing = false;
      this.media = 0; // last observed playhead, the `from_s` of the next seek
      this.rate = video.playbackRate;
      this.muted = video.muted;
      this.listeners = [];
      this._listen();
      this._awaitFirstFrame();
    }

    /** Report an interaction; `input` is true/false or the DOM event (its isTrusted). */
    interaction(kind, input) {
      if (!KINDS.has(kind)) throw new TypeError("unknown interaction kind: " + kind);
      const trusted = typeof input === "boolean" ? input : Boolean(input && input.isTrusted);
      return this._emit("interaction", { kind: kind, trusted: trusted });
    }

    /** End the session: a `close` event, then everything pending is sent. */
    close(useBeacon) {
      if (this.closed) return;
      this._emit("close");
      this.closed = true;
      clearInterval(this.heartbeatTimer); // the flush timer runs on until the queue is empty
      if (this.observer) this.observer.disconnect();
      for (const [target, type, fn] of this.listeners) target.removeEventListener(type, fn);
      if (useBeacon) this._beacon();
      else this.flush();
    }

    // -- playback state -> events ------------------------------------------------

    _listen() {
      const v = this.video;
      this._on(v, "playing", () => this._setPlaying(true, "play"));
      this._on(v, "pause", () => this._setPlaying(false, "pause"));
      this._on(v, "waiting", () => this._setPlaying(false, null));
      this._on(v, "ended", () => this._setPlaying(false, "ended"));
      this._on(v, "timeupdate", () => { if (!v.seeking) this.media = v.currentTime; });
      this._on(v, "seeking", () => this._seeking());
      this._on(v, "ratechange", () => {
        if (v.playbackRate !== this.rate) this._emit("rate");
        this.rate = v.playbackRate;
      });
      this._on(v, "volumechange", () => {
        if (v.muted !== this.muted) this._emit(v.muted ? "mute" : "unmute");
        this.muted = v.muted;
      });
      this._on(document, "visibilitychange", () => this._pageVisibility());
      this._on(global, "pagehide", () => this.close(true));
      this.observer = new IntersectionObserver((entries) => {
        const entry = entries[entries.length - 1];
        this.inView = entry.isIntersecting && entry.intersectionRatio >= VISIBLE_RATIO;
        this._updateVis();
      }, { threshold: VISIBLE_RATIO });
      this.observer.observe(v);
    }

    _on(target, type, fn) {
      target.addEventListener(type, fn);
      this.listeners.push([target, type, fn]);
    }

    _awaitFirstFrame() {
      const v = this.video;
      if (typeof v.requestVideoFrameCallback === "function") {
        v.requestVideoFrameCallback(() => this._firstFrame());
      } else if (!v.paused && v.readyState >= 3) {
        this._firstFrame();
      } else {
        v.addEventListener("playing", () => this._firstFrame(), { once: true });
      }
    }

    _firstFrame() {
      if (this.t0 !== null || this.closed) return;
      this.t0 = performance.now();
      this.playing = !this.video.paused && !this.video.ended;
      this._emit("first_frame", { duration_s: this.durationS || this.video.duration });
      this.heartbeatTimer = setInterval(() => this._heartbeat(), HEARTBEAT_MS);
      this.flushTimer = setInterval(() => this._tick(), FLUSH_MS);
    }

    _heartbeat() {
      if (this.playing && !this.video.seeking) this._emit("heartbeat");
    }

    _setPlaying(playing, type) {
      const changed = this.playing !== playing;
      this.playing = playing;
      if (type && (changed || type === "ended")) this._emit(type);
    }

    _seeking() {
      const v = this.video;
      const from = this.media;
      const to = v.currentTime;
      this.media = to;
      // A looping element wraps by seeking from its end to 0 (HTML "loop" steps).
      const wrapped = v.loop && to < 0.5 && from > v.duration - 1;
      if (wrapped) this._emit("loop", { from_s: seconds(v.duration), to_s: seconds(to) });
      else this._emit("seek", { from_s: seconds(from), to_s: seconds(to) });
    }

    _pageVisibility() {
      const hidden = document.visibilityState !== "visible";
      this._emit(hidden ? "bg" : "fg", { vis: this._computeVis() });
      this._updateVis();
      if (hidden) this._beacon(); // the page may never run again
    }

    _computeVis() {
      return this.inView && document.visibilityState === "visible";
    }

    _updateVis() {
      const vis = this._computeVis();
      if (vis === this.vis) return;
      this.vis = vis;
      this._emit(vis ? "vis_on" : "vis_off");
    }

    // -- events -> collector -------------------------------------------------------

    _emit(type, extra) {
      if (this.t0 === null || this.closed) return false; // nothing precedes the first frame
      const v = this.video;
      if (!v.seeking) this.media = v.currentTime;
      const event = Object.assign({
        seq: this.seq++,
        type: type,
        mono_ms: Math.round(performance.now() - this.t0),
        media_s: seconds(v.currentTime),
        vis: this.vis,
        rate: v.playbackRate,
        muted: v.muted,
      }, extra);
      this.queue.push(event);
      if (this.queue.length >= FLUSH_EVENTS) this._tick();
      return true;
    }

    _tick() {
      if (this.queue.length === 0 && this.closed) clearInterval(this.flushTimer);
      else if (performance.now() >= this.nextTryAt) this.flush();
    }

    _body(events) {
      return JSON.stringify({ token: this.token, events: events });
    }

    /** POST the oldest pending events; a failed batch stays queued and is resent. */
    flush() {
      if (this.sending || this.queue.length === 0) return;
      const batch = this.queue.slice(0, MAX_BATCH);
      this.sending = true;
      fetch(this.endpoint, {
        method: "POST",
        keepalive: true,
        credentials: "omit",
        referrerPolicy: "no-referrer",
        headers: { "content-type": "application/json" },
        body: this._body(batch),
      })
        .then((response) => {
          // 5xx and 429 are worth retrying; any other answer is final for the batch.
          if (response.status >= 500 || response.status === 429) throw new Error("retry");
          this._acknowledge(batch);
          this.backoffMs = FLUSH_MS;
        })
        .catch(() => {
          this.backoffMs = Math.min(this.backoffMs * 2, MAX_BACKOFF_MS);
          this.nextTryAt = performance.now() + this.backoffMs;
        })
        .finally(() => {
          this.sending = false;
          if (this.queue.length >= FLUSH_EVENTS) this._tick();
        });
    }

    _acknowledge(batch) {
      const last = batch[batch.length - 1].seq;
      this.queue = this.queue.filter((e) => e.seq > last);
    }

    /** Hand everything pending to sendBeacon, which outlives the page. */
    _beacon() {
      while (this.queue.length > 0) {
        const batch = this.queue.slice(0, MAX_BATCH);
        // A plain-text body keeps the beacon a "simple" request; fairview reads JSON.
        if (!navigator.sendBeacon(this.endpoint, this._body(batch))) return;
        this._acknowledge(batch);
      }
    }
  }

  global.FairviewPlayer = Object.freeze({
    attach: (video, options) => new Session(video, options),
  });
})(window);
