// The annotator's task page: instructions, a practice of the keys, then one image at a time until the end.
//
// The server holds all state (the current image, the exposure, the stage); this script asks for it, shows it,
// and posts answers. A reload therefore resumes at the same image. The state carries the current image's bytes
// (the answer's response holds the next state), so a judgment costs one request: its answer. The script never learns whether an image is
// real before its answer is stored; with feedback, the answer's response says so afterwards.
//
// <body data-state> tells tests (and styles) where the page is: intro, practice, loading, showing, ready,
// saving, feedback, pause, finish, withdraw-confirm, withdrawn, error. While the server is unreachable (a restart,
// a lost connection) the page stays where it is, under a "Reconnecting…" notice, and sends the same request again.
//
// Keys are read by their place on the keyboard (event.code), not by the letter they type: F and J are the home
// row's index-finger keys on any layout (on AZERTY or Dvorak they type other letters).
(() => {
  "use strict";

  const config = JSON.parse(document.getElementById("task-config").textContent);
  const $ = (id) => document.getElementById(id);
  const screens = ["intro", "trial", "pause", "finish", "withdraw-confirm", "withdrawn", "error"];
  const ANSWER_KEYS = new Map([
    ["KeyF", true],
    ["KeyJ", false],
  ]);
  const CONTINUE_KEYS = new Set(["Space", "Enter", "NumpadEnter"]);
  // What ends the assignment on each platform after a withdrawal.
  const WITHDRAW_TEXT = {
    mturk: "On Mechanical Turk, please return the HIT (its Return button), so that it counts neither for nor against you.",
    prolific: "On Prolific, please return your submission (“Stop without completing”), so that it is not timed out.",
    code: "You may close this page.",
  };
  // Resolves, in an animation frame's callback, with its timestamp: the time of the frame that the changes made
  // right after it (in the same task's microtasks) are drawn in.
  const nextFrame = () => new Promise((resolve) => requestAnimationFrame(resolve));
  // The refresh interval is measured over at least this long and this many frames.
  const REFRESH_SAMPLE_MS = 1000;
  const REFRESH_SAMPLE_FRAMES = 30;
  // A frame this many refresh intervals after the one before means that frames were dropped (PsychoPy's window
  // makes the same check with its refreshThreshold). Frame times come in whole intervals: 1.5 tells one from two.
  const DROPPED_FRAME = 1.5;
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  // A database or Redis being restarted answers 503 with Retry-After; a proxy whose server is restarting, 502 or
  // 504; a lost connection fails the fetch itself. Each is waited out and the same request sent again, backing
  // off from Retry-After (or a second) up to this, with jitter so that a crowd of pages does not come back at once.
  const OUTAGE_STATUSES = new Set([502, 503, 504]);
  const RETRY_MAX_MS = 15_000;

  let onAnswer = null; // what an answer (true: real; and the event's time) does now; null while not accepted
  let onContinue = null; // what Space/Enter or a Continue button does now
  let lastPhase = null;
  let lastBlock = null;
  let ended = false; // withdrawn: nothing else is shown
  let suspended = null; // while the withdrawal is being confirmed: the screen and state to go back to
  let lastPointer = ""; // the pointer type of the last press: a click event does not say it in every browser
  let refresh = null; // the display's refresh interval (ms), a promise: measured once per page, before timed images

  // While the withdrawal is confirmed, the trial's flow goes on behind it (an image loading, an answer being
  // saved): where it gets to is kept for going back. Once withdrawn, the page stays so.
  function mark(state) {
    if (ended) return;
    if (suspended) suspended.state = state;
    else document.body.dataset.state = state;
  }

  function show(name) {
    if (ended) return;
    if (suspended) {
      suspended.screen = name;
      return;
    }
    for (const screen of screens) $(screen).hidden = screen !== name;
    $("leave").hidden = !["intro", "trial", "pause"].includes(name);
  }

  function fail(error) {
    onAnswer = onContinue = null;
    $("error-text").textContent = error.message || String(error);
    show("error");
    mark("error");
  }

  // An API refusal: the server's message, its status, and whether an earlier try of the same request may have
  // reached the server before an outage hid its response.
  class Refusal extends Error {
    constructor(message, status, retried) {
      super(message);
      this.status = status;
      this.retried = retried;
    }
  }

  // Waits before the next try of a request an outage interrupted (``response``: null for a network error),
  // with the "reconnecting" notice shown until a try gets through.
  async function waitOut(response, attempt) {
    $("reconnecting").hidden = false;
    const after = 1000 * Number(response?.headers.get("Retry-After") || 1);
    const base = Math.min(RETRY_MAX_MS, Math.max(after, 1000 * 2 ** attempt));
    await sleep(base * (1 + Math.random() / 2));
  }

  async function api(url, body) {
    const init = { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" };
    if (config.csrfToken) init.headers["X-CSRFToken"] = config.csrfToken; // a staff preview's API only
    if (body !== undefined) {
      init.method = "POST";
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    // The same body each try: an answer keeps the response time measured when it was given.
    let limited = 0;
    let outages = 0;
    for (;;) {
      const response = await fetch(url, init).catch(() => null);
      if (response === null || OUTAGE_STATUSES.has(response.status)) {
        await waitOut(response, outages++);
        continue;
      }
      $("reconnecting").hidden = true;
      if (response.status === 429 && limited++ < 5) {
        await sleep(1000 * Number(response.headers.get("Retry-After") || 1));
        continue;
      }
      const data = await response.json().catch(() => ({}));
      if (!response.ok) {
        throw new Refusal(data.error || `${response.status} ${response.statusText}`, response.status, outages > 0);
      }
      return data;
    }
  }

  function waitContinue() {
    return new Promise((resolve) => {
      onContinue = () => {
        onContinue = null;
        resolve();
      };
    });
  }

  // Resolves with { real, at, input }: the answer, the moment of its key press or tap (performance.now()'s
  // clock), and how it was given ("key", "tap" or "click").
  function waitAnswer() {
    setAnswering(true);
    return new Promise((resolve) => {
      onAnswer = (real, at, input) => {
        onAnswer = null;
        setAnswering(false);
        resolve({ real, at, input });
      };
    });
  }

  // A button's click: from a finger or pen ("tap"), a mouse ("click"), or the keyboard (no pointer at all).
  function inputOf(event) {
    const type = event.detail === 0 ? "" : event.pointerType || lastPointer;
    if (!type) return "key";
    return type === "mouse" ? "click" : "tap";
  }

  // How the image is seen: the viewport (CSS pixels) and the device pixel ratio. Only values within the server's
  // limits are sent (it refuses others), so that an odd browser never loses an answer.
  // With a timed image, its presentation as measured (present's timing), within the same limits.
  function display(timing) {
    const limits = config.displayLimits;
    const within = (value, low, high, integer) =>
      Number.isFinite(value) && value >= low && value <= high && (!integer || Number.isInteger(value))
        ? value
        : undefined;
    const seen = {
      viewport_width: within(window.innerWidth, 1, limits.viewport, true),
      viewport_height: within(window.innerHeight, 1, limits.viewport, true),
      device_pixel_ratio: within(window.devicePixelRatio, ...limits.pixelRatio, false),
    };
    if (!timing) return seen;
    const clock = (value) => within(value, 0, limits.clock, false);
    const pair = (start, end) => (clock(start) !== undefined && clock(end) >= start ? [start, end] : []);
    const [stimulusOnset, stimulusOffset] = pair(timing.stimulusOnset, timing.stimulusOffset);
    const [maskOnset, maskOffset] = pair(timing.maskOnset, timing.maskOffset);
    return {
      ...seen,
      refresh_ms: within(timing.refreshMs, ...limits.refresh, false),
      frames_requested: within(timing.framesRequested, 1, limits.frames, true),
      frames_shown: within(timing.framesShown, 0, limits.frames, true),
      stimulus_onset_ms: stimulusOnset,
      stimulus_offset_ms: stimulusOffset,
      mask_onset_ms: maskOnset,
      mask_offset_ms: maskOffset,
      dropped_frames: timing.dropped,
    };
  }

  function setAnswering(on) {
    $("answer-real").disabled = !on;
    $("answer-generated").disabled = !on;
  }

  function setProgress(state) {
    $("bar").hidden = state.total === 0;
    const label = state.phase === "qualification" ? "Qualification" : state.blocks > 1 ? "Block" : "Progress";
    const block = state.blocks > 1 && state.item ? ` ${state.item.block + 1} of ${state.blocks}` : "";
    $("phase-label").textContent = label + block;
    $("progress").max = Math.max(state.total, 1);
    $("progress").value = state.done;
    $("progress-text").textContent = `${state.done} / ${state.total}`;
  }

  function clearFrame() {
    for (const child of [...$("frame").children]) {
      if (child.id !== "countdown" && child.id !== "mask") child.remove();
    }
  }

  function drawNoise() {
    const canvas = $("mask");
    const context = canvas.getContext("2d");
    const pixels = context.createImageData(canvas.width, canvas.height);
    for (let i = 0; i < pixels.data.length; i += 4) {
      const v = Math.floor(Math.random() * 256);
      pixels.data[i] = pixels.data[i + 1] = pixels.data[i + 2] = v;
      pixels.data[i + 3] = 255;
    }
    context.putImageData(pixels, 0, 0);
  }

  function placeholder() {
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = 64;
    const context = canvas.getContext("2d");
    context.fillStyle = "#888";
    context.fillRect(0, 0, 64, 64);
    context.fillStyle = "#fff";
    context.font = "32px sans-serif";
    context.textAlign = "center";
    context.fillText("?", 32, 43);
    canvas.className = "stimulus";
    return canvas;
  }

  function stimulus(src) {
    const img = new Image();
    img.className = "stimulus";
    img.alt = "";
    img.decoding = "sync";
    img.src = src;
    return img;
  }

  // The image's bytes as the state carries them (base64), decoded from an object URL; should they be missing or
  // fail to decode, the image is asked for at its address.
  async function carried(image) {
    if (!image) return null;
    const binary = atob(image);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    const url = URL.createObjectURL(new Blob([bytes], { type: "image/png" }));
    const img = stimulus(url);
    try {
      await img.decode();
      return img;
    } catch {
      return null;
    } finally {
      URL.revokeObjectURL(url); // a decoded image keeps its pixels
    }
  }

  // Decoded before it is shown: a timed exposure must not start with an image still being decoded. An image
  // that fails to load is asked for again to learn why: an outage is waited out, anything else is an error.
  async function loadImage(item) {
    const img = await carried(item.image);
    if (img !== null) return img;
    let served = 0; // loads that failed although the server answered the image
    for (let attempt = 0; ; attempt++) {
      const img = stimulus(item.src);
      try {
        await img.decode();
        $("reconnecting").hidden = true;
        return img;
      } catch (error) {
        const response = await fetch(item.src, { cache: "no-store" }).catch(() => null);
        if (response !== null && !OUTAGE_STATUSES.has(response.status) && (!response.ok || served++ > 0)) throw error;
        if (response === null || !response.ok) await waitOut(response, attempt);
      }
    }
  }

  // The display's refresh interval (ms): the median interval between animation frames over about a second (the
  // median, so that a stall or a hidden tab while it is measured does not move it). Measured once per page.
  function refreshInterval() {
    refresh ??= (async () => {
      const deltas = [];
      let last = await nextFrame();
      const until = last + REFRESH_SAMPLE_MS;
      while (last < until || deltas.length < REFRESH_SAMPLE_FRAMES) {
        const now = await nextFrame();
        deltas.push(now - last);
        last = now;
      }
      deltas.sort((a, b) => a - b);
      // Within the limits the server takes: an interval of 0 would make every exposure endless.
      const [low, high] = config.displayLimits.refresh;
      return Math.min(Math.max(deltas[Math.floor(deltas.length / 2)], low), high);
    })();
    return refresh;
  }

  // Waits from the frame at ``from`` for ``frames`` refresh intervals: until the first frame at least
  // frames − ½ intervals later, which on a steady display is exactly the frame ``frames`` refreshes later, and
  // after a stall the nearest one that comes. Resolves with that frame's timestamp and whether a frame came late.
  async function holdFrames(from, frames, refreshMs) {
    const until = from + (frames - 0.5) * refreshMs;
    let now = from;
    let dropped = false;
    while (now < until) {
      const next = await nextFrame();
      dropped ||= next - now > DROPPED_FRAME * refreshMs;
      now = next;
    }
    return { now, dropped };
  }

  // Puts the stimulus on screen in an animation frame and resolves with the timing of its presentation
  // ({ onset } for an untimed one). Timed: a 3-2-1 countdown, the stimulus for exposureMs rounded to the nearest
  // whole number of frames (at least one), then the noise masks, maskMs each (also in whole frames); it goes
  // off, and the first mask on, in one frame. The answer buttons open once the last mask is gone.
  async function present(element, exposureMs) {
    clearFrame();
    if (!exposureMs) {
      const onset = await nextFrame();
      $("frame").append(element);
      return { onset };
    }
    const refreshMs = await refreshInterval();
    const countdown = $("countdown");
    countdown.hidden = false;
    for (const n of ["3", "2", "1"]) {
      countdown.textContent = n;
      await sleep(config.countdownMs);
    }
    const framesRequested = Math.max(1, Math.round(exposureMs / refreshMs));
    const onset = await nextFrame();
    countdown.hidden = true;
    $("frame").append(element);
    const shown = await holdFrames(onset, framesRequested, refreshMs);
    element.remove();
    const mask = $("mask");
    mask.hidden = false;
    const maskFrames = Math.max(1, Math.round(config.maskMs / refreshMs));
    let now = shown.now;
    for (let i = 0; i < config.masks; i++) {
      drawNoise();
      ({ now } = await holdFrames(now, maskFrames, refreshMs));
    }
    mask.hidden = true;
    return {
      onset,
      refreshMs,
      framesRequested,
      framesShown: Math.round((shown.now - onset) / refreshMs),
      stimulusOnset: onset,
      stimulusOffset: shown.now,
      maskOnset: shown.now,
      maskOffset: now,
      dropped: shown.dropped,
    };
  }

  async function practice() {
    show("trial");
    mark("practice");
    const banner = $("banner");
    banner.hidden = false;
    const steps = [
      ["Practice: press F (or tap Real) to answer “real”.", true],
      ["Now press J (or tap Generated) to answer “generated”.", false],
    ];
    for (const [text, want] of steps) {
      banner.textContent = text;
      await present(placeholder(), null);
      while ((await waitAnswer()).real !== want) banner.textContent = `Not that one. ${text}`;
    }
    if (config.timed) {
      banner.textContent = "Now with the timing of the study: watch, then answer with F or J.";
      await present(placeholder(), 500);
      await waitAnswer();
    }
    banner.hidden = true;
    clearFrame();
    await pause("Practice done", "The study starts now. Answer as well as you can; take your time unless the image is timed.");
  }

  async function pause(title, text) {
    $("pause-title").textContent = title;
    $("pause-text").textContent = text;
    show("pause");
    mark("pause");
    await waitContinue();
  }

  // Shown for the study's feedbackMs, or until Space or a tap (0: only then), in a place kept for it.
  async function feedback(result) {
    const line = $("feedback");
    $("feedback-text").textContent = result.correct
      ? `Correct: this image was ${result.truth}.`
      : `Wrong: this image was ${result.truth}.`;
    line.className = `feedback shown ${result.correct ? "right" : "wrong"}`;
    mark("feedback");
    const waits = [waitContinue()];
    if (config.feedbackMs > 0) waits.push(sleep(config.feedbackMs));
    await Promise.race(waits);
    onContinue = null;
    line.className = "feedback";
  }

  async function trial(state) {
    show("trial");
    mark("loading");
    setProgress(state);
    const img = await loadImage(state.item);
    mark("showing");
    const timing = await present(img, state.item.exposure_ms);
    mark("ready");
    const { real, at, input } = await waitAnswer();
    const responseMs = Math.max(0, Math.round(at - timing.onset));
    mark("saving");
    let result;
    try {
      result = await api(config.answerUrl, {
        item: state.item.token,
        answer: real ? "real" : "generated",
        response_ms: responseMs,
        input_kind: input,
        ...display(state.item.exposure_ms ? timing : null),
      });
    } catch (error) {
      // The server stores one answer per image and refuses the next (409): a retry refused so found the try
      // that an outage interrupted stored, or the image taken back meanwhile. Either way the state goes on.
      if (!(error instanceof Refusal && error.status === 409 && error.retried)) throw error;
      const now = await api(config.stateUrl);
      if (now.item && now.item.token === state.item.token) throw error;
      clearFrame();
      return now;
    }
    // Feedback is shown beside the image when the protocol left it on screen: what the annotator learns from.
    if (result.feedback) await feedback(result.feedback);
    clearFrame();
    return result.state;
  }

  // The end, with the full progress and the completion code. ``returning``: the assignment had ended before this
  // visit, so the page shows the same end again without sending the worker off a second time.
  async function finish(state, returning) {
    setProgress(state);
    show("finish");
    mark("finish");
    const done = await api(config.finishUrl, {});
    const text = done.disqualified
      ? "Your answers in the qualification did not reach the level this study needs, so it ends here. You are paid as the platform's rules say."
      : "All your answers are saved.";
    $("finish-code").textContent = done.code;
    $("finish-code-box").hidden = false;
    if (done.preview) {
      $("finish-text").textContent = "The preview is over: nothing you answered was stored. Annotators see this code:";
    } else if (done.kind === "mturk") {
      const form = $("submit-form");
      form.action = done.url;
      for (const [name, value] of Object.entries(done.fields)) {
        const input = document.createElement("input");
        input.type = "hidden";
        input.name = name;
        input.value = value;
        form.append(input);
      }
      if (returning) {
        $("finish-text").textContent = `${text} If Mechanical Turk has not taken your work yet, submit it again:`;
        form.hidden = false;
      } else {
        $("finish-text").textContent = `${text} Submitting your work to Mechanical Turk…`;
        form.submit();
      }
    } else if (done.kind === "prolific") {
      const link = $("finish-link");
      link.href = done.url;
      link.textContent = "Back to Prolific";
      link.hidden = false;
      $("finish-text").textContent = returning
        ? `${text} Your completion code, should Prolific ask for it:`
        : `${text} Returning you to Prolific… Your completion code, should Prolific ask for it:`;
      if (!returning) window.location.assign(done.url);
    } else {
      $("finish-text").textContent = `${text} Your completion code:`;
    }
  }

  async function copyCode() {
    const code = $("finish-code");
    let copied = false;
    try {
      await navigator.clipboard.writeText(code.textContent);
      copied = true;
    } catch {
      // No clipboard API (a page not served over HTTPS, a frame not allowed it): copy the selected text instead.
      const range = document.createRange();
      range.selectNodeContents(code);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      try {
        copied = document.execCommand("copy");
      } catch {
        copied = false;
      }
    }
    $("copy-status").textContent = copied ? "Copied." : "Select the code above and copy it.";
  }

  function withdrawn(kind) {
    onAnswer = onContinue = null;
    suspended = null;
    $("withdrawn-text").textContent = config.preview
      ? "This was a preview: nothing was stored."
      : WITHDRAW_TEXT[kind] || WITHDRAW_TEXT.code;
    show("withdrawn");
    mark("withdrawn");
    ended = true;
  }

  function askWithdraw() {
    if (suspended) return;
    const back = { screen: screens.find((name) => !$(name).hidden), state: document.body.dataset.state };
    $("withdraw-platform").textContent = config.preview
      ? "This is a preview: nothing is stored either way."
      : WITHDRAW_TEXT[config.platform] || WITHDRAW_TEXT.code;
    show("withdraw-confirm");
    mark("withdraw-confirm");
    suspended = back;
    $("withdraw-no").focus();
  }

  function goBack() {
    const { screen, state } = suspended;
    suspended = null;
    show(screen);
    mark(state);
  }

  async function withdraw() {
    try {
      const done = await api(config.withdrawUrl, {});
      withdrawn(done.kind);
    } catch (error) {
      suspended = null;
      fail(error);
    }
  }

  async function run() {
    let state = await api(config.stateUrl);
    if (state.stage === "withdrawn") {
      withdrawn(config.platform);
      return;
    }
    const returning = state.stage === "submitted" || state.stage === "disqualified";
    if (config.timed && state.item) refreshInterval(); // measured while the instructions are read
    if (state.answered === 0 && state.item) {
      show("intro");
      mark("intro");
      await waitContinue();
      await practice();
    }
    while (state.item && !ended) {
      if (lastPhase === "qualification" && state.phase === "test") {
        await pause("Qualification passed", "Well done. The study itself starts now.");
      } else if (lastBlock !== null && state.phase === lastPhase && state.item.block !== lastBlock) {
        await pause(`Block ${lastBlock + 1} of ${state.blocks} done`, "Take a short break, then continue.");
      }
      lastPhase = state.phase;
      lastBlock = state.item.block;
      state = await trial(state);
    }
    if (!ended) await finish(state, returning);
  }

  document.addEventListener("keydown", (event) => {
    // While the withdrawal is confirmed, keys do what they do on its buttons, nothing else.
    if (suspended || event.repeat || event.ctrlKey || event.metaKey || event.altKey) return;
    if (onAnswer && ANSWER_KEYS.has(event.code)) {
      event.preventDefault();
      onAnswer(ANSWER_KEYS.get(event.code), event.timeStamp, "key");
    } else if (onContinue && CONTINUE_KEYS.has(event.code)) {
      event.preventDefault();
      onContinue();
    }
  });
  document.addEventListener("pointerdown", (event) => (lastPointer = event.pointerType), true);
  $("answer-real").addEventListener("click", (event) => onAnswer && onAnswer(true, event.timeStamp, inputOf(event)));
  $("answer-generated").addEventListener(
    "click",
    (event) => onAnswer && onAnswer(false, event.timeStamp, inputOf(event)),
  );
  for (const element of document.querySelectorAll("[data-continue]")) {
    element.addEventListener("click", () => onContinue && onContinue());
  }
  $("withdraw").addEventListener("click", askWithdraw);
  $("withdraw-no").addEventListener("click", goBack);
  $("withdraw-yes").addEventListener("click", withdraw);
  $("copy-code").addEventListener("click", copyCode);
  for (const button of document.querySelectorAll("[data-reload]")) {
    button.addEventListener("click", () => window.location.reload());
  }

  run().catch(fail);
})();
