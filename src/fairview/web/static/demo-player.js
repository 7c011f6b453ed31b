/* The demo player page (templates/demo/player.html, docs/player-sdk.md "The demo page").
 *
 * Asks POST /v1/decisions for an ad on the demo placement (a coarse region, no viewer
 * identifier), plays its creative, attaches fairview-player.js, closes the session when
 * the ad ends (so its events are final at once), and polls
 * GET /demo/player/deliveries/{id} every second to show what fairview received, the
 * seconds credited so far, the settled verdict and the ledger entry.
 */
(function () {
  "use strict";

  const POLL_MS = 1000;
  const root = document.getElementById("demo-player");
  if (!root || !window.FairviewPlayer) return;

  const video = document.getElementById("demo-video");
  const byId = (id) => document.getElementById(id);
  const ui = {
    state: byId("state"),
    stateText: byId("state-text"),
    delivery: byId("delivery-id"),
    received: byId("events-received"),
    coverage: byId("events-coverage"),
    credited: byId("coverage-s"),
    bar: byId("coverage-bar"),
    types: byId("events-by-type"),
    verdict: byId("verdict"),
    ledger: byId("ledger"),
    disclosure: byId("disclosure"),
    play: byId("play-toggle"),
    mute: byId("mute-toggle"),
    another: byId("new-ad"),
  };
  const ruleSeconds = Number(root.dataset.ruleSeconds) || 6;

  let session = null;
  let ad = null;
  let timer = null;
  let generation = 0; // a newer ad makes older answers stale
  let announced = ""; // the milestone last put in the status line
  let settled = false;

  // -- status line ---------------------------------------------------------------

  function setState(text, tone) {
    ui.state.className = "notice" + (tone ? " notice-" + tone : "");
    if (ui.stateText.textContent !== text) ui.stateText.textContent = text;
    root.dataset.state = text;
  }

  function milestone(key, text, tone) {
    if (announced === key) return;
    announced = key;
    setState(text, tone);
  }

  // -- the ad ----------------------------------------------------------------------

  function mediaUrl(url) {
    // The page may load media from its own origin only (CSP media-src 'self').
    const u = new URL(url, location.href);
    if (u.origin === location.origin) return u.href;
    // The same fairview reached under another host name (localhost vs 127.0.0.1).
    if (u.pathname.startsWith("/static/")) return u.pathname;
    return null;
  }

  async function loadAd() {
    const mine = ++generation;
    stopPolling();
    if (session) session.close();
    session = null;
    ad = null;
    settled = false;
    announced = "";
    resetPanel();
    video.removeAttribute("src");
    video.load();
    ui.play.disabled = ui.mute.disabled = true;
    setState("Waiting for the ad: asking fairview's decision API for one…");
    let answer;
    try {
      const response = await fetch(root.dataset.decisions, {
        method: "POST",
        credentials: "omit",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          placement: root.dataset.placement,
          region: root.dataset.region,
          count: 1,
        }),
      });
      if (!response.ok) throw new Error("HTTP " + response.status);
      answer = await response.json();
    } catch (error) {
      if (mine === generation) {
        setState("Could not reach fairview (" + error.message + "). Try “Load another ad”.", "error");
      }
      return;
    }
    if (mine !== generation) return;
    if (!answer.ads || answer.ads.length === 0) {
      setState(
        "No ad available: no campaign with budget left targets the “" +
          root.dataset.placement + "” placement. `fairview demo` creates one.",
        "warn",
      );
      return;
    }
    ad = answer.ads[0];
    const src = mediaUrl(ad.creative.media_url);
    if (!src) {
      setState("No playable ad: its video is hosted on another site, which this page may not load.", "warn");
      return;
    }
    showDisclosure(ad.disclosure);
    ui.delivery.textContent = ad.delivery;
    root.dataset.delivery = ad.delivery;
    video.src = src;
    session = window.FairviewPlayer.attach(video, {
      token: ad.token,
      endpoint: ad.events_url || "/v1/events",
      duration_s: ad.creative.duration_s,
    });
    ui.play.disabled = ui.mute.disabled = false;
    syncButtons();
    setState("Ad loaded: starting playback…");
    video.play().catch(() => {
      setState("Ad loaded: press Play to start it.");
    });
    poll(mine);
  }

  function showDisclosure(d) {
    if (!d) return;
    ui.disclosure.querySelector('[data-field="advertiser"]').textContent = d.advertiser;
    ui.disclosure.querySelector('[data-field="payer"]').textContent = d.payer;
    ui.disclosure.querySelector('[data-field="parameters"]').textContent =
      (d.parameters || []).map((p) => p.replace(/\.$/, "")).join(" · ") + ".";
    ui.disclosure.hidden = false;
  }

  // -- controls --------------------------------------------------------------------

  function syncButtons() {
    ui.play.textContent = video.paused || video.ended ? "Play" : "Pause";
    ui.mute.textContent = video.muted ? "Unmute" : "Mute";
  }

  ui.play.addEventListener("click", () => {
    if (video.paused || video.ended) video.play().catch(() => {});
    else video.pause();
  });
  ui.mute.addEventListener("click", () => { video.muted = !video.muted; });
  ui.another.addEventListener("click", () => { loadAd(); });
  for (const type of ["play", "pause", "ended", "volumechange"]) {
    video.addEventListener(type, syncButtons);
  }
  video.addEventListener("playing", () => {
    if (!settled) milestone("playing", "Playing: keep the video on screen. Credit counts only visible, normal-speed seconds.");
  });
  video.addEventListener("pause", () => {
    if (!video.ended && !settled && session && !session.closed) {
      announced = "";
      setState("Paused. Press Play to go on; paused time earns no credit.");
    }
  });
  video.addEventListener("ended", () => {
    // The ad is over: close the session so its events are final and it settles now
    // (after the SDK's own `ended` listener, so that event is sent too).
    const ending = session;
    if (ending) setTimeout(() => ending.close(), 0);
    milestone("ended", "The ad has ended. Its events are final; waiting for settlement…");
  });
  video.addEventListener("error", () => {
    if (ad) setState("The ad's video could not be played. Try “Load another ad”.", "error");
  });

  // -- the panel -------------------------------------------------------------------

  function stopPolling() {
    if (timer !== null) clearTimeout(timer);
    timer = null;
  }

  function poll(mine) {
    stopPolling();
    timer = setTimeout(async () => {
      if (mine !== generation) return;
      try {
        const response = await fetch(root.dataset.status + encodeURIComponent(ad.delivery), {
          credentials: "omit",
          cache: "no-store",
        });
        if (response.ok && mine === generation) render(await response.json());
      } catch (error) {
        // A missed poll is retried a second later.
      }
      if (mine === generation && !settled) poll(mine);
    }, POLL_MS);
  }

  function resetPanel() {
    ui.delivery.textContent = "—";
    ui.received.textContent = "—";
    ui.coverage.textContent = "—";
    ui.credited.textContent = "—";
    ui.bar.value = 0;
    ui.types.textContent = "";
    ui.disclosure.hidden = true;
    delete root.dataset.delivery;
    delete root.dataset.verdict;
    replace(ui.verdict, para("No verdict yet: settlement runs once the ad has ended (or the page is closed) and every event has arrived.", "muted"));
    replace(ui.ledger, para("No ledger entry yet: a focused view is charged once, when it settles.", "muted"));
  }

  function render(s) {
    const ev = s.events;
    ui.received.textContent = String(ev.received);
    ui.coverage.textContent = ev.max_seq < 0
      ? "—"
      : (ev.missing_seq === 0 ? "seq 0–" + ev.max_seq + ", no gap" : ev.missing_seq + " missing of 0–" + ev.max_seq) +
        (ev.closed ? ", closed" : "");
    ui.types.textContent = Object.entries(ev.by_type).map(([t, n]) => t + " " + n).join(" · ");
    const credited = s.verdict ? s.verdict.coverage_s : (s.so_far ? s.so_far.coverage_s : 0);
    ui.credited.textContent = credited.toFixed(1) + " s";
    ui.bar.value = Math.min(credited, ruleSeconds);
    if (s.so_far && s.so_far.focused_view && !s.verdict) {
      milestone("qualifies", "Focused view reached: " + ruleSeconds + " visible seconds credited. It is billed once the delivery settles.", "ok");
    }
    if (s.verdict) showVerdict(s.verdict, s.ledger);
  }

  function showVerdict(v, ledger) {
    settled = true;
    stopPolling();
    root.dataset.verdict = v.focused_view ? "focused_view" : "no_focused_view";
    const line = v.focused_view
      ? "Focused view — billable"
      : v.invalid ? "Not billable — invalid delivery" : "No focused view — not billed";
    const box = document.createElement("div");
    box.className = "notice " + (v.focused_view ? "notice-ok" : "notice-warn");
    box.appendChild(para(line, "demo-verdict-line"));
    box.appendChild(facts([
      ["Qualified by", v.qualified_by ? v.qualified_by + (v.qualified_at_media_s !== null ? " at " + v.qualified_at_media_s.toFixed(1) + " s" : "") : "—"],
      ["Seconds credited", v.coverage_s.toFixed(1) + " s (" + v.audible_coverage_s.toFixed(1) + " s with sound)"],
      ["Viewability", v.viewability.replace("_", " ")],
      ["Validity", v.invalid ? "invalid: " + v.invalid_reason : "valid"],
      ["Settled", v.settled_at],
    ]));
    replace(ui.verdict, box);

    if (ledger.length === 0) {
      replace(ui.ledger, para(v.focused_view
        ? "No ledger entry: the campaign's budget could not pay for it."
        : "No ledger entry: nothing is charged without a focused view.", "muted"));
    } else {
      const list = document.createElement("div");
      for (const entry of ledger) {
        list.appendChild(facts([
          ["Entry", "#" + entry.id + " · " + entry.kind],
          ["Amount", entry.amount + (entry.unbilled_minor ? " (+ " + entry.unbilled_minor + " unbilled, over budget)" : "")],
          ["Campaign", (entry.campaign || entry.campaign_id)],
          ["Booked", entry.created_at],
        ], "ledger-entry"));
      }
      replace(ui.ledger, list);
    }
    const charged = ledger.length ? " Ledger entry: " + ledger[0].amount + "." : " Nothing charged.";
    milestone("settled", "Settled: " + line + "." + charged + " Use “Load another ad” to watch again.", v.focused_view ? "ok" : "warn");
  }

  // -- small DOM helpers (no innerHTML: server text is always text) ---------------

  function para(text, className) {
    const p = document.createElement("p");
    if (className) p.className = className;
    p.textContent = text;
    return p;
  }

  function facts(rows, id) {
    const dl = document.createElement("dl");
    dl.className = "facts";
    if (id) dl.dataset.kind = id;
    for (const [name, value] of rows) {
      const dt = document.createElement("dt");
      dt.textContent = name;
      const dd = document.createElement("dd");
      dd.textContent = value;
      dl.append(dt, dd);
    }
    return dl;
  }

  function replace(container, child) {
    container.replaceChildren(child);
  }

  loadAd();
})();
